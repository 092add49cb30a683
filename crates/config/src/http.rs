//! `[http]` in `relance.toml`: the limits of the HTTP API server (timeouts,
//! connection cap, body size, per-token rate limit), validated into
//! [`HttpSettings`].

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, parse_duration};

/// `[http]`: limits of the HTTP API server; every key is optional.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpFile {
    /// From the first byte of a request to the end of its head (request line and headers); default `10s`.
    #[serde(default)]
    header_read_timeout: Option<String>,
    /// From the end of a request's head to the end of its body; default `30s`.
    #[serde(default)]
    body_read_timeout: Option<String>,
    /// How long a connection may stay open with no request in progress; default `60s`.
    #[serde(default)]
    idle_timeout: Option<String>,
    /// Largest accepted request body, in bytes; default 1048576 (1 MiB).
    #[serde(default)]
    max_body_bytes: Option<usize>,
    /// Connections served at once; further ones wait in the listen backlog; default 512.
    #[serde(default)]
    max_connections: Option<usize>,
    /// Sustained requests per second per API token; 0 turns rate limiting off; default 50.
    #[serde(default)]
    rate_limit_per_second: Option<u32>,
    /// Requests a token may send at once above the sustained rate; default 100, or twice
    /// `rate_limit_per_second` when that is set.
    #[serde(default)]
    rate_limit_burst: Option<u32>,
}

/// The validated `[http]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    /// `None` when rate limiting is off.
    pub rate_limit: Option<RateLimit>,
}

/// A token bucket: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_body_bytes: 1024 * 1024,
            max_connections: 512,
            rate_limit: Some(RateLimit { per_second: 50, burst: 100 }),
        }
    }
}

impl HttpFile {
    /// Validates the section; a bad key keeps its default and adds an error.
    pub(super) fn validate(self, file: &Path, errors: &mut Vec<ConfigError>) -> HttpSettings {
        let d = HttpSettings::default();
        let mut duration = |key: &str, value: Option<String>, default: Duration| match value {
            None => default,
            Some(text) => match parse_duration(&text) {
                Ok(v) if !v.is_zero() => v,
                Ok(_) => {
                    errors.push(ConfigError::new(file, Some(&format!("http.{key}")), "must be longer than zero"));
                    default
                }
                Err(e) => {
                    errors.push(ConfigError::new(file, Some(&format!("http.{key}")), e));
                    default
                }
            },
        };
        let header_read_timeout = duration("header_read_timeout", self.header_read_timeout, d.header_read_timeout);
        let body_read_timeout = duration("body_read_timeout", self.body_read_timeout, d.body_read_timeout);
        let idle_timeout = duration("idle_timeout", self.idle_timeout, d.idle_timeout);
        let mut positive = |key: &str, value: Option<usize>, default: usize| match value {
            Some(0) => {
                errors.push(ConfigError::new(file, Some(&format!("http.{key}")), "must be at least 1"));
                default
            }
            Some(v) => v,
            None => default,
        };
        let max_body_bytes = positive("max_body_bytes", self.max_body_bytes, d.max_body_bytes);
        let max_connections = positive("max_connections", self.max_connections, d.max_connections);
        let default_rate = d.rate_limit.unwrap_or(RateLimit { per_second: 50, burst: 100 });
        let rate_limit = match self.rate_limit_per_second.unwrap_or(default_rate.per_second) {
            0 => None,
            per_second => {
                let burst = match self.rate_limit_burst {
                    Some(0) => {
                        errors.push(ConfigError::new(file, Some("http.rate_limit_burst"), "must be at least 1"));
                        default_rate.burst
                    }
                    Some(b) => b,
                    None if self.rate_limit_per_second.is_some() => per_second.saturating_mul(2),
                    None => default_rate.burst,
                };
                Some(RateLimit { per_second, burst })
            }
        };
        HttpSettings {
            header_read_timeout,
            body_read_timeout,
            idle_timeout,
            max_body_bytes,
            max_connections,
            rate_limit,
        }
    }
}
