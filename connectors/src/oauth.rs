//! OAuth2 for the mail connectors (IMAP mailbox, SMTP channel, SMTP sent
//! archive): Microsoft 365 and Google Workspace switch basic authentication
//! off, so these connectors log in with a bearer token over SASL `XOAUTH2`
//! or `OAUTHBEARER` (RFC 7628) instead of a password.
//!
//! - Settings: `[connectors.<name>.oauth]` (and `[connectors.<name>.archive.oauth]`),
//!   [`OAuthSettings`]. Presets for `microsoft` and `google` give the
//!   endpoints, scopes and mail hosts; `custom` takes them from the settings.
//! - Flows: `authorization_code` (a person signs in once with
//!   `relance oauth login`, which stores the refresh token as a secret file;
//!   PKCE S256 and a state) or `client_credentials` (Microsoft 365 app-only
//!   access, with a client secret).
//! - [`TokenSource`]: the access token is cached and renewed before it
//!   expires (`refresh_before`, at most half its lifetime) and after the mail
//!   server rejected it ([`TokenSource::after_rejection`]). A refresh token
//!   the provider rotates is kept, and written back to its `file:`.
//! - Errors ([`OAuthError`]) name the connector and what to do (grant consent,
//!   sign in again, check the scopes or the application's registration).
//! - Secrets ([`Secret`]) never appear in `Debug`, `Display`, logs or errors:
//!   the provider's error texts are scrubbed of every secret we hold.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use relance_config::{parse_duration, resolve_secret};

/// A secret value (token, client secret): shown as `***` by `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value itself, for the wire only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Who issues the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Microsoft 365 (Entra ID): outlook.office365.com, smtp.office365.com.
    Microsoft,
    /// Google Workspace: imap.gmail.com, smtp.gmail.com.
    Google,
    /// Any other provider: `token_url` (and `authorize_url` for the sign-in) are required.
    Custom,
}

/// How the connector obtains its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// A person signs in once (`relance oauth login`); the refresh token is kept.
    #[default]
    AuthorizationCode,
    /// The application's own identity (Microsoft 365 app-only access), with `client_secret`.
    ClientCredentials,
}

/// The SASL mechanism the token is presented with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    /// `XOAUTH2` (Microsoft, Google).
    #[default]
    Xoauth2,
    /// `OAUTHBEARER` (RFC 7628).
    Oauthbearer,
}

impl Mechanism {
    /// The SASL name.
    pub fn sasl_name(self) -> &'static str {
        match self {
            Mechanism::Xoauth2 => "XOAUTH2",
            Mechanism::Oauthbearer => "OAUTHBEARER",
        }
    }

    /// The client response to a server's error challenge (RFC 7628 §3.2.3:
    /// `%x01`; XOAUTH2: empty), after which the server answers with failure.
    pub fn error_ack(self) -> &'static [u8] {
        match self {
            Mechanism::Xoauth2 => b"",
            Mechanism::Oauthbearer => b"\x01",
        }
    }

    /// The initial client response carrying `token` for `user` at `host:port`.
    pub fn client_response(self, user: &str, host: &str, port: u16, token: &Secret) -> Secret {
        match self {
            Mechanism::Xoauth2 => xoauth2(user, token),
            Mechanism::Oauthbearer => oauthbearer(user, host, port, token),
        }
    }
}

/// `XOAUTH2` client response: `user=…\x01auth=Bearer …\x01\x01`.
pub fn xoauth2(user: &str, token: &Secret) -> Secret {
    Secret(format!("user={user}\x01auth=Bearer {}\x01\x01", token.expose()))
}

/// `OAUTHBEARER` client response (RFC 7628 §3.1):
/// `n,a=user,\x01host=…\x01port=…\x01auth=Bearer …\x01\x01` (`,` and `=` of
/// the user escaped as `=2C` and `=3D`, RFC 5801).
pub fn oauthbearer(user: &str, host: &str, port: u16, token: &Secret) -> Secret {
    let authzid = user.replace('=', "=3D").replace(',', "=2C");
    Secret(format!("n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {}\x01\x01", token.expose()))
}

