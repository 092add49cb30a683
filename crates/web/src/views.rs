//! The page templates, compiled into the binary and loaded once.
//!
//! Every template extends `layout.html`; HTML escaping is on for all of them
//! (`.html`). `t("key")` gives the word in the page's language (the context's
//! `lang`, `fr` or `en`).

use minijinja::{Environment, State, Value};

use crate::i18n;
use relance_domain::Language;

/// The templates by name, in the binary.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("login.html", include_str!("templates/login.html")),
    ("today.html", include_str!("templates/today.html")),
    ("cash.html", include_str!("templates/cash.html")),
    ("replies.html", include_str!("templates/replies.html")),
    ("reply.html", include_str!("templates/reply.html")),
    ("customer.html", include_str!("templates/customer.html")),
    ("reports.html", include_str!("templates/reports.html")),
    ("operations.html", include_str!("templates/operations.html")),
    ("approvals.html", include_str!("templates/approvals.html")),
    ("approval.html", include_str!("templates/approval.html")),
];

pub(crate) struct Views {
    env: Environment<'static>,
}

fn language_of(state: &State) -> Language {
    match state.lookup("lang").as_ref().and_then(Value::as_str) {
        Some("en") => Language::En,
        _ => Language::Fr,
    }
}

impl Views {
    pub fn new() -> Views {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // A template that does not compile is caught by the tests
            // (`every_template_compiles`); here it is left out and its page
            // answers an internal error naming it.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "page template does not compile");
            }
        }
        env.add_function("t", |state: &State, key: &str| -> String { i18n::text(language_of(state), key).to_string() });
        Views { env }
    }

    /// Renders `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_uses_known_words() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let key = regex_lite_keys();
        for (name, source) in TEMPLATES {
            for k in key(source) {
                // `t("nav." ~ key)` builds the key: some key must have that prefix.
                let ok = if k.ends_with('.') || k.ends_with('_') { i18n::known_prefix(&k) } else { i18n::known(&k) };
                assert!(ok, "{name} uses the unknown word key `{k}`");
            }
        }
    }

    /// The keys of `t("…")` calls in a template.
    fn regex_lite_keys() -> impl Fn(&str) -> Vec<String> {
        |src: &str| {
            let mut out = Vec::new();
            let mut rest = src;
            while let Some(i) = rest.find("t(\"") {
                let after = &rest[i + 3..];
                if let Some(j) = after.find('"') {
                    out.push(after[..j].to_string());
                    rest = &after[j..];
                } else {
                    break;
                }
            }
            out
        }
    }
}
