//! Collections mailbox over IMAP (`kind = "imap_mailbox"`), with async-imap on
//! tokio (native async: IDLE without a blocking thread per mailbox).
//!
//! Each run: connect (implicit TLS, STARTTLS, or plaintext only when
//! `allow_plaintext = true`), then for each mailbox SELECT and UID SEARCH, and
//! for every message not stored yet: fetch it, write the raw bytes to disk,
//! record it, understand it (with the tenant's model learned from its
//! corrections, see `relance_runtime::replies_model`), record what it says
//! and do what follows (a dispute marks its invoices disputed), then move it to `processed_folder` or
//! `review_folder` (UID MOVE, or COPY plus a keyword where MOVE is missing;
//! nothing is ever deleted). A crash at any point is resumed from the stored
//! state: a message is never fetched twice, understood twice, or lost. A
//! UIDVALIDITY change renumbers messages; they are recognised by content.
//! Then the run waits in IDLE (or sleeps `poll` when the server has no IDLE)
//! and returns, so new mail is handled within about a second of its arrival.
//!
//! Login: a password (LOGIN), or OAuth2 (`[connectors.<name>.oauth]`, see
//! [`crate::oauth`]): AUTHENTICATE XOAUTH2 or OAUTHBEARER with a cached
//! access token; a token the server rejects is renewed once and the login
//! tried again on a new connection.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use async_trait::async_trait;
use futures_util::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::{info, warn};

use chrono::NaiveDate;
use relance_config::{
    ConfigError, ConnectorConfig, Schedule, TenantConfig, connector_settings, parse_duration, resolve_secret,
};
use relance_connector::guard;
use relance_connector::{
    AnyConnector, ConnectorError, ConnectorFactory, InboundMailbox, RunContext, RunReport, run_blocking,
};
use relance_domain::replies::MessageStatus;
use relance_engine::replies::model::{Model, Overlay};
use relance_engine::replies::{Intent, Understanding, understand_with};
use relance_store::{HandleRequest, MailboxSlot, StoreError, StoredMessage};

use crate::oauth::{OAuthConfig, OAuthError, OAuthSettings, Secret, TokenSource};

/// UIDs handled per round trip.
const BATCH: usize = 200;

/// Reads a kept message, received on `received` (the day it was fetched),
/// and decides what it is with the shipped model and the tenant's overlay
/// learned from its corrections, if any (pure but for the file read).
fn understand_stored(
    id: i64,
    raw_path: &str,
    received: NaiveDate,
    max_bytes: u64,
    review_below: f64,
    overlay: Option<&Overlay>,
) -> HandleRequest {
    understand_stored_with(id, raw_path, max_bytes, review_below, |raw| {
        understand_with(raw, received, Model::shipped(), overlay)
    })
}

/// [`understand_stored`] with the understanding function given (tests pass one that panics).
fn understand_stored_with<E: std::fmt::Display>(
    id: i64,
    raw_path: &str,
    max_bytes: u64,
    review_below: f64,
    understand: impl FnOnce(&[u8]) -> Result<Understanding, E>,
) -> HandleRequest {
    let quarantine =
        |why: String| HandleRequest { id, status: MessageStatus::Quarantined, understanding: None, error: Some(why) };
    let raw = match std::fs::read(raw_path) {
        Ok(r) => r,
        Err(e) => return quarantine(format!("cannot read the kept copy {raw_path}: {e}")),
    };
    if raw.len() as u64 > max_bytes {
        return quarantine(format!(
            "message of {:.1} MB exceeds the {:.1} MB analysis limit: kept at {raw_path} for a human",
            raw.len() as f64 / 1_048_576.0,
            max_bytes as f64 / 1_048_576.0
        ));
    }
    // Under the panic guard: a message that panics the analysis is quarantined
    // like a malformed one, and the batch goes on.
    let understood = match guard::contain(|| understand(&raw)) {
        Ok(r) => r,
        Err(panic) => return quarantine(format!("{panic}; kept at {raw_path}")),
    };
    match understood {
        Ok(u) if !u.problems.is_empty() => {
            let mut q = quarantine(format!("{}; kept at {raw_path}", u.problems.join("; ")));
            q.understanding = Some(u);
            q
        }
        Ok(u) => {
            let status = if u.intent == Intent::AutoReply {
                MessageStatus::Handled
            } else if u.intent == Intent::Other || u.confidence < review_below {
                MessageStatus::Review
            } else {
                MessageStatus::Handled
            };
            HandleRequest { id, status, understanding: Some(u), error: None }
        }
        Err(e) => quarantine(format!("{e}; kept at {raw_path}")),
    }
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    #[default]
    Implicit,
    Starttls,
    None,
}