/// `[connectors.<name>.oauth]`: log in with OAuth2 instead of a password (Microsoft 365, Google
/// Workspace, or any provider), over SASL XOAUTH2 or OAUTHBEARER.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    /// `microsoft` (Microsoft 365), `google` (Google Workspace) or `custom`: the presets give the
    /// endpoints, the scopes and the mail server names.
    pub provider: Provider,
    /// Microsoft 365: the directory (tenant) id or domain; `organizations` by default (required for
    /// `client_credentials`).
    #[serde(default)]
    pub tenant: Option<String>,
    /// The application (client) id registered with the provider.
    pub client_id: String,
    /// The application's secret, if it has one (required for `client_credentials`): literal,
    /// `env:VAR` or `file:/path`.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// `authorization_code` (a person signs in once with `relance oauth login`) or
    /// `client_credentials` (Microsoft 365 app-only access).
    #[serde(default)]
    pub flow: Flow,
    /// The refresh token `relance oauth login` stored, usually `file:secrets/<connector>.refresh-token`
    /// (rewritten when the provider renews it); `env:VAR` or literal also work.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// `xoauth2` (default) or `oauthbearer` (RFC 7628).
    #[serde(default)]
    pub mechanism: Mechanism,
    /// Scopes to ask for (default: the preset's IMAP and SMTP scopes).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Authorisation endpoint (`custom`, or to override the preset).
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// Token endpoint (`custom`, or to override the preset).
    #[serde(default)]
    pub token_url: Option<String>,
    /// Where the provider sends the browser back after the sign-in (registered with the application).
    #[serde(default = "default_redirect")]
    pub redirect_uri: String,
    /// A token is renewed this long before it expires (at most half its lifetime).
    #[serde(default = "default_refresh_before")]
    pub refresh_before: String,
    /// Longest wait for the token endpoint.
    #[serde(default = "default_timeout")]
    pub timeout: String,
}

fn default_redirect() -> String {
    "http://localhost".into()
}
fn default_refresh_before() -> String {
    "5m".into()
}
fn default_timeout() -> String {
    "30s".into()
}

/// What a provider preset gives.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub imap_host: &'static str,
    pub smtp_host: &'static str,
}

impl Provider {
    /// The mail servers of the preset (`None` for `custom`).
    pub fn preset(self) -> Option<Preset> {
        match self {
            Provider::Microsoft => Some(Preset { imap_host: "outlook.office365.com", smtp_host: "smtp.office365.com" }),
            Provider::Google => Some(Preset { imap_host: "imap.gmail.com", smtp_host: "smtp.gmail.com" }),
            Provider::Custom => None,
        }
    }
}

/// A refresh token and, when it came from a `file:`, where to write a renewed one.
#[derive(Debug, Clone)]
struct RefreshToken {
    value: Secret,
    file: Option<PathBuf>,
}

/// Validated OAuth2 settings of one connector.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// `connectors.<name>.oauth` (or `.archive.oauth`), named in every error.
    pub key: String,
    /// The command that signs in again, for error messages.
    pub login_command: String,
    pub provider: Provider,
    pub flow: Flow,
    pub mechanism: Mechanism,
    pub client_id: String,
    client_secret: Option<Secret>,
    refresh: Option<RefreshToken>,
    /// Where `refresh_token = "file:…"` points, even when the file does not exist yet.
    pub refresh_file: Option<PathBuf>,
    pub scopes: Vec<String>,
    pub authorize_url: Option<String>,
    pub token_url: String,
    pub redirect_uri: String,
    /// Extra parameters of the authorisation request (Google: offline access).
    pub authorize_params: Vec<(&'static str, &'static str)>,
    refresh_before: Duration,
    timeout: Duration,
}

/// Why settings are unusable: (key below the `oauth` table, message).
pub type SettingsError = (String, String);

