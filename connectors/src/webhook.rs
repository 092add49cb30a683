//! Signed JSON webhooks (`kind = "webhook"`): hand-off to a collection agency
//! or a lawyer, call tasks pushed to a CRM, any step whose channel is
//! `webhook`.
//!
//! Each event is one POST of a JSON document. The receiver authenticates it
//! with an HMAC-SHA256 over `"<timestamp>.<body>"` keyed with the shared
//! secret, sent as
//! - `X-Relance-Timestamp: <unix seconds>` (refuse old ones to stop replays),
//! - `X-Relance-Signature: sha256=<hex>`,
//! - `X-Relance-Event-Id: <token>`: the same on every retry of one event, so
//!   receivers can drop repeats.
//!
//! Non-2xx answers are retried by the outbox with backoff (4xx other than
//! 408/425/429 are permanent and quarantine the event).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use relance_config::{
    ConfigError, ConnectorConfig, Schedule, TenantConfig, connector_settings, parse_duration, resolve_secret,
};
use relance_connector::{
    AnyConnector, ConnectorError, ConnectorFactory, OutboundChannel, OutboundMessage, SendReceipt,
};
use relance_domain::Channel;

/// `webhook`: reminder steps as signed JSON events (HMAC-SHA256), e.g. the hand-off to a collection
/// agency or call tasks for a CRM.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Where the signed JSON events are POSTed.
    url: String,
    /// Shared HMAC key: literal, `env:VAR` or `file:/path`.
    secret: String,
    /// Channels delivered through this webhook (`webhook`, `call_task`, …).
    #[serde(default = "default_channels")]
    #[schemars(with = "Vec<String>")]
    channels: Vec<Channel>,
    /// Extra headers (values may be secret references).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Longest wait for the receiver's answer.
    #[serde(default = "default_timeout")]
    timeout: String,
}

fn default_channels() -> Vec<Channel> {
    vec![Channel::Webhook]
}
fn default_timeout() -> String {
    "10s".into()
}

/// Factory for `kind = "webhook"`.
pub struct WebhookFactory;

impl ConnectorFactory for WebhookFactory {
    fn kind(&self) -> &'static str {
        "webhook"
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
        let url = reqwest::Url::parse(&s.url).map_err(|e| err("url", format!("`{}`: {e}", s.url)))?;
        let secret = resolve_secret(&s.secret, &tenant.base_dir).map_err(|e| err("secret", e))?;
        if secret.len() < 16 {
            return Err(err("secret", "use a secret of at least 16 characters".into()));
        }
        let headers =
            crate::http::headers(&s.headers, &tenant.base_dir).map_err(|(k, e)| err(&format!("headers.{k}"), e))?;
        let timeout = parse_duration(&s.timeout).map_err(|e| err("timeout", e))?;
        let client = crate::http::client(timeout).map_err(|e| err("url", e))?;
        Ok(AnyConnector::OutboundChannel(Arc::new(Webhook { url, secret, channels: s.channels, headers, client })))
    }
}

pub struct Webhook {
    url: reqwest::Url,
    secret: String,
    channels: Vec<Channel>,
    headers: Vec<(String, String)>,
    client: reqwest::Client,
}

pub use relance_connector::signing::signature;

/// The JSON document of an event.
pub fn event(m: &OutboundMessage) -> serde_json::Value {
    let kind = match m.channel {
        Channel::CallTask => "call_task",
        _ => "reminder",
    };
    let mut event = json!({
        "id": m.token,
        "type": format!("dunning.{kind}"),
        "tenant": m.tenant,
        "step": m.step,
        "channel": m.channel,
        "planned_for": m.planned_for,
        "created_at": m.date.to_rfc3339(),
        "customer": { "id": m.customer_id, "name": m.customer_name, "address": m.postal_address },
        "invoices": m.invoices,
        "language": m.language.as_str(),
        "subject": m.subject,
        "text": m.body_text,
    });
    // Files sent with the message (a hand-off's dossier), in base64.
    if !m.attachments.is_empty() {
        use base64::Engine as _;
        event["attachments"] = m
            .attachments
            .iter()
            .map(|a| {
                json!({
                    "file_name": a.file_name,
                    "content_type": a.content_type,
                    "content_base64": base64::engine::general_purpose::STANDARD.encode(&a.bytes),
                })
            })
            .collect();
    }
    event
}

#[async_trait]
impl OutboundChannel for Webhook {
    fn channel(&self) -> Channel {
        self.channels.first().copied().unwrap_or(Channel::Webhook)
    }

    fn serves(&self, channel: Channel) -> bool {
        self.channels.contains(&channel)
    }

    async fn send(&self, m: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        let body = event(m).to_string().into_bytes();
        let ts = chrono::Utc::now().timestamp();
        let mut req = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("x-relance-event-id", &m.token)
            .header("x-relance-timestamp", ts.to_string())
            .header("x-relance-signature", signature(self.secret.as_bytes(), ts, &body));
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        crate::http::send(&format!("webhook {}", self.url), req.body(body)).await?;
        Ok(SendReceipt { reference: format!("event:{}", m.token) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let s = signature(b"Jefe", 1_700_000_000, b"{}");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64);
        assert_ne!(s, signature(b"Jefe", 1_700_000_001, b"{}"));
    }
}