/// `imap_mailbox`: the collections mailbox, read over IMAP: replies are understood (promises,
/// disputes, payment notices, copy requests…), linked to customers and invoices, and filed.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// IMAP server name (with `oauth`, the provider's by default: outlook.office365.com, imap.gmail.com).
    #[serde(default)]
    host: Option<String>,
    /// Default 993 (`implicit`) or 143 (`starttls`, `none`).
    #[serde(default)]
    port: Option<u16>,
    /// `implicit` (TLS from the start), `starttls`, or `none` (with `allow_plaintext`).
    #[serde(default)]
    tls: TlsMode,
    /// Required for `tls = "none"` (loopback test servers only).
    #[serde(default)]
    allow_plaintext: bool,
    /// PEM file of an extra certificate authority to trust (private CA, tests).
    #[serde(default)]
    ca_file: Option<PathBuf>,
    /// Login of the collections mailbox.
    username: String,
    /// Literal, `env:VAR` or `file:/path` (or `oauth` instead).
    #[serde(default)]
    password: Option<String>,
    /// OAuth2 instead of a password (Microsoft 365, Google Workspace).
    #[serde(default)]
    oauth: Option<OAuthSettings>,
    /// Folders read for replies.
    #[serde(default = "default_mailboxes")]
    mailboxes: Vec<String>,
    /// Folder messages are moved to once handled (created when missing).
    #[serde(default = "default_processed")]
    processed_folder: String,
    /// Folder of messages a person must look at (created when missing).
    #[serde(default = "default_review")]
    review_folder: String,
    /// Wait for new messages with IMAP IDLE (else poll every `poll`).
    #[serde(default = "yes")]
    idle: bool,
    /// Interval between two checks when IDLE is off or unsupported.
    #[serde(default = "default_poll")]
    poll: String,
    /// Longest IDLE wait before the connection is renewed.
    #[serde(default = "default_idle_timeout")]
    idle_timeout: String,
    /// Larger messages are kept and sent to review without being analysed.
    #[serde(default = "default_max_bytes")]
    max_analyse_bytes: u64,
    /// Replies understood with less confidence go to review.
    #[serde(default = "default_review_below")]
    review_below: f64,
}

fn default_mailboxes() -> Vec<String> {
    vec!["INBOX".into()]
}
fn default_processed() -> String {
    "Relance/Processed".into()
}
fn default_review() -> String {
    "Relance/Needs review".into()
}
fn yes() -> bool {
    true
}
fn default_poll() -> String {
    "30s".into()
}
fn default_idle_timeout() -> String {
    "5m".into()
}
fn default_max_bytes() -> u64 {
    10 * 1024 * 1024
}
fn default_review_below() -> f64 {
    0.6
}

/// Factory for `kind = "imap_mailbox"`.
pub struct ImapMailboxFactory;