impl OAuthConfig {
    /// Checks the settings of `key` (`connectors.mail.oauth`). With
    /// `need_refresh_token`, the authorisation-code flow must have its refresh
    /// token (the daemon); `relance oauth login` passes `false`.
    pub fn from_settings(
        s: &OAuthSettings,
        key: &str,
        login_command: &str,
        base_dir: &Path,
        need_refresh_token: bool,
    ) -> Result<OAuthConfig, SettingsError> {
        let e = |k: &str, m: String| (k.to_string(), m);
        let tenant = s.tenant.clone().unwrap_or_else(|| "organizations".into());
        if tenant.is_empty() || !tenant.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
            return Err(e("tenant", format!("`{tenant}` is not a directory id or domain")));
        }
        type Endpoints = (Option<String>, Option<String>, Vec<&'static str>, Vec<(&'static str, &'static str)>);
        let (authorize, token, scopes, params): Endpoints = match (s.provider, s.flow) {
            (Provider::Microsoft, flow) => {
                let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
                let scopes = if flow == Flow::ClientCredentials {
                    vec!["https://outlook.office365.com/.default"]
                } else {
                    vec![
                        "https://outlook.office.com/IMAP.AccessAsUser.All",
                        "https://outlook.office.com/SMTP.Send",
                        "offline_access",
                    ]
                };
                if flow == Flow::ClientCredentials && s.tenant.is_none() {
                    return Err(e(
                        "tenant",
                        "app-only access (client_credentials) needs the directory (tenant) id of the organisation"
                            .into(),
                    ));
                }
                (Some(format!("{base}/authorize")), Some(format!("{base}/token")), scopes, vec![])
            }
            (Provider::Google, Flow::ClientCredentials) => {
                return Err(e(
                    "flow",
                    "Google has no client_credentials access to Gmail: use `authorization_code` (relance oauth login)"
                        .into(),
                ));
            }
            (Provider::Google, Flow::AuthorizationCode) => (
                Some("https://accounts.google.com/o/oauth2/v2/auth".into()),
                Some("https://oauth2.googleapis.com/token".into()),
                vec!["https://mail.google.com/"],
                // Without these Google issues no refresh token.
                vec![("access_type", "offline"), ("prompt", "consent")],
            ),
            (Provider::Custom, _) => (None, None, vec![], vec![]),
        };
        let authorize_url = s.authorize_url.clone().or(authorize);
        let token_url = s
            .token_url
            .clone()
            .or(token)
            .ok_or_else(|| e("token_url", "the token endpoint is required with provider = \"custom\"".into()))?;
        for (k, u) in [("token_url", Some(&token_url)), ("authorize_url", authorize_url.as_ref())] {
            if let Some(u) = u {
                let url = reqwest::Url::parse(u).map_err(|err| e(k, format!("`{u}`: {err}")))?;
                let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
                if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
                    return Err(e(k, format!("`{u}`: tokens travel over https only (http for loopback test servers)")));
                }
            }
        }
        let scopes = s.scopes.clone().unwrap_or_else(|| scopes.into_iter().map(String::from).collect());
        if scopes.is_empty() {
            return Err(e("scopes", "give the scopes to ask for (provider = \"custom\" has no default)".into()));
        }
        let client_secret = s
            .client_secret
            .as_deref()
            .map(|v| resolve_secret(v, base_dir).map(Secret).map_err(|m| e("client_secret", m)))
            .transpose()?;
        if s.flow == Flow::ClientCredentials && client_secret.is_none() {
            return Err(e("client_secret", "client_credentials needs the application's client_secret".into()));
        }
        let refresh_file = s
            .refresh_token
            .as_deref()
            .and_then(|v| v.strip_prefix("file:"))
            .map(|p| relance_config::join_clean(base_dir, Path::new(p)));
        let refresh = match (&s.refresh_token, s.flow) {
            (Some(_), Flow::ClientCredentials) => {
                return Err(e("refresh_token", "client_credentials uses no refresh token: remove it".into()));
            }
            (Some(v), Flow::AuthorizationCode) if need_refresh_token => Some(RefreshToken {
                value: Secret(
                    resolve_secret(v, base_dir)
                        .map_err(|m| e("refresh_token", format!("{m}; sign in with `{login_command}` to store it")))?,
                ),
                file: refresh_file.clone(),
            }),
            (None, Flow::AuthorizationCode) if need_refresh_token => {
                return Err(e(
                    "refresh_token",
                    format!(
                        "no refresh token: sign in once with `{login_command}`, then set the `refresh_token = \"file:…\"` it prints"
                    ),
                ));
            }
            _ => None,
        };
        let refresh_before = parse_duration(&s.refresh_before).map_err(|m| e("refresh_before", m))?;
        let timeout = parse_duration(&s.timeout).map_err(|m| e("timeout", m))?;
        Ok(OAuthConfig {
            key: key.to_string(),
            login_command: login_command.to_string(),
            provider: s.provider,
            flow: s.flow,
            mechanism: s.mechanism,
            client_id: s.client_id.clone(),
            client_secret,
            refresh,
            refresh_file,
            scopes,
            authorize_url,
            token_url,
            redirect_uri: s.redirect_uri.clone(),
            authorize_params: params,
            refresh_before,
            timeout,
        })
    }

    fn http(&self) -> Result<reqwest::Client, OAuthError> {
        crate::http::client(self.timeout).map_err(|m| OAuthError::Unreachable { key: self.key.clone(), detail: m })
    }

    /// Every secret this configuration holds (scrubbed from the provider's texts).
    fn secrets(&self) -> Vec<Secret> {
        self.client_secret.iter().chain(self.refresh.as_ref().map(|r| &r.value)).cloned().collect()
    }
}

