//! Reminder scenarios and templates, compiled when the configuration loads.
//!
//! A tenant's scenarios are read from `<scenarios_dir>/<name>.toml` into the
//! engine's [`Scenario`] and checked ([`Scenario::check`]: step order, unique
//! ids, a template for every step in every language its customers may
//! have). Template overrides are read from `<templates_dir>/<lang>/<name>.jinja`
//! (global, then the tenant's own) and compiled and tried on sample facts
//! ([`check_source`]). Every problem is a [`ConfigError`] naming the scenario
//! or template file and the key or line. Nothing here is read again after
//! load: the runtime and the CLI use the compiled [`CompiledScenario`]s and
//! [`Templates`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use relance_domain::Language;
use relance_engine::dunning::Scenario;
use relance_engine::dunning::templates::{LANGUAGES, Templates, check_source};

use crate::ConfigError;

/// A scenario read and checked at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledScenario {
    /// The name tenants use (`b2b_standard`): the file name without `.toml`.
    pub name: String,
    /// The file it was read from.
    pub file: PathBuf,
    pub scenario: Scenario,
}

/// Reads `<dir>/<name>.toml`, naming the file and key of any error.
pub fn load_scenario(dir: &Path, name: &str) -> Result<Scenario, ConfigError> {
    let file = dir.join(format!("{name}.toml"));
    let built = config::Config::builder()
        .add_source(config::File::from(file.as_path()).format(config::FileFormat::Toml))
        .build()
        .map_err(|e| ConfigError::new(&file, None, e.to_string()))?;
    serde_path_to_error::deserialize(built).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::new(&file, (key != ".").then_some(key.as_str()), e.inner().to_string())
    })
}

/// Reads and checks the scenarios a tenant names (`scenarios[i]` of its
/// file) against its templates. A scenario with problems is left out; the
/// problems are returned.
pub(crate) fn compile_scenarios(
    tenant_file: &Path,
    dir: &Path,
    names: &[String],
    templates: &Templates,
) -> (Vec<CompiledScenario>, Vec<ConfigError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let file = dir.join(format!("{name}.toml"));
        if !file.is_file() {
            errors.push(ConfigError::new(
                tenant_file,
                Some(&format!("scenarios[{i}]")),
                format!("no scenario file {}/{name}.toml", dir.display()),
            ));
            continue;
        }
        if out.iter().any(|s: &CompiledScenario| &s.name == name) {
            errors.push(ConfigError::new(
                tenant_file,
                Some(&format!("scenarios[{i}]")),
                format!("scenario `{name}` is listed twice"),
            ));
            continue;
        }
        let scenario = match load_scenario(dir, name) {
            Ok(s) => s,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let problems = scenario.check(templates, &LANGUAGES);
        if problems.is_empty() {
            out.push(CompiledScenario { name: name.clone(), file, scenario });
        } else {
            errors.extend(problems.into_iter().map(|p| ConfigError::new(&file, Some(&p.key), p.message)));
        }
    }
    (out, errors)
}

/// Template overrides read from one `templates_dir`: (language, name) →
/// (file, source), each compiled and tried.
#[derive(Debug, Clone, Default)]
pub(crate) struct TemplateDir {
    pub templates: BTreeMap<(&'static str, String), (PathBuf, String)>,
}

impl TemplateDir {
    /// Reads `<dir>/<lang>/<name>.jinja`. `owner` and `key` name the setting
    /// that points here, for a folder that cannot be read. Files other than
    /// `*.jinja` are ignored; a folder that is not a language is an error.
    pub(crate) fn read(dir: &Path, owner: &Path, key: &str, errors: &mut Vec<ConfigError>) -> TemplateDir {
        let mut out = TemplateDir::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(ConfigError::new(owner, Some(key), format!("cannot read {}: {e}", dir.display())));
                return out;
            }
        };
        let mut langs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
        langs.sort();
        for lang_dir in langs {
            let code = lang_dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let Some(lang) = LANGUAGES.into_iter().find(|l| l.as_str() == code) else {
                let known: Vec<&str> = LANGUAGES.iter().map(|l| l.as_str()).collect();
                errors.push(ConfigError::new(
                    &lang_dir,
                    None,
                    format!("not a template language folder (expected one of: {})", known.join(", ")),
                ));
                continue;
            };
            let mut files: Vec<PathBuf> = match std::fs::read_dir(&lang_dir) {
                Ok(e) => e
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "jinja") && p.is_file())
                    .collect(),
                Err(e) => {
                    errors.push(ConfigError::new(&lang_dir, None, format!("cannot read: {e}")));
                    continue;
                }
            };
            files.sort();
            for file in files {
                if let Some(source) = read_template(&file, lang, errors) {
                    let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
                    out.templates.insert((lang.as_str(), name), (file, source));
                }
            }
        }
        out
    }

    /// Adds these overrides to `templates`.
    pub(crate) fn apply(&self, templates: &mut Templates) {
        for ((lang, name), (_, source)) in &self.templates {
            if let Some(l) = LANGUAGES.into_iter().find(|l| l.as_str() == *lang) {
                templates.set(l, name, source.as_str());
            }
        }
    }
}

/// Reads and checks one template file; `None` (with the error) when broken.
fn read_template(file: &Path, lang: Language, errors: &mut Vec<ConfigError>) -> Option<String> {
    let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if !relance_domain::is_snake_identifier(name) {
        errors.push(ConfigError::new(file, None, "template names are lower-case snake_case (a-z, 0-9, _)"));
        return None;
    }
    let source = match std::fs::read(file) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => s.replace("\r\n", "\n"),
            Err(_) => {
                errors.push(ConfigError::new(file, None, "not UTF-8 text"));
                return None;
            }
        },
        Err(e) => {
            errors.push(ConfigError::new(file, None, format!("cannot read: {e}")));
            return None;
        }
    };
    match check_source(name, lang, &source) {
        Ok(()) => Some(source),
        Err(problem) => {
            // `line N: …`: a template has lines, not keys.
            errors.push(ConfigError::new(file, None, problem.to_string()));
            None
        }
    }
}