impl ConnectorFactory for ImapMailboxFactory {
    fn kind(&self) -> &'static str {
        "imap_mailbox"
    }

    fn settings_schema(&self) -> Option<serde_json::Value> {
        Some(relance_config::reference::schema_of::<Settings>())
    }

    fn default_schedule(&self) -> Schedule {
        // The run itself waits in IDLE (or sleeps `poll`): start the next one at once.
        Schedule::Interval(Duration::from_millis(200))
    }

    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
        let s: Settings = connector_settings(tenant, connector)?;
        let key = |k: &str| format!("connectors.{}.{k}", connector.name);
        let err = |k: &str, m: String| ConfigError::new(&tenant.file, Some(&key(k)), m);
        let login_command = format!("relance oauth login --tenant {} --connector {}", tenant.id, connector.name);
        let (auth, host) = ImapAuth::from_settings(
            s.password.as_deref(),
            s.oauth.as_ref(),
            s.host.as_deref(),
            &key(""),
            &login_command,
            &tenant.base_dir,
        )
        .map_err(|(k, m)| err(&k, m))?;
        let poll = parse_duration(&s.poll).map_err(|e| err("poll", e))?;
        let idle_timeout = parse_duration(&s.idle_timeout).map_err(|e| err("idle_timeout", e))?;
        let ca = crate::tls::read_ca(&tenant.base_dir, s.ca_file.as_ref()).map_err(|e| err("ca_file", e))?;
        let login = ImapLogin::checked(&host, s.port, s.tls, s.allow_plaintext, ca, &s.username, auth)
            .map_err(|e| err("tls", e))?;
        Ok(AnyConnector::InboundMailbox(Arc::new(ImapMailbox {
            name: connector.name.clone(),
            s,
            login,
            poll,
            idle_timeout,
        })))
    }
}

pub struct ImapMailbox {
    name: String,
    s: Settings,
    login: ImapLogin,
    poll: Duration,
    idle_timeout: Duration,
}

/// Where and how to log in to an IMAP server (also used by the SMTP
/// connector to look for a message in its sent archive).
#[derive(Debug, Clone)]
pub struct ImapLogin {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// PEM of an extra certificate authority to trust.
    pub ca: Option<Vec<u8>>,
    pub username: String,
    pub auth: ImapAuth,
}

/// How an IMAP login proves who it is.
#[derive(Debug, Clone)]
pub enum ImapAuth {
    /// LOGIN with a password.
    Password(Secret),
    /// AUTHENTICATE XOAUTH2 or OAUTHBEARER with tokens from this source.
    OAuth(Arc<TokenSource>),
}

impl ImapAuth {
    /// A password or an `oauth` table (exactly one), and the server name:
    /// `host`, or the OAuth provider's. Errors are (key below `prefix`, message).
    pub(crate) fn from_settings(
        password: Option<&str>,
        oauth: Option<&OAuthSettings>,
        host: Option<&str>,
        prefix: &str,
        login_command: &str,
        base_dir: &std::path::Path,
    ) -> Result<(ImapAuth, String), (String, String)> {
        let auth = match (password, oauth) {
            (Some(p), None) => {
                ImapAuth::Password(Secret::new(resolve_secret(p, base_dir).map_err(|e| ("password".to_string(), e))?))
            }
            (None, Some(o)) => {
                let cfg = OAuthConfig::from_settings(o, &format!("{prefix}oauth"), login_command, base_dir, true)
                    .map_err(|(k, m)| (format!("oauth.{k}"), m))?;
                ImapAuth::OAuth(TokenSource::new(cfg))
            }
            (Some(_), Some(_)) => {
                return Err(("password".into(), "give a password or an [oauth] table, not both".into()));
            }
            (None, None) => return Err(("password".into(), "give a password or an [oauth] table".into())),
        };
        let host = match (host, oauth.and_then(|o| o.provider.preset())) {
            (Some(h), _) => h.to_string(),
            (None, Some(p)) => p.imap_host.to_string(),
            (None, None) => return Err(("host".into(), "the IMAP server name is required".into())),
        };
        Ok((auth, host))
    }
}