/// What went wrong while getting a token; the texts name the connector
/// (`key`) and say what to do, and never hold a token.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error(
        "{key}: the provider refused consent ({code}: {description}). An administrator must grant the application \
         the permissions it asks for ({scopes}) — Microsoft 365: Entra ID > Enterprise applications > Permissions > \
         Grant admin consent — then sign in again with `{login}`"
    )]
    Consent { key: String, code: String, description: String, scopes: String, login: String },
    #[error("{key}: the refresh token is no longer valid (invalid_grant: {description}): sign in again with `{login}`")]
    InvalidGrant { key: String, description: String, login: String },
    #[error("{key}: the provider refused the scopes {scopes} (invalid_scope: {description}): check `scopes`")]
    InvalidScope { key: String, description: String, scopes: String },
    #[error(
        "{key}: the application may not use this flow ({code}: {description}): check its registration \
         (redirect URI, allowed grant types, API permissions) and `flow`"
    )]
    UnauthorizedClient { key: String, code: String, description: String },
    #[error(
        "{key}: the provider did not recognise the application (invalid_client: {description}): check `client_id` and `client_secret`"
    )]
    InvalidClient { key: String, description: String },
    #[error("{key}: the token endpoint refused the request ({code}: {description})")]
    Refused { key: String, code: String, description: String },
    #[error("{key}: the token endpoint could not be reached or failed: {detail}")]
    Unreachable { key: String, detail: String },
    #[error("{key}: unexpected answer from the token endpoint: {detail}")]
    BadResponse { key: String, detail: String },
}

impl OAuthError {
    /// Worth retrying later as is (network, server error); the others need a person.
    pub fn is_transient(&self) -> bool {
        matches!(self, OAuthError::Unreachable { .. })
    }
}

/// A token endpoint's answer (RFC 6749 §5.1, §5.2).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<Lifetime>,
    refresh_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `expires_in` as a number or, from some providers, a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Lifetime {
    Number(u64),
    Text(String),
}

/// A new access token and, when the provider sent one, a new refresh token.
pub struct Grant {
    pub access_token: Secret,
    pub lifetime: Duration,
    pub refresh_token: Option<Secret>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant").field("lifetime", &self.lifetime).finish_non_exhaustive()
    }
}

/// `text` with every secret replaced by `***`, cut to 300 characters.
fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut t = text.to_string();
    for s in secrets {
        if !s.0.is_empty() {
            t = t.replace(&s.0, "***");
        }
    }
    t.chars().take(300).collect()
}

