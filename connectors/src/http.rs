//! What the HTTP-based outbound connectors (webhook, SMS provider, print
//! API) share: one client per connector with a timeout, headers from
//! configuration (values may be secret references), and the reading of an
//! answer as delivered, worth retrying, or refused for good.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use relance_config::resolve_secret;
use relance_connector::ConnectorError;

/// Builds a client with `timeout` (rustls, ring provider).
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("relance/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Resolves configured header values (`env:VAR`, `file:/path` or literal).
pub fn headers(raw: &BTreeMap<String, String>, base_dir: &Path) -> Result<Vec<(String, String)>, (String, String)> {
    raw.iter().map(|(k, v)| resolve_secret(v, base_dir).map(|v| (k.clone(), v)).map_err(|e| (k.clone(), e))).collect()
}

/// Sends `request` and reads the answer: 2xx is delivered (the body is
/// returned); 408, 425, 429, 5xx and network errors are transient; any other
/// status is permanent.
pub async fn send(what: &str, request: reqwest::RequestBuilder) -> Result<String, ConnectorError> {
    let response = request.send().await.map_err(|e| ConnectorError::Transient(format!("{what}: {e}")))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let excerpt: String = body.chars().take(300).collect();
    if status.is_success() {
        Ok(body)
    } else if status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429) {
        Err(ConnectorError::Transient(format!("{what}: HTTP {status}: {excerpt}")))
    } else {
        Err(ConnectorError::Permanent(format!("{what}: HTTP {status}: {excerpt}")))
    }
}
