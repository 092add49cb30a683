//! `[events]` of a tenant file: the subscribers of the tenant's domain
//! events (docs/events.md). Each `[[events.webhooks]]` entry receives every
//! event (or the listed types) as a signed POST, in id order.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, parse_duration, resolve_secret};
use relance_store::EventType;

/// `[events]`: who receives this tenant's domain events.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsFile {
    /// `[[events.webhooks]]`: signed webhook subscribers, each with `name` (its cursor), `url`, `secret`
    /// (literal, `env:VAR` or `file:/path`), optional `types` (dotted names; all when absent), `timeout`
    /// (`"10s"`) and `max_backoff` (`"10m"`); see docs/events.md.
    #[serde(default)]
    webhooks: Vec<EventWebhookFile>,
}

/// `[[events.webhooks]]`: a receiver of the tenant's domain events, as signed
/// JSON POSTs (HMAC-SHA256 over `"<timestamp>.<body>"`, headers
/// `X-Relance-Timestamp`, `X-Relance-Signature`, `X-Relance-Event-Id`),
/// in event id order, retried with backoff until a 2xx answer.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct EventWebhookFile {
    /// Name of the subscriber, unique in the tenant (lower-case snake_case):
    /// its delivery cursor is kept under this name.
    name: String,
    /// Where the events are POSTed (http or https).
    url: String,
    /// Shared HMAC key: literal, `env:VAR` or `file:/path`.
    secret: String,
    /// Only these event types (dotted names, e.g. `payment.applied`); all when absent.
    #[serde(default)]
    types: Option<Vec<String>>,
    /// Longest wait for the receiver's answer.
    #[serde(default = "default_timeout")]
    timeout: String,
    /// Longest wait between two attempts at a failing event (the backoff doubles up to it).
    #[serde(default = "default_max_backoff")]
    max_backoff: String,
}

fn default_timeout() -> String {
    "10s".into()
}
fn default_max_backoff() -> String {
    "10m".into()
}

/// The tenant's event subscribers, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventSettings {
    pub webhooks: Vec<EventWebhook>,
}

/// One webhook subscriber.
#[derive(Clone, PartialEq, Eq)]
pub struct EventWebhook {
    pub name: String,
    pub url: String,
    /// The resolved HMAC key.
    pub secret: String,
    /// `None`: every type.
    pub types: Option<Vec<EventType>>,
    pub timeout: Duration,
    pub max_backoff: Duration,
}

impl std::fmt::Debug for EventWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWebhook")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &"…")
            .field("types", &self.types)
            .field("timeout", &self.timeout)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

impl EventWebhook {
    /// Whether the subscriber wants events of type `t`.
    pub fn wants(&self, t: EventType) -> bool {
        self.types.as_ref().is_none_or(|ts| ts.contains(&t))
    }
}

pub(crate) fn event_settings(
    file: &Path,
    base_dir: &Path,
    raw: EventsFile,
    errors: &mut Vec<ConfigError>,
) -> EventSettings {
    let mut webhooks: Vec<EventWebhook> = Vec::new();
    for (i, w) in raw.webhooks.into_iter().enumerate() {
        let at = |k: &str| format!("events.webhooks[{i}].{k}");
        let before = errors.len();
        let name_ok = !w.name.is_empty()
            && w.name.len() <= 64
            && w.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            errors.push(ConfigError::new(file, Some(&at("name")), "expected lower-case snake_case (a-z, 0-9, _)"));
        } else if webhooks.iter().any(|o| o.name == w.name) {
            errors.push(ConfigError::new(
                file,
                Some(&at("name")),
                format!("subscriber `{}` is declared twice", w.name),
            ));
        }
        if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
            errors.push(ConfigError::new(file, Some(&at("url")), "expected an http:// or https:// URL"));
        }
        let secret = match resolve_secret(&w.secret, base_dir) {
            Ok(s) if !s.is_empty() => s,
            Ok(_) => {
                errors.push(ConfigError::new(file, Some(&at("secret")), "the secret is empty"));
                String::new()
            }
            Err(e) => {
                errors.push(ConfigError::new(file, Some(&at("secret")), e));
                String::new()
            }
        };
        let types = w.types.map(|names| {
            names
                .iter()
                .filter_map(|n| {
                    let t = EventType::parse(n);
                    if t.is_none() {
                        let known: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
                        errors.push(ConfigError::new(
                            file,
                            Some(&at("types")),
                            format!("`{n}` is not an event type (known: {})", known.join(", ")),
                        ));
                    }
                    t
                })
                .collect::<Vec<_>>()
        });
        let mut duration = |key: &str, text: &str| match parse_duration(text) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                errors.push(ConfigError::new(file, Some(&at(key)), "must be more than zero"));
                Duration::from_secs(1)
            }
            Err(e) => {
                errors.push(ConfigError::new(file, Some(&at(key)), e));
                Duration::from_secs(1)
            }
        };
        let timeout = duration("timeout", &w.timeout);
        let max_backoff = duration("max_backoff", &w.max_backoff);
        if errors.len() == before {
            webhooks.push(EventWebhook { name: w.name, url: w.url, secret, types, timeout, max_backoff });
        }
    }
    EventSettings { webhooks }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(hooks: serde_json::Value) -> (EventSettings, Vec<String>) {
        let raw: EventsFile = serde_json::from_value(json!({ "webhooks": hooks })).unwrap();
        let mut errors = Vec::new();
        let s = event_settings(Path::new("t.toml"), Path::new("."), raw, &mut errors);
        (s, errors.into_iter().map(|e| format!("{}: {}", e.key.unwrap_or_default(), e.message)).collect())
    }

    #[test]
    fn webhooks_are_validated_with_their_keys() {
        let (s, errors) = settings(json!([{
            "name": "crm", "url": "https://crm.example/hook", "secret": "s3cret",
            "types": ["payment.applied", "promise.broken"], "max_backoff": "30s",
        }]));
        assert!(errors.is_empty(), "{errors:?}");
        let w = &s.webhooks[0];
        assert_eq!((w.timeout, w.max_backoff), (Duration::from_secs(10), Duration::from_secs(30)));
        assert!(w.wants(EventType::PaymentApplied) && !w.wants(EventType::InvoiceImported));
        assert!(!format!("{w:?}").contains("s3cret"), "the secret stays out of logs");

        let (s, errors) = settings(json!([
            { "name": "CRM", "url": "ftp://x", "secret": "", "types": ["payment_applied"], "timeout": "0s" },
            { "name": "a", "url": "http://a", "secret": "k" },
            { "name": "a", "url": "http://a", "secret": "k" },
        ]));
        assert_eq!(s.webhooks.len(), 1, "only the valid, first `a` is kept");
        let keys: Vec<&str> = errors.iter().map(|e| e.split(':').next().unwrap_or_default()).collect();
        assert_eq!(
            keys,
            [
                "events.webhooks[0].name",
                "events.webhooks[0].url",
                "events.webhooks[0].secret",
                "events.webhooks[0].types",
                "events.webhooks[0].timeout",
                "events.webhooks[2].name"
            ],
            "{errors:?}"
        );
    }
}