/// Posts a token request and reads the answer.
async fn token_request(cfg: &OAuthConfig, form: &[(&str, &str)], extra: &[&Secret]) -> Result<Grant, OAuthError> {
    let key = cfg.key.clone();
    let mut form: Vec<(&str, &str)> = form.to_vec();
    form.push(("client_id", &cfg.client_id));
    if let Some(s) = &cfg.client_secret {
        form.push(("client_secret", s.expose()));
    }
    let response = cfg
        .http()?
        .post(&cfg.token_url)
        .header("Accept", "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| OAuthError::Unreachable { key: key.clone(), detail: e.without_url().to_string() })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let held = cfg.secrets();
    let mut secrets: Vec<&Secret> = held.iter().collect();
    secrets.extend_from_slice(extra);
    let parsed: Option<TokenResponse> = serde_json::from_str(&body).ok();
    if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
        return Err(OAuthError::Unreachable { key, detail: format!("HTTP {status}") });
    }
    let Some(r) = parsed else {
        return Err(OAuthError::BadResponse { key, detail: format!("HTTP {status}, not a JSON token response") });
    };
    if let Some(access) = r.access_token.filter(|_| status.is_success()) {
        let seconds = match r.expires_in {
            Some(Lifetime::Number(n)) => n,
            Some(Lifetime::Text(t)) => t.trim().parse().unwrap_or(3600),
            None => 3600,
        };
        return Ok(Grant {
            access_token: Secret(access),
            lifetime: Duration::from_secs(seconds),
            refresh_token: r.refresh_token.map(Secret),
        });
    }
    let code = r.error.unwrap_or_else(|| format!("HTTP {status}"));
    let description = scrub(r.error_description.as_deref().unwrap_or("no description"), &secrets);
    Err(classify(cfg, &scrub(&code, &secrets), description))
}

/// Maps an RFC 6749 error code (and Microsoft's AADSTS numbers) to what to do.
fn classify(cfg: &OAuthConfig, code: &str, description: String) -> OAuthError {
    let key = cfg.key.clone();
    let login = cfg.login_command.clone();
    let consent = matches!(code, "consent_required" | "interaction_required" | "access_denied")
        || description.contains("AADSTS65001")
        || description.contains("AADSTS65004");
    if consent {
        return OAuthError::Consent { key, code: code.into(), description, scopes: cfg.scopes.join(" "), login };
    }
    match code {
        "invalid_grant" => OAuthError::InvalidGrant { key, description, login },
        "invalid_scope" => OAuthError::InvalidScope { key, description, scopes: cfg.scopes.join(" ") },
        "unauthorized_client" | "unsupported_grant_type" => {
            OAuthError::UnauthorizedClient { key, code: code.into(), description }
        }
        "invalid_client" => OAuthError::InvalidClient { key, description },
        "temporarily_unavailable" | "server_error" => {
            OAuthError::Unreachable { key, detail: format!("{code}: {description}") }
        }
        _ => OAuthError::Refused { key, code: code.into(), description },
    }
}

/// The cached access token.
struct Cached {
    token: Secret,
    /// When to renew it (before it expires).
    renew_at: Instant,
}

struct State {
    cached: Option<Cached>,
    refresh: Option<RefreshToken>,
}

/// Access tokens of one connector: cached, renewed before expiry and after
/// a rejection; one request to the provider at a time.
pub struct TokenSource {
    cfg: OAuthConfig,
    state: tokio::sync::Mutex<State>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource").field("key", &self.cfg.key).field("flow", &self.cfg.flow).finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(cfg: OAuthConfig) -> Arc<TokenSource> {
        let refresh = cfg.refresh.clone();
        Arc::new(TokenSource { cfg, state: tokio::sync::Mutex::new(State { cached: None, refresh }) })
    }

    pub fn config(&self) -> &OAuthConfig {
        &self.cfg
    }

    /// A token that is valid for a while yet: the cached one, or a new one.
    pub async fn token(&self) -> Result<Secret, OAuthError> {
        let mut state = self.state.lock().await;
        if let Some(c) = &state.cached
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        self.renew(&mut state).await
    }

    /// The mail server rejected `rejected`: a new token (unless another task already renewed it).
    pub async fn after_rejection(&self, rejected: &Secret) -> Result<Secret, OAuthError> {
        let mut state = self.state.lock().await;
        if let Some(c) = &state.cached
            && &c.token != rejected
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        state.cached = None;
        info!(key = %self.cfg.key, "the mail server rejected the access token: asking for a new one");
        self.renew(&mut state).await
    }

    async fn renew(&self, state: &mut State) -> Result<Secret, OAuthError> {
        let scope = self.cfg.scopes.join(" ");
        let grant = match (self.cfg.flow, &state.refresh) {
            (Flow::ClientCredentials, _) => {
                token_request(&self.cfg, &[("grant_type", "client_credentials"), ("scope", &scope)], &[]).await?
            }
            (Flow::AuthorizationCode, Some(rt)) => {
                let form = [("grant_type", "refresh_token"), ("refresh_token", rt.value.expose()), ("scope", &scope)];
                token_request(&self.cfg, &form, &[&rt.value]).await?
            }
            (Flow::AuthorizationCode, None) => {
                return Err(OAuthError::InvalidGrant {
                    key: self.cfg.key.clone(),
                    description: "no refresh token".into(),
                    login: self.cfg.login_command.clone(),
                });
            }
        };
        // Renew `refresh_before` ahead, but at the latest half-way through a short lifetime.
        let ahead = self.cfg.refresh_before.min(grant.lifetime / 2);
        let renew_at = Instant::now() + grant.lifetime.saturating_sub(ahead);
        info!(key = %self.cfg.key, lifetime_s = grant.lifetime.as_secs(), "new OAuth2 access token");
        if let (Some(new), Some(old)) = (grant.refresh_token, state.refresh.as_mut())
            && new != old.value
        {
            if let Some(path) = &old.file {
                let (path, value) = (path.clone(), new.clone());
                let written = tokio::task::spawn_blocking(move || write_secret_file(&path, &value))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r);
                if let Err(e) = written {
                    warn!(key = %self.cfg.key, error = %e, "the provider renewed the refresh token but it could not be saved: the old one is used after a restart");
                }
            }
            old.value = new;
        }
        state.cached = Some(Cached { token: grant.access_token.clone(), renew_at });
        Ok(grant.access_token)
    }
}

