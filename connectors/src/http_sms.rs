//! SMS through a generic HTTP provider (`kind = "http_sms"`).
//!
//! The request is described in configuration: the URL, the method, the
//! fields (sent as a form or as JSON) whose values may use `{to}`, `{text}`,
//! `{from}`, `{id}` and `{segments}`, headers, and basic auth. A Twilio-style
//! provider is:
//!
//! ```toml
//! [connectors.sms]
//! kind = "http_sms"
//! url = "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
//! username = "AC123"
//! password = "env:TWILIO_TOKEN"
//! format = "form"
//! from = "+33612345678"
//! fields = { To = "{to}", From = "{from}", Body = "{text}" }
//! id_field = "sid"
//! ```
//!
//! Length-aware: the text is measured in GSM 03.38 septets (160 per single
//! message, 153 per part) or, when it needs other characters, in UCS-2 units
//! (70 / 67); a text longer than `max_segments` parts is cut at a word and
//! ends with an ellipsis. With `transliterate = true`, letters GSM lacks
//! (`ê`, `ç`, `â`…) are replaced by their base letter first, which keeps most
//! French texts in the cheaper alphabet.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use relance_config::{
    ConfigError, ConnectorConfig, Schedule, TenantConfig, connector_settings, parse_duration, resolve_secret,
};
use relance_connector::{
    AnyConnector, ConnectorError, ConnectorFactory, OutboundChannel, OutboundMessage, SendReceipt,
};
use relance_domain::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Format {
    #[default]
    Form,
    Json,
}

/// `http_sms`: reminders by SMS through a provider's HTTP API (Twilio-style form POST or JSON).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Endpoint of the SMS provider's API.
    url: String,
    /// HTTP method of the request.
    #[serde(default = "default_method")]
    method: String,
    /// Body of the request: `form` (URL-encoded) or `json`.
    #[serde(default)]
    format: Format,
    /// Request fields; values may use `{to}`, `{text}`, `{from}`, `{id}`, `{segments}`.
    fields: BTreeMap<String, String>,
    /// Sender id or number, for `{from}`.
    #[serde(default)]
    from: Option<String>,
    /// Extra request headers (values may be secret references).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Basic authentication user (e.g. the account id).
    #[serde(default)]
    username: Option<String>,
    /// Literal, `env:VAR` or `file:/path`.
    #[serde(default)]
    password: Option<String>,
    /// Field of the JSON answer holding the provider's message id.
    #[serde(default)]
    id_field: Option<String>,
    /// Longest SMS, in segments (160 GSM characters, or 70 with other characters); longer texts are cut.
    #[serde(default = "default_max_segments")]
    max_segments: usize,
    /// Replace accented letters by plain ones so that a message fits GSM segments.
    #[serde(default)]
    transliterate: bool,
    /// Longest wait for the provider's answer.
    #[serde(default = "default_timeout")]
    timeout: String,
}

fn default_method() -> String {
    "POST".into()
}
fn default_max_segments() -> usize {
    3
}
fn default_timeout() -> String {
    "10s".into()
}

/// Factory for `kind = "http_sms"`.
pub struct HttpSmsFactory;

impl ConnectorFactory for HttpSmsFactory {
    fn kind(&self) -> &'static str {
        "http_sms"
    }

    fn settings_schema(&self) -> Option<serde_json::Value> {
        Some(relance_config::reference::schema_of::<Settings>())
    }

    fn default_schedule(&self) -> Schedule {
        Schedule::Interval(Duration::from_secs(60))
    }

    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
        let s: Settings = connector_settings(tenant, connector)?;
        let err =
            |k: &str, m: String| ConfigError::new(&tenant.file, Some(&format!("connectors.{}.{k}", connector.name)), m);
        reqwest::Url::parse(&s.url.replace(['{', '}'], "")).map_err(|e| err("url", format!("`{}`: {e}", s.url)))?;
        let method = reqwest::Method::from_bytes(s.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| err("method", format!("`{}` is not an HTTP method", s.method)))?;
        if !s.fields.values().any(|v| v.contains("{text}")) {
            return Err(err("fields", "no field carries the message: use `{text}` in one".into()));
        }
        if s.max_segments == 0 {
            return Err(err("max_segments", "at least 1".into()));
        }
        let headers =
            crate::http::headers(&s.headers, &tenant.base_dir).map_err(|(k, e)| err(&format!("headers.{k}"), e))?;
        let auth = match (&s.username, &s.password) {
            (Some(u), Some(p)) => {
                Some((u.clone(), resolve_secret(p, &tenant.base_dir).map_err(|e| err("password", e))?))
            }
            (None, None) => None,
            _ => return Err(err("username", "give both username and password, or neither".into())),
        };
        let timeout = parse_duration(&s.timeout).map_err(|e| err("timeout", e))?;
        let client = crate::http::client(timeout).map_err(|e| err("url", e))?;
        Ok(AnyConnector::OutboundChannel(Arc::new(HttpSms { s, method, headers, auth, client })))
    }
}

pub struct HttpSms {
    s: Settings,
    method: reqwest::Method,
    headers: Vec<(String, String)>,
    auth: Option<(String, String)>,
    client: reqwest::Client,
}