/// The SASL exchange of one XOAUTH2/OAUTHBEARER login: the client response
/// first; an error challenge from the server is kept and acknowledged.
struct Bearer {
    response: Option<Vec<u8>>,
    mechanism: crate::oauth::Mechanism,
    server_error: Option<String>,
}

impl async_imap::Authenticator for &mut Bearer {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        match self.response.take() {
            Some(r) => r,
            None => {
                self.server_error = Some(String::from_utf8_lossy(challenge).chars().take(200).collect());
                self.mechanism.error_ack().to_vec()
            }
        }
    }
}

/// An OAuth2 failure as a connector error: transient when it may clear by itself.
fn oauth_error(e: OAuthError) -> ConnectorError {
    if e.is_transient() { ConnectorError::Transient(e.to_string()) } else { ConnectorError::Permanent(e.to_string()) }
}

/// Any byte stream async-imap can run on (plain TCP or TLS).
trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}
type Conn = Box<dyn Io>;

fn transient(what: &str) -> impl Fn(async_imap::error::Error) -> ConnectorError + '_ {
    move |e| ConnectorError::Transient(format!("IMAP {what}: {e}"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ConnectorError> {
    run_blocking("store", move || f().map_err(ConnectorError::from)).await
}

#[async_trait]
impl InboundMailbox for ImapMailbox {
    async fn poll(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError> {
        let mut session = self.login.connect().await?;
        let mut report = RunReport::default();
        for mailbox in &self.s.mailboxes {
            self.process_mailbox(&mut session, ctx, mailbox, &mut report).await?;
        }
        let caps = session.capabilities().await.map_err(transient("CAPABILITY"))?;
        if self.s.idle && caps.has_str("IDLE") && !ctx.once {
            session.select(&self.s.mailboxes[0]).await.map_err(transient("SELECT"))?;
            let mut handle = session.idle();
            handle.init().await.map_err(transient("IDLE"))?;
            {
                let (wait, stop) = handle.wait_with_timeout(self.idle_timeout);
                tokio::select! {
                    r = wait => { if let IdleResponse::NewData(_) = r.map_err(transient("IDLE"))? { info!("new mail"); } }
                    _ = ctx.cancel.cancelled() => drop(stop),
                }
            }
            session = handle.done().await.map_err(transient("DONE"))?;
        } else if !ctx.once {
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = ctx.cancel.cancelled() => {}
            }
        }
        let _ = session.logout().await;
        Ok(report)
    }
}

impl ImapLogin {
    /// A login from settings: plaintext only when explicitly allowed; the
    /// port defaults to 993 (implicit TLS) or 143.
    pub(crate) fn checked(
        host: &str,
        port: Option<u16>,
        tls: TlsMode,
        allow_plaintext: bool,
        ca: Option<Vec<u8>>,
        username: &str,
        auth: ImapAuth,
    ) -> Result<ImapLogin, String> {
        if tls == TlsMode::None && !allow_plaintext {
            return Err("plaintext IMAP sends the password in clear: set allow_plaintext = true to accept it (test servers only)".into());
        }
        let port = port.unwrap_or(if tls == TlsMode::Implicit { 993 } else { 143 });
        Ok(ImapLogin { host: host.to_string(), port, tls, ca, username: username.to_string(), auth })
    }

    /// Whether `mailbox` holds a message with this `Message-ID` header
    /// (read-only: EXAMINE, then UID SEARCH HEADER).
    pub async fn has_message_id(&self, mailbox: &str, message_id: &str) -> Result<bool, ConnectorError> {
        let mut session = self.connect().await?;
        session.examine(mailbox).await.map_err(transient("EXAMINE"))?;
        let quoted = message_id.replace(['\\', '"'], "");
        let found =
            session.uid_search(format!("HEADER Message-ID \"{quoted}\"")).await.map_err(transient("UID SEARCH"))?;
        let _ = session.logout().await;
        Ok(!found.is_empty())
    }

    fn tls_connector(&self) -> Result<tokio_rustls::TlsConnector, ConnectorError> {
        let config = crate::tls::client_config(self.ca.as_deref()).map_err(ConnectorError::Permanent)?;
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    /// Connects and logs in. With OAuth2, a token the server rejects is
    /// renewed once and the login tried again on a new connection.
    async fn connect(&self) -> Result<Session<Conn>, ConnectorError> {
        let source = match &self.auth {
            ImapAuth::Password(password) => {
                let client = self.open().await?;
                return client.login(&self.username, password.expose()).await.map_err(|(e, _)| match e {
                    async_imap::error::Error::No(m) | async_imap::error::Error::Bad(m) => {
                        ConnectorError::Permanent(format!("IMAP login as {} refused: {m}", self.username))
                    }
                    other => ConnectorError::Transient(format!("IMAP login: {other}")),
                });
            }
            ImapAuth::OAuth(source) => source,
        };
        let token = source.token().await.map_err(oauth_error)?;
        let rejected = match self.authenticate(source, &token).await? {
            Ok(session) => return Ok(session),
            Err(why) => why,
        };
        warn!(user = %self.username, %rejected, "IMAP rejected the OAuth2 token: renewing it once");
        let token = source.after_rejection(&token).await.map_err(oauth_error)?;
        match self.authenticate(source, &token).await? {
            Ok(session) => Ok(session),
            Err(why) => Err(ConnectorError::Permanent(format!(
                "IMAP {} login as {} refused even with a new token ({why}): check that the account may use IMAP \
                 (Microsoft 365: IMAP enabled for the mailbox and, for app-only access, the application given \
                 access to it; Google: IMAP enabled) and that `username` is the account the token is for",
                source.config().mechanism.sasl_name(),
                self.username
            ))),
        }
    }

    /// One AUTHENTICATE on a new connection: the session, or why the server refused the token.
    async fn authenticate(
        &self,
        source: &TokenSource,
        token: &Secret,
    ) -> Result<Result<Session<Conn>, String>, ConnectorError> {
        let mechanism = source.config().mechanism;
        let client = self.open().await?;
        let response = mechanism.client_response(&self.username, &self.host, self.port, token);
        let mut bearer =
            Bearer { response: Some(response.expose().as_bytes().to_vec()), mechanism, server_error: None };
        match client.authenticate(mechanism.sasl_name(), &mut bearer).await {
            Ok(session) => Ok(Ok(session)),
            Err((async_imap::error::Error::No(m), _)) | Err((async_imap::error::Error::Bad(m), _)) => {
                let detail = bearer.server_error.map(|e| format!(" {e}")).unwrap_or_default();
                Ok(Err(format!("{m}{detail}")))
            }
            Err((other, _)) => Err(ConnectorError::Transient(format!("IMAP AUTHENTICATE: {other}"))),
        }
    }

    /// TCP, TLS as configured, and the server's greeting: a client ready to log in.
    async fn open(&self) -> Result<async_imap::Client<Conn>, ConnectorError> {
        let host = self.host.as_str();
        let unreachable =
            |e: std::io::Error| ConnectorError::Transient(format!("cannot reach {host}:{}: {e}", self.port));
        let tcp = tokio::time::timeout(Duration::from_secs(15), TcpStream::connect((host, self.port)))
            .await
            .map_err(|_| ConnectorError::Transient(format!("timed out connecting to {host}:{}", self.port)))?
            .map_err(unreachable)?;
        let name = || {
            rustls_pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| ConnectorError::Permanent(format!("invalid host name `{host}`: {e}")))
        };
        let greeting = |e: std::io::Error| ConnectorError::Transient(format!("IMAP greeting: {e}"));
        let client = match self.tls {
            TlsMode::Implicit => {
                let tls = self
                    .tls_connector()?
                    .connect(name()?, tcp)
                    .await
                    .map_err(|e| ConnectorError::Transient(format!("TLS with {host}: {e}")))?;
                let mut c = async_imap::Client::new(Box::new(tls) as Conn);
                c.read_response().await.map_err(greeting)?;
                c
            }
            TlsMode::Starttls => {
                let mut c = async_imap::Client::new(tcp);
                c.read_response().await.map_err(greeting)?;
                c.run_command_and_check_ok("STARTTLS", None).await.map_err(transient("STARTTLS"))?;
                let tls = self
                    .tls_connector()?
                    .connect(name()?, c.into_inner())
                    .await
                    .map_err(|e| ConnectorError::Transient(format!("TLS with {host}: {e}")))?;
                async_imap::Client::new(Box::new(tls) as Conn)
            }
            TlsMode::None => {
                let mut c = async_imap::Client::new(Box::new(tcp) as Conn);
                c.read_response().await.map_err(greeting)?;
                c
            }
        };
        Ok(client)
    }
}

impl ImapMailbox {
    async fn ensure_folder(&self, session: &mut Session<Conn>, folder: &str) -> Result<(), ConnectorError> {
        // CREATE of an existing folder fails harmlessly (ALREADYEXISTS).
        if let Err(e) = session.create(folder).await {
            let text = e.to_string();
            if !text.to_lowercase().contains("exist") {
                return Err(ConnectorError::Transient(format!("IMAP CREATE {folder}: {text}")));
            }
        }
        Ok(())
    }

    async fn process_mailbox(
        &self,
        session: &mut Session<Conn>,
        ctx: &RunContext,
        mailbox: &str,
        report: &mut RunReport,
    ) -> Result<(), ConnectorError> {
        self.ensure_folder(session, &self.s.processed_folder).await?;
        self.ensure_folder(session, &self.s.review_folder).await?;
        let mb = session.select(mailbox).await.map_err(transient("SELECT"))?;
        let uidvalidity = mb.uid_validity.unwrap_or(0);
        let (store, tenant, name) = (ctx.store.clone(), ctx.tenant.clone(), self.name.clone());
        let key = format!("uidvalidity:{mailbox}");
        let k2 = key.clone();
        let previous = blocking(move || store.connector_state(&tenant, &name, &k2)).await?;
        if previous.as_deref().is_some_and(|p| p != uidvalidity.to_string()) {
            warn!(%mailbox, previous = ?previous, now = uidvalidity, "UIDVALIDITY changed: messages are recognised by content");
        }
        let (store, tenant, name) = (ctx.store.clone(), ctx.tenant.clone(), self.name.clone());
        let v = uidvalidity.to_string();
        blocking(move || store.set_connector_state(&tenant, &name, &key, &v)).await?;
        let caps = session.capabilities().await.map_err(transient("CAPABILITY"))?;
        let can_move = caps.has_str("MOVE");
        // Messages copied out where MOVE is missing carry our keyword: skip them.
        let query = if can_move { "ALL" } else { "NOT KEYWORD RelanceDone" };
        let mut uids: Vec<u32> =
            session.uid_search(query).await.map_err(transient("UID SEARCH"))?.into_iter().collect();
        uids.sort_unstable();
        report.units += 1;
        for chunk in uids.chunks(BATCH) {
            if ctx.cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            self.process_batch(session, ctx, mailbox, uidvalidity, chunk, can_move, report).await?;
        }
        Ok(())
    }

    /// One batch of UIDs: fetch what is not stored yet (one FETCH), keep the
    /// raw bytes and record them (one transaction), understand and record
    /// (one transaction), move (one command per folder). Each stage resumes
    /// from the stored state after a crash.
    #[allow(clippy::too_many_arguments)]
    async fn process_batch(
        &self,
        session: &mut Session<Conn>,
        ctx: &RunContext,
        mailbox: &str,
        uidvalidity: u32,
        uids: &[u32],
        can_move: bool,
        report: &mut RunReport,
    ) -> Result<(), ConnectorError> {
        let (store, tenant, src, mb, list) =
            (ctx.store.clone(), ctx.tenant.clone(), self.name.clone(), mailbox.to_string(), uids.to_vec());
        let mut known = blocking(move || store.messages_at(&tenant, &src, &mb, uidvalidity, &list)).await?;
        let missing: Vec<u32> = uids.iter().copied().filter(|u| !known.contains_key(u)).collect();
        // Folder decided for messages recognised from before a UIDVALIDITY change.
        let mut already: Vec<(u32, MessageStatus)> = Vec::new();
        if !missing.is_empty() {
            let set = missing.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            let mut bodies: Vec<(u32, Vec<u8>)> = Vec::new();
            {
                let mut stream = session.uid_fetch(&set, "(UID BODY.PEEK[])").await.map_err(transient("UID FETCH"))?;
                while let Some(f) = stream.next().await {
                    let f = f.map_err(transient("UID FETCH"))?;
                    if let (Some(uid), Some(body)) = (f.uid, f.body()) {
                        bodies.push((uid, body.to_vec()));
                    }
                }
            }
            let dir = ctx.keep_dir.join("raw");
            let (store, tenant, src, mb) =
                (ctx.store.clone(), ctx.tenant.clone(), self.name.clone(), mailbox.to_string());
            // Keep the raw bytes, then record them: nothing is acknowledged before this commits.
            let (stored, dups) = blocking(move || {
                std::fs::create_dir_all(&dir).map_err(|e| StoreError::Io {
                    what: "cannot create folder",
                    path: dir.display().to_string(),
                    cause: e,
                })?;
                let mut rows = Vec::new();
                let mut dups = Vec::new();
                for (uid, body) in &bodies {
                    let sha = hex::encode(Sha256::digest(body));
                    if let Some(prev) = store.message_by_hash(&tenant, &src, &mb, &sha)?
                        && prev.status != MessageStatus::Stored
                    {
                        dups.push((*uid, prev.status));
                        continue;
                    }
                    let path = dir.join(format!("{}-{uidvalidity}-{uid}.eml", &sha[..16]));
                    std::fs::write(&path, body).map_err(|e| StoreError::Io {
                        what: "cannot write",
                        path: path.display().to_string(),
                        cause: e,
                    })?;
                    rows.push((*uid, sha, body.len() as u64, path.display().to_string()));
                }
                let slots: Vec<(MailboxSlot<'_>, String, u64, String)> = rows
                    .iter()
                    .map(|(uid, sha, size, path)| {
                        (
                            MailboxSlot { source: &src, mailbox: &mb, uidvalidity, uid: *uid },
                            sha.clone(),
                            *size,
                            path.clone(),
                        )
                    })
                    .collect();
                let ids = store.store_messages(&tenant, &slots)?;
                let stored_at = chrono::Utc::now();
                let stored: Vec<(u32, StoredMessage)> = rows
                    .into_iter()
                    .zip(ids)
                    .map(|((uid, _, _, path), id)| {
                        let status = MessageStatus::Stored;
                        (uid, StoredMessage { id, status, raw_path: path, moved_to: None, stored_at })
                    })
                    .collect();
                Ok((stored, dups))
            })
            .await?;
            known.extend(stored);
            already = dups;
        }
        // Understand what is stored but not handled yet.
        // A message without a Date header is read as of the day it was fetched.
        let pending: Vec<(i64, String, NaiveDate)> = known
            .values()
            .filter(|m| m.status == MessageStatus::Stored)
            .map(|m| (m.id, m.raw_path.clone(), m.stored_at.date_naive()))
            .collect();
        if !pending.is_empty() {
            let (max, review_below) = (self.s.max_analyse_bytes, self.s.review_below);
            // The tenant's model learned from its corrections (cached by version in the store).
            let (store, tenant) = (ctx.store.clone(), ctx.tenant.clone());
            let overlay = blocking(move || store.reply_overlay(&tenant)).await?;
            let requests = tokio::task::spawn_blocking(move || {
                pending
                    .into_iter()
                    .map(|(id, path, received)| {
                        understand_stored(id, &path, received, max, review_below, overlay.as_deref())
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| ConnectorError::Transient(e.to_string()))?;
            for r in &requests {
                if r.status == MessageStatus::Quarantined {
                    warn!(%mailbox, id = r.id, error = ?r.error, "message quarantined");
                    report.quarantined += 1;
                } else {
                    report.items += 1;
                }
            }
            let by_id: std::collections::HashMap<i64, MessageStatus> =
                requests.iter().map(|r| (r.id, r.status)).collect();
            for m in known.values_mut() {
                if let Some(st) = by_id.get(&m.id) {
                    m.status = *st;
                }
            }
            let (store, tenant) = (ctx.store.clone(), ctx.tenant.clone());
            let today = chrono::Utc::now().date_naive();
            blocking(move || store.handle_messages(&tenant, today, &requests)).await?;
        }
        // Move, one command per destination.
        let mut by_folder: std::collections::BTreeMap<String, (Vec<u32>, Vec<i64>)> = Default::default();
        for (uid, m) in &known {
            let e = by_folder.entry(self.folder_for(m.status)).or_default();
            e.0.push(*uid);
            e.1.push(m.id);
        }
        for (uid, status) in already {
            by_folder.entry(self.folder_for(status)).or_default().0.push(uid);
        }
        for (folder, (uids, ids)) in by_folder {
            let set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            if can_move {
                session.uid_mv(&set, &folder).await.map_err(transient("UID MOVE"))?;
            } else {
                session.uid_copy(&set, &folder).await.map_err(transient("UID COPY"))?;
                let mut s =
                    session.uid_store(&set, "+FLAGS (RelanceDone \\Seen)").await.map_err(transient("UID STORE"))?;
                while s.next().await.is_some() {}
            }
            let (store, tenant) = (ctx.store.clone(), ctx.tenant.clone());
            blocking(move || store.messages_moved(&tenant, &ids, &folder)).await?;
        }
        Ok(())
    }

    fn folder_for(&self, status: MessageStatus) -> String {
        if status == MessageStatus::Handled { self.s.processed_folder.clone() } else { self.s.review_folder.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_understanding_quarantines_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.eml");
        std::fs::write(&path, b"From: a@example.com\r\nSubject: hi\r\n\r\nHello\r\n").unwrap();
        let path = path.display().to_string();
        let r = understand_stored_with(7, &path, 1 << 20, 0.6, |_: &[u8]| -> Result<Understanding, String> {
            panic!("boom in the analysis")
        });
        assert_eq!((r.id, r.status), (7, MessageStatus::Quarantined));
        let why = r.error.unwrap_or_default();
        assert!(why.contains("panic: boom in the analysis"), "{why}");
        assert!(why.ends_with(&format!("kept at {path}")), "{why}");
        // The real analysis on the same message is not affected.
        let r = understand_stored(8, &path, chrono::NaiveDate::MIN, 1 << 20, 0.6, None);
        assert_ne!(r.status, MessageStatus::Quarantined, "{:?}", r.error);
    }

    #[test]
    fn a_message_without_a_date_is_read_as_of_the_day_it_was_fetched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.eml");
        std::fs::write(&path, b"From: a@example.com\r\nSubject: RE: relance\r\n\r\nNous paierons vendredi.\r\n")
            .unwrap();
        let path = path.display().to_string();
        // Fetched on Monday 12 October 2026: Friday is the 16th.
        let r = understand_stored(9, &path, NaiveDate::from_ymd_opt(2026, 10, 12).unwrap(), 1 << 20, 0.6, None);
        let u = r.understanding.expect("understood");
        assert_eq!((u.intent, u.promised_date), (Intent::PromiseToPay, NaiveDate::from_ymd_opt(2026, 10, 16)));
        assert_eq!(r.status, MessageStatus::Handled);
    }
}