/// Writes a secret to `path` (mode 0600 on Unix, through a temporary file
/// and a rename, so a crash leaves the old or the new value).
pub fn write_secret_file(path: &Path, value: &Secret) -> Result<(), String> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict {}: {e}", tmp.display()))?;
    }
    f.write_all(format!("{}\n", value.expose()).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// One sign-in: the PKCE verifier and the state, random for each.
pub struct Authorization {
    pub url: String,
    verifier: Secret,
    state: String,
}

/// 32 random bytes from the OS generator, base64url without padding.
fn random_token() -> Result<String, String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("no random numbers from the system: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl OAuthConfig {
    /// The URL a person opens to sign in as `login_hint` (PKCE S256, a random state).
    pub fn authorization(&self, login_hint: Option<&str>) -> Result<Authorization, String> {
        let base = self
            .authorize_url
            .as_deref()
            .ok_or_else(|| format!("{}: the sign-in needs `authorize_url` with provider = \"custom\"", self.key))?;
        let verifier = random_token()?;
        let state = random_token()?;
        let challenge = pkce_challenge(&verifier);
        let scope = self.scopes.join(" ");
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &scope),
            ("state", &state),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        if let Some(h) = login_hint {
            params.push(("login_hint", h));
        }
        params.extend(self.authorize_params.iter().copied());
        let url = reqwest::Url::parse_with_params(base, &params).map_err(|e| format!("`{base}`: {e}"))?;
        Ok(Authorization { url: url.to_string(), verifier: Secret(verifier), state })
    }

    /// Exchanges what the person pasted (the whole redirected URL, or the bare
    /// code) for tokens; the state must match when the URL carries one.
    pub async fn exchange(&self, auth: &Authorization, pasted: &str) -> Result<Grant, OAuthError> {
        let pasted = pasted.trim();
        let bad = |detail: String| OAuthError::BadResponse { key: self.key.clone(), detail };
        let code = if pasted.contains("://") || pasted.starts_with('?') || pasted.contains("code=") {
            let url = if pasted.starts_with('?') || !pasted.contains("://") {
                reqwest::Url::parse(&format!(
                    "http://localhost/{}",
                    pasted.trim_start_matches('?').trim_start_matches('/')
                ))
            } else {
                reqwest::Url::parse(pasted)
            }
            .map_err(|e| bad(format!("the pasted address is not a URL: {e}")))?;
            let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
            if let Some(err) = q.get("error") {
                let description = q.get("error_description").cloned().unwrap_or_else(|| "no description".into());
                return Err(classify(self, err, scrub(&description, &[])));
            }
            if q.get("state").is_some_and(|s| s != &auth.state) {
                return Err(bad(
                    "the state in the address is not the one of this sign-in (an old or a forged link)".into()
                ));
            }
            q.get("code").cloned().ok_or_else(|| bad("the address carries no `code`".into()))?
        } else {
            pasted.to_string()
        };
        if code.is_empty() {
            return Err(bad("nothing was pasted".into()));
        }
        let code = Secret(code);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", auth.verifier.expose()),
        ];
        let grant = token_request(self, &form, &[&code, &auth.verifier]).await?;
        if grant.refresh_token.is_none() {
            return Err(bad(
                "the provider issued no refresh token (Microsoft: ask for `offline_access`; Google: the preset asks for offline access)".into(),
            ));
        }
        Ok(grant)
    }
}