#[async_trait]
impl OutboundChannel for HttpSms {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    async fn send(&self, m: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        let text = if self.s.transliterate { transliterate(&m.body_text) } else { m.body_text.clone() };
        let text = fit(text.trim(), self.s.max_segments);
        let segments = measure(&text).segments;
        let mut ids = Vec::new();
        for to in &m.recipients {
            let fill = |v: &str| {
                v.replace("{to}", to)
                    .replace("{from}", self.s.from.as_deref().unwrap_or_default())
                    .replace("{id}", &m.token)
                    .replace("{segments}", &segments.to_string())
                    .replace("{text}", &text)
            };
            let fields: BTreeMap<&str, String> = self.s.fields.iter().map(|(k, v)| (k.as_str(), fill(v))).collect();
            let mut req = self.client.request(self.method.clone(), self.s.url.replace("{to}", to));
            req = match self.s.format {
                Format::Form => req.form(&fields),
                Format::Json => req.json(&fields),
            };
            for (k, v) in &self.headers {
                req = req.header(k, v);
            }
            if let Some((u, p)) = &self.auth {
                req = req.basic_auth(u, Some(p));
            }
            let body = crate::http::send(&format!("SMS provider {}", self.s.url), req).await?;
            let id = self.s.id_field.as_ref().and_then(|f| {
                serde_json::from_str::<serde_json::Value>(&body).ok()?.get(f)?.as_str().map(String::from)
            });
            ids.push(id.unwrap_or_else(|| format!("sms:{}:{to}", m.token)));
        }
        Ok(SendReceipt { reference: format!("{} ({segments} part(s))", ids.join(" ")) })
    }
}

/// The GSM 03.38 basic alphabet (one septet each).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The GSM extension table (two septets each: escape + char).
const GSM_EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// How a text travels as SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsLength {
    /// True for the GSM 7-bit alphabet, false for UCS-2.
    pub gsm: bool,
    /// Septets (GSM) or UTF-16 units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

/// Measures `text` as an SMS.
pub fn measure(text: &str) -> SmsLength {
    let septets: Option<usize> = text
        .chars()
        .map(|c| {
            if GSM_BASIC.contains(c) {
                Some(1)
            } else if GSM_EXTENDED.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (gsm, units, single, part) = match septets {
        Some(n) => (true, n, 160, 153),
        None => (false, text.encode_utf16().count(), 70, 67),
    };
    let segments = if units <= single { 1 } else { units.div_ceil(part) };
    SmsLength { gsm, units, segments }
}

/// Cuts `text` to at most `max_segments` parts, at a word, with an ellipsis.
pub fn fit(text: &str, max_segments: usize) -> String {
    if measure(text).segments <= max_segments {
        return text.to_string();
    }
    let mut words: Vec<&str> = text.split(' ').collect();
    while words.len() > 1 {
        words.pop();
        let candidate = format!("{}…", words.join(" ").trim_end_matches([',', ';', ':', '.']));
        // "…" is not GSM: measure the candidate as it will travel
        let ascii = format!("{}...", words.join(" ").trim_end_matches([',', ';', ':', '.']));
        let gsm_text = measure(text).gsm || measure(&ascii).gsm;
        let pick = if gsm_text { ascii } else { candidate };
        if measure(&pick).segments <= max_segments {
            return pick;
        }
    }
    text.chars().take(60).collect()
}

/// Replaces letters outside the GSM alphabet by their base letter.
pub fn transliterate(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'â' | 'á' | 'ã' => 'a',
            'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' => 'i',
            'ô' | 'ó' | 'õ' => 'o',
            'û' | 'ú' => 'u',
            'ç' => 'c',
            'À' | 'Â' => 'A',
            'È' | 'Ê' | 'Ë' => 'E',
            'Î' | 'Ï' => 'I',
            'Ô' => 'O',
            'Û' | 'Ù' => 'U',
            '’' | '‘' => '\'',
            '“' | '”' | '«' | '»' => '"',
            '–' | '—' => '-',
            '\u{a0}' | '\u{202f}' => ' ',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm_and_ucs2_lengths() {
        assert_eq!(measure(&"a".repeat(160)), SmsLength { gsm: true, units: 160, segments: 1 });
        assert_eq!(measure(&"a".repeat(161)).segments, 2);
        assert_eq!(measure(&"a".repeat(306)).segments, 2);
        assert_eq!(measure(&"a".repeat(307)).segments, 3);
        assert_eq!(measure("prix 10€").units, 9, "€ takes two septets");
        let fr = "Votre facture est échue, merci de régler à réception";
        assert!(measure(fr).gsm, "é and à are GSM");
        let m =
            measure("Rappel : échéance dépassée, réglez-la dès que possible — merci, l'équipe comptabilité clients");
        assert!(!m.gsm, "ê/— need UCS-2");
        assert_eq!(m.segments, 2);
        assert!(measure(&transliterate("dès que possible — merci")).gsm);
    }

    #[test]
    fn long_texts_are_cut_at_a_word() {
        let text = "Bonjour, votre facture FAC-2026-0042 reste impayée. ".repeat(12);
        let cut = fit(&text, 2);
        assert!(measure(&cut).segments <= 2, "{}", measure(&cut).segments);
        assert!(cut.ends_with("..."), "{cut}");
        assert!(text.starts_with(cut.trim_end_matches("...")));
        assert_eq!(fit("court", 1), "court");
    }
}