/// The parts of a mail connector's settings the sign-in needs (other keys ignored).
#[derive(Deserialize)]
struct MailLogin {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    oauth: Option<OAuthSettings>,
    #[serde(default)]
    archive: Option<ArchiveLogin>,
}

#[derive(Deserialize)]
struct ArchiveLogin {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    oauth: Option<OAuthSettings>,
}

/// The OAuth2 settings of `connector` (`imap_mailbox` or `smtp`; its sent
/// archive's with `archive`) and the mailbox user, for `relance oauth login`.
pub fn login_config(
    tenant: &relance_config::TenantConfig,
    connector: &relance_config::ConnectorConfig,
    archive: bool,
) -> Result<(OAuthConfig, Option<String>), String> {
    if !matches!(connector.kind.as_str(), "imap_mailbox" | "smtp") {
        return Err(format!(
            "connector `{}` is of kind `{}`: OAuth2 sign-in is for `imap_mailbox` and `smtp` connectors",
            connector.name, connector.kind
        ));
    }
    let s: MailLogin = relance_config::connector_settings(tenant, connector).map_err(|e| e.to_string())?;
    let command = format!("relance oauth login --tenant {} --connector {}", tenant.id, connector.name);
    let (oauth, user, key, command) = if archive {
        let a = s.archive.ok_or_else(|| format!("connector `{}` has no [archive]", connector.name))?;
        (a.oauth, a.username, format!("connectors.{}.archive.oauth", connector.name), format!("{command} --archive"))
    } else {
        (s.oauth, s.username, format!("connectors.{}.oauth", connector.name), command)
    };
    let oauth = oauth.ok_or_else(|| format!("{key} is not set: add the [{key}] table first"))?;
    let cfg = OAuthConfig::from_settings(&oauth, &key, &command, &tenant.base_dir, false)
        .map_err(|(k, m)| format!("{}: {key}.{k}: {m}", tenant.file.display()))?;
    Ok((cfg, user))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_like: serde_json::Value) -> OAuthSettings {
        serde_json::from_value(toml_like).unwrap()
    }

    fn cfg(v: serde_json::Value) -> Result<OAuthConfig, SettingsError> {
        let dir = std::env::temp_dir();
        OAuthConfig::from_settings(&settings(v), "connectors.mail.oauth", "relance oauth login", &dir, true)
    }

    #[test]
    fn sasl_strings_follow_the_specifications() {
        let t = Secret::new("ya29.tok");
        assert_eq!(xoauth2("a@b.example", &t).expose(), "user=a@b.example\x01auth=Bearer ya29.tok\x01\x01");
        assert_eq!(
            oauthbearer("a,b=c@d.example", "imap.example", 993, &t).expose(),
            "n,a=a=2Cb=3Dc@d.example,\x01host=imap.example\x01port=993\x01auth=Bearer ya29.tok\x01\x01"
        );
        assert_eq!(Mechanism::Oauthbearer.error_ack(), b"\x01");
    }

    #[test]
    fn pkce_challenge_is_the_unpadded_base64url_sha256_of_the_verifier() {
        // Computed independently with Python's hashlib and base64.urlsafe_b64encode.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mJ0kZ6ap6aS3rwNmEbG2ghcQGKt0gTM"),
            "Yp3zI-r5Fesx_GDTbgJohtr3vzwCpCzCeMzxHP7dfQ4"
        );
    }

    #[test]
    fn presets_and_their_checks() {
        let m = cfg(serde_json::json!({"provider": "microsoft", "client_id": "app", "refresh_token": "rt-1"})).unwrap();
        assert_eq!(m.token_url, "https://login.microsoftonline.com/organizations/oauth2/v2.0/token");
        assert!(m.scopes.contains(&"offline_access".to_string()), "{:?}", m.scopes);
        let app = cfg(serde_json::json!({"provider": "microsoft", "client_id": "app", "flow": "client_credentials",
            "tenant": "contoso.onmicrosoft.com", "client_secret": "s3cret"}))
        .unwrap();
        assert_eq!(app.scopes, vec!["https://outlook.office365.com/.default".to_string()]);
        assert!(app.token_url.contains("/contoso.onmicrosoft.com/"));
        let err = cfg(serde_json::json!({"provider": "microsoft", "client_id": "app", "flow": "client_credentials",
            "client_secret": "s3cret"}))
        .unwrap_err();
        assert_eq!(err.0, "tenant");
        let err = cfg(serde_json::json!({"provider": "google", "client_id": "app", "flow": "client_credentials",
            "client_secret": "x"}))
        .unwrap_err();
        assert_eq!(err.0, "flow");
        let g = cfg(serde_json::json!({"provider": "google", "client_id": "app", "refresh_token": "rt"})).unwrap();
        let a = g.authorization(Some("me@example.com")).unwrap();
        assert!(a.url.starts_with("https://accounts.google.com/o/oauth2/v2/auth?response_type=code"), "{}", a.url);
        assert!(a.url.contains("access_type=offline") && a.url.contains("code_challenge_method=S256"), "{}", a.url);
        assert!(a.url.contains(&format!("code_challenge={}", pkce_challenge(a.verifier.expose()))), "{}", a.url);
        let err =
            cfg(serde_json::json!({"provider": "custom", "client_id": "app", "refresh_token": "rt"})).unwrap_err();
        assert_eq!(err.0, "token_url");
        let err = cfg(serde_json::json!({"provider": "custom", "client_id": "app", "refresh_token": "rt",
            "token_url": "http://idp.example/token", "scopes": ["mail"]}))
        .unwrap_err();
        assert!(err.1.contains("https only"), "{err:?}");
        let err = cfg(serde_json::json!({"provider": "google", "client_id": "app"})).unwrap_err();
        assert!(err.1.contains("relance oauth login"), "{err:?}");
    }

    #[test]
    fn secrets_never_show_in_debug_or_errors() {
        let c = cfg(serde_json::json!({"provider": "microsoft", "client_id": "app", "refresh_token": "rt-SECRET-1",
            "client_secret": "cs-SECRET-2"}))
        .unwrap();
        let shown = format!("{c:?} {:?}", TokenSource::new(c.clone()));
        assert!(!shown.contains("SECRET"), "{shown}");
        let grant =
            Grant { access_token: Secret::new("at-SECRET-3"), lifetime: Duration::from_secs(1), refresh_token: None };
        assert!(!format!("{grant:?} {}", grant.access_token).contains("SECRET"));
        // A provider that echoes a secret in its description: scrubbed.
        let rt = Secret::new("rt-SECRET-1");
        let e = classify(&c, "invalid_grant", scrub("token rt-SECRET-1 was revoked", &[&rt]));
        let text = e.to_string();
        assert!(!text.contains("SECRET") && text.contains("sign in again"), "{text}");
    }

    #[test]
    fn errors_say_what_to_do() {
        let c = cfg(serde_json::json!({"provider": "microsoft", "client_id": "app", "refresh_token": "rt"})).unwrap();
        let e = classify(&c, "invalid_grant", "AADSTS65001: The user or administrator has not consented".into());
        assert!(matches!(e, OAuthError::Consent { .. }), "{e}");
        assert!(e.to_string().contains("Grant admin consent") && e.to_string().contains("connectors.mail.oauth"));
        assert!(!e.is_transient());
        assert!(matches!(classify(&c, "invalid_scope", "x".into()), OAuthError::InvalidScope { .. }));
        assert!(matches!(classify(&c, "unauthorized_client", "x".into()), OAuthError::UnauthorizedClient { .. }));
        assert!(classify(&c, "temporarily_unavailable", "x".into()).is_transient());
    }
}
