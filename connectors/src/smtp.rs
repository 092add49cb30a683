//! Email over SMTP (`kind = "smtp"`), with lettre's pooled async transport.
//!
//! Each reminder becomes one RFC 5322 message: `multipart/alternative` text +
//! HTML (inside `multipart/mixed` when invoice documents are attached), the
//! tenant's sender and `Reply-To` (the collections mailbox, so answers land
//! where reply handling reads), `Auto-Submitted: auto-generated` (RFC 3834)
//! and `X-Auto-Response-Suppress` so that out-of-office robots keep quiet, and
//! a deterministic `Message-ID` built from the outbox row's token: a message
//! sent again after a crash carries the same id, and replies thread back to it.
//!
//! TLS: `starttls` (default, port 587), `tls` (implicit, port 465) or `none`
//! (port 25, only with `allow_plaintext = true`, for loopback test servers).
//! rustls with the ring provider, like the IMAP connector.
//!
//! With a sent archive (`[connectors.<name>.archive]`), every message is also
//! sent to the archive address in the same SMTP transaction; after a crash
//! mid-send, the archive is searched over IMAP for the Message-ID before the
//! message is sent again, so an interrupted batch is delivered exactly once.
//!
//! Login: a password (AUTH PLAIN or LOGIN), or OAuth2 (`[connectors.<name>.oauth]`,
//! see [`crate::oauth`]): AUTH XOAUTH2 or OAUTHBEARER. lettre 0.11 knows
//! XOAUTH2 but not OAUTHBEARER, and its XOAUTH2 cannot answer the server's
//! error challenge; so both are spoken here, as raw AUTH lines over lettre's
//! connection ([`AsyncSmtpConnection::command`]): the initial response, and
//! on a `334` error challenge the acknowledgement (empty, or `%x01` for
//! OAUTHBEARER) that lets the server conclude with 535. A rejected token is
//! renewed once and AUTH sent again on the same connection. The sent
//! archive's IMAP login takes `[connectors.<name>.archive.oauth]`.
//!
//! Errors: a 5xx answer (unknown recipient, refused content) is permanent for
//! that message; 4xx answers, timeouts, refused connections and refused
//! authentication are transient (the outbox retries with backoff).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lettre::address::{Address, Envelope};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};

use relance_config::{
    ConfigError, ConnectorConfig, Schedule, TenantConfig, connector_settings, parse_duration, resolve_secret,
};
use relance_connector::{
    AnyConnector, ConnectorError, ConnectorFactory, OutboundChannel, OutboundMessage, SendReceipt,
};
use relance_domain::Channel;

use crate::imap_mailbox::{ImapAuth, ImapLogin, TlsMode as ImapTls};
use crate::oauth::{OAuthConfig, OAuthSettings, Secret, TokenSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum TlsMode {
    #[default]
    Starttls,
    Tls,
    None,
}

/// `smtp`: reminders by email (multipart text and HTML, Reply-To the collections mailbox, a
/// Message-ID that replies thread back to).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// SMTP server name (with `oauth`, the provider's by default: smtp.office365.com, smtp.gmail.com).
    #[serde(default)]
    host: Option<String>,
    /// Default 587 (starttls), 465 (tls) or 25 (none).
    #[serde(default)]
    port: Option<u16>,
    /// `starttls`, `tls` (implicit TLS, port 465), or `none` (with `allow_plaintext`).
    #[serde(default)]
    tls: TlsMode,
    /// Required for `tls = "none"` (loopback test servers only).
    #[serde(default)]
    allow_plaintext: bool,
    /// PEM file of an extra certificate authority to trust (private CA, tests).
    #[serde(default)]
    ca_file: Option<PathBuf>,
    /// Name checked against the server certificate (default: `host`).
    #[serde(default)]
    tls_name: Option<String>,
    /// Login, when the server asks for one.
    #[serde(default)]
    username: Option<String>,
    /// Literal, `env:VAR` or `file:/path` (or `oauth` instead).
    #[serde(default)]
    password: Option<String>,
    /// OAuth2 instead of a password (Microsoft 365, Google Workspace), with `username`.
    #[serde(default)]
    oauth: Option<OAuthSettings>,
    /// Sender, e.g. `Démo Industries <relances@demo.example>`.
    from: String,
    /// Where customers' answers go: the collections mailbox read by reply handling.
    #[serde(default)]
    reply_to: Option<String>,
    /// Put each reminder's reply token in `Reply-To` by plus addressing
    /// (`collections+r12-3f…@acme.example`), so that a reply is linked to its
    /// reminder, customer and invoices even when the mail client drops
    /// `In-Reply-To`. Needs `reply_to`, and a mailbox that accepts
    /// plus-addressed mail (Microsoft 365, Google Workspace, Dovecot and
    /// Postfix do by default).
    #[serde(default)]
    reply_tokens: bool,
    /// The character between the mailbox name and the token in `reply_to` and
    /// `return_path` addresses: `+` (most servers), `-`, `=` or `_`.
    #[serde(default = "default_delimiter")]
    address_delimiter: char,
    /// VERP: the envelope sender of reminders, where bounces and auto-replies
    /// go, with the reply token added (`bounces@acme.example` →
    /// `bounces+r12-3f…@acme.example`), so that a bounce that quotes nothing
    /// is still linked to its reminder. A mailbox read by an `imap_mailbox`
    /// connector. Without it, the envelope sender is `from`.
    #[serde(default)]
    return_path: Option<String>,
    /// A copy of every message to this address, in the same SMTP transaction.
    #[serde(default)]
    bcc: Option<String>,
    /// The sent archive: a mailbox receiving every message (by `bcc`), read
    /// over IMAP after a crash mid-send to tell whether a message got through.
    #[serde(default)]
    archive: Option<ArchiveSettings>,
    /// Connections kept open to the server.
    #[serde(default = "default_pool")]
    pool_size: u32,
    /// Longest wait for one message to be accepted.
    #[serde(default = "default_timeout")]
    timeout: String,
}

/// `[connectors.<name>.archive]`: the sent archive, searched over IMAP after a crash mid-send so that
/// nothing is sent twice.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ArchiveSettings {
    /// The archive's address; every message is also sent to it (Bcc).
    address: String,
    /// IMAP server of the archive mailbox (with `oauth`, the provider's by default).
    #[serde(default)]
    host: Option<String>,
    /// Default 993 (`implicit`) or 143.
    #[serde(default)]
    port: Option<u16>,
    /// `implicit`, `starttls` or `none` (with `allow_plaintext`).
    #[serde(default)]
    tls: ImapTls,
    /// Required for `tls = "none"` (loopback test servers only).
    #[serde(default)]
    allow_plaintext: bool,
    /// PEM file of an extra certificate authority to trust.
    #[serde(default)]
    ca_file: Option<PathBuf>,
    /// Login of the archive mailbox.
    username: String,
    /// Literal, `env:VAR` or `file:/path` (or `oauth` instead).
    #[serde(default)]
    password: Option<String>,
    /// OAuth2 instead of a password for the archive mailbox.
    #[serde(default)]
    oauth: Option<OAuthSettings>,
    /// Folder searched for a message after a crash mid-send.
    #[serde(default = "default_archive_mailbox")]
    mailbox: String,
}

fn default_archive_mailbox() -> String {
    "INBOX".into()
}

fn default_delimiter() -> char {
    '+'
}
fn default_pool() -> u32 {
    4
}
fn default_timeout() -> String {
    "30s".into()
}

/// Factory for `kind = "smtp"`.
pub struct SmtpFactory;

impl ConnectorFactory for SmtpFactory {
    fn kind(&self) -> &'static str {
        "smtp"
    }

    fn settings_schema(&self) -> Option<serde_json::Value> {
        Some(relance_config::reference::schema_of::<Settings>())
    }

    fn default_schedule(&self) -> Schedule {
        Schedule::Interval(Duration::from_secs(60))
    }

    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
        let s: Settings = connector_settings(tenant, connector)?;
        let key = |k: &str| format!("connectors.{}.{k}", connector.name);
        let err = |k: &str, m: String| ConfigError::new(&tenant.file, Some(&key(k)), m);
        if s.tls == TlsMode::None && !s.allow_plaintext {
            return Err(err(
                "tls",
                "plaintext SMTP sends credentials and mail in clear: set allow_plaintext = true to accept it (test servers only)".into(),
            ));
        }
        let from: Mailbox = s.from.parse().map_err(|e| err("from", format!("`{}`: {e}", s.from)))?;
        let reply_to = s
            .reply_to
            .as_deref()
            .map(|r| r.parse::<Mailbox>().map_err(|e| err("reply_to", format!("`{r}`: {e}"))))
            .transpose()?;
        if s.reply_tokens && reply_to.is_none() {
            return Err(err(
                "reply_tokens",
                "reply tokens are added to `reply_to`: give the collections mailbox".into(),
            ));
        }
        if !['+', '-', '=', '_'].contains(&s.address_delimiter) {
            return Err(err(
                "address_delimiter",
                format!("`{}`: use `+`, `-`, `=` or `_`", s.address_delimiter.escape_default()),
            ));
        }
        let return_path = s
            .return_path
            .as_deref()
            .map(|r| r.parse::<Address>().map_err(|e| err("return_path", format!("`{r}`: {e}"))))
            .transpose()?;
        let bcc = s
            .bcc
            .as_deref()
            .map(|r| r.parse::<Mailbox>().map_err(|e| err("bcc", format!("`{r}`: {e}"))))
            .transpose()?;
        let timeout = parse_duration(&s.timeout).map_err(|e| err("timeout", e))?;
        let port = s.port.unwrap_or(match s.tls {
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
            TlsMode::None => 25,
        });
        let ca = crate::tls::read_ca(&tenant.base_dir, s.ca_file.as_ref()).map_err(|e| err("ca_file", e))?;
        let host = match (&s.host, s.oauth.as_ref().and_then(|o| o.provider.preset())) {
            (Some(h), _) => h.clone(),
            (None, Some(p)) => p.smtp_host.to_string(),
            (None, None) => return Err(err("host", "the SMTP server name is required".into())),
        };
        let tls_name = s.tls_name.clone().unwrap_or_else(|| host.clone());
        let security = match s.tls {
            TlsMode::None => Security::Plain,
            TlsMode::Starttls => {
                let mut params = TlsParameters::builder(tls_name.clone());
                if let Some(pem) = &ca {
                    let cert = Certificate::from_pem(pem).map_err(|e| err("ca_file", e.to_string()))?;
                    params = params.add_root_certificate(cert);
                }
                Security::Starttls(params.build_rustls().map_err(|e| err("tls", e.to_string()))?)
            }
            TlsMode::Tls => {
                let name = rustls_pki_types::ServerName::try_from(tls_name.clone())
                    .map_err(|e| err("tls_name", format!("`{tls_name}`: {e}")))?;
                let config = crate::tls::client_config(ca.as_deref()).map_err(|e| err("ca_file", e))?;
                Security::Implicit(tokio_rustls::TlsConnector::from(Arc::new(config)), name)
            }
        };
        let login_command = format!("relance oauth login --tenant {} --connector {}", tenant.id, connector.name);
        let auth = match (&s.username, &s.password, &s.oauth) {
            (Some(u), Some(p), None) => {
                let password = resolve_secret(p, &tenant.base_dir).map_err(|e| err("password", e))?;
                Auth::Password(Credentials::new(u.clone(), password))
            }
            (Some(u), None, Some(o)) => {
                let cfg = OAuthConfig::from_settings(o, &key("oauth"), &login_command, &tenant.base_dir, true)
                    .map_err(|(k, m)| err(&format!("oauth.{k}"), m))?;
                Auth::Bearer { user: u.clone(), source: TokenSource::new(cfg) }
            }
            (None, None, None) => Auth::None,
            (_, Some(_), Some(_)) => {
                return Err(err("password", "give a password or an [oauth] table, not both".into()));
            }
            (None, _, Some(_)) => return Err(err("username", "OAuth2 needs the mailbox's `username`".into())),
            _ => return Err(err("username", "give both username and password, or neither".into())),
        };
        let server = Server { host, port, security, auth, timeout, hello: ClientId::default() };
        let archive = match &s.archive {
            Some(a) => {
                let address: Mailbox =
                    a.address.parse().map_err(|e| err("archive.address", format!("`{}`: {e}", a.address)))?;
                let ca =
                    crate::tls::read_ca(&tenant.base_dir, a.ca_file.as_ref()).map_err(|e| err("archive.ca_file", e))?;
                let (auth, host) = ImapAuth::from_settings(
                    a.password.as_deref(),
                    a.oauth.as_ref(),
                    a.host.as_deref(),
                    &key("archive."),
                    &format!("{login_command} --archive"),
                    &tenant.base_dir,
                )
                .map_err(|(k, m)| err(&format!("archive.{k}"), m))?;
                let login = ImapLogin::checked(&host, a.port, a.tls, a.allow_plaintext, ca, &a.username, auth)
                    .map_err(|e| err("archive.tls", e))?;
                Some(Archive { address, login, mailbox: a.mailbox.clone() })
            }
            None => None,
        };
        let domain = from.email.domain().to_string();
        let size = s.pool_size.max(1) as usize;
        Ok(AnyConnector::OutboundChannel(Arc::new(SmtpChannel {
            server,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size),
            from,
            reply_to,
            reply_tokens: s.reply_tokens,
            delimiter: s.address_delimiter,
            return_path,
            bcc,
            archive,
            domain,
        })))
    }
}

pub struct SmtpChannel {
    server: Server,
    /// Open connections waiting for the next message, with when they were last used.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// At most `pool_size` connections at once.
    permits: Semaphore,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// Whether `reply_to` carries the reminder's reply token.
    reply_tokens: bool,
    /// Between a mailbox name and a token.
    delimiter: char,
    /// The VERP envelope sender, before the token is added.
    return_path: Option<Address>,
    bcc: Option<Mailbox>,
    archive: Option<Archive>,
    domain: String,
}

/// The sent archive: its address (Bcc of every message) and how to read it.
struct Archive {
    address: Mailbox,
    login: ImapLogin,
    mailbox: String,
}

/// How to reach the SMTP server.
struct Server {
    host: String,
    port: u16,
    security: Security,
    auth: Auth,
    timeout: Duration,
    hello: ClientId,
}

/// How the SMTP session authenticates.
enum Auth {
    None,
    Password(Credentials),
    Bearer { user: String, source: Arc<TokenSource> },
}

/// One raw SMTP command line (an AUTH with its initial response, or a SASL
/// continuation line).
struct RawLine(Secret);

impl std::fmt::Display for RawLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\r\n", self.0.expose())
    }
}

/// Why a bearer AUTH did not succeed.
enum BearerFailure {
    /// The server refused the token (535 or an error challenge): worth a new token.
    Rejected(String),
    /// Anything else (network, unexpected answer).
    Other(ConnectorError),
}

/// AUTH XOAUTH2 / OAUTHBEARER with `token` (see the module documentation).
async fn bearer_auth(
    conn: &mut AsyncSmtpConnection,
    mechanism: crate::oauth::Mechanism,
    user: &str,
    host: &str,
    port: u16,
    token: &Secret,
) -> Result<(), BearerFailure> {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let response = mechanism.client_response(user, host, port, token);
    let line = RawLine(Secret::new(format!("AUTH {} {}", mechanism.sasl_name(), b64(response.expose().as_bytes()))));
    let rejected = |e: &lettre::transport::smtp::Error| {
        e.status().is_some_and(|c| matches!(c.to_string().as_str(), "530" | "534" | "535" | "538"))
    };
    match conn.command(line).await {
        Ok(r) if r.has_code(235) => Ok(()),
        Ok(r) if r.has_code(334) => {
            // The error challenge (JSON, no secret); acknowledge it and read the final refusal.
            let detail = r
                .first_word()
                .and_then(|w| base64::engine::general_purpose::STANDARD.decode(w).ok())
                .map(|b| String::from_utf8_lossy(&b).chars().take(200).collect::<String>())
                .unwrap_or_default();
            let ack = RawLine(Secret::new(b64(mechanism.error_ack())));
            match conn.command(ack).await {
                Err(e) if rejected(&e) => Err(BearerFailure::Rejected(format!("{e} {detail}"))),
                Err(e) => Err(BearerFailure::Other(classify(&e))),
                Ok(r) => Err(BearerFailure::Other(ConnectorError::Transient(format!(
                    "SMTP AUTH {}: unexpected answer {} after the error challenge",
                    mechanism.sasl_name(),
                    r.code()
                )))),
            }
        }
        Ok(r) => Err(BearerFailure::Other(ConnectorError::Transient(format!(
            "SMTP AUTH {}: unexpected answer {}",
            mechanism.sasl_name(),
            r.code()
        )))),
        Err(e) if rejected(&e) => Err(BearerFailure::Rejected(e.to_string())),
        Err(e) => Err(BearerFailure::Other(classify(&e))),
    }
}

enum Security {
    Plain,
    Starttls(TlsParameters),
    Implicit(tokio_rustls::TlsConnector, rustls_pki_types::ServerName<'static>),
}

/// Implicit TLS over TCP, as a stream lettre's connection can run on.
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<TcpStream>);

impl tokio::io::AsyncRead for TlsTcp {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// Connections idle longer than this are checked with NOOP before reuse.
const IDLE_CHECK: Duration = Duration::from_secs(30);

impl Server {
    /// Opens a session: TCP with Nagle off (lettre writes the message and its
    /// final dot separately; with Nagle the dot waits for a delayed ACK, about
    /// 40 ms per message), TLS, EHLO, AUTH.
    async fn connect(&self) -> Result<AsyncSmtpConnection, ConnectorError> {
        let addr = format!("{}:{}", self.host, self.port);
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(&addr))
            .await
            .map_err(|_| ConnectorError::Transient(format!("timed out connecting to {addr}")))?
            .map_err(|e| ConnectorError::Transient(format!("cannot reach {addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Implicit(connector, name) => Box::new(TlsTcp(
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| ConnectorError::Transient(format!("TLS with {addr}: {e}")))?,
            )),
            _ => Box::new(tcp),
        };
        let session = async {
            let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await?;
            if let Security::Starttls(params) = &self.security {
                conn.starttls(params.clone(), &self.hello).await?;
            }
            if let Auth::Password(c) = &self.auth {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], c).await?;
            }
            Ok::<_, lettre::transport::smtp::Error>(conn)
        };
        let mut conn = match tokio::time::timeout(self.timeout, session).await {
            Err(_) => return Err(ConnectorError::Transient(format!("SMTP session with {addr} timed out"))),
            Ok(Err(e)) => return Err(classify(&e)),
            Ok(Ok(conn)) => conn,
        };
        if let Auth::Bearer { user, source } = &self.auth {
            let auth = self.oauth_login(&mut conn, user, source);
            match tokio::time::timeout(self.timeout * 2, auth).await {
                Err(_) => return Err(ConnectorError::Transient(format!("SMTP AUTH with {addr} timed out"))),
                Ok(r) => r?,
            }
        }
        Ok(conn)
    }

    /// AUTH with the cached token; if the server rejects it, once more with a new one.
    async fn oauth_login(
        &self,
        conn: &mut AsyncSmtpConnection,
        user: &str,
        source: &TokenSource,
    ) -> Result<(), ConnectorError> {
        // Token endpoint problems are transient here: the outbox keeps the messages until a person fixes them.
        let oauth = |e: crate::oauth::OAuthError| ConnectorError::Transient(e.to_string());
        let mechanism = source.config().mechanism;
        let token = source.token().await.map_err(oauth)?;
        let why = match bearer_auth(conn, mechanism, user, &self.host, self.port, &token).await {
            Ok(()) => return Ok(()),
            Err(BearerFailure::Other(e)) => return Err(e),
            Err(BearerFailure::Rejected(why)) => why,
        };
        tracing::warn!(%user, %why, "SMTP rejected the OAuth2 token: renewing it once");
        let token = source.after_rejection(&token).await.map_err(oauth)?;
        match bearer_auth(conn, mechanism, user, &self.host, self.port, &token).await {
            Ok(()) => Ok(()),
            Err(BearerFailure::Other(e)) => Err(e),
            Err(BearerFailure::Rejected(why)) => Err(ConnectorError::Transient(format!(
                "SMTP AUTH {} as {user} refused even with a new token ({why}): check that the account may send \
                 with SMTP AUTH (Microsoft 365: Authenticated SMTP enabled for the mailbox, the SMTP.Send \
                 permission) and that `username` is the account the token is for",
                mechanism.sasl_name()
            ))),
        }
    }
}

impl SmtpChannel {
    /// Sends one message on a pooled connection; a connection that failed is dropped.
    async fn deliver(&self, message: &Message, envelope: &Envelope) -> Result<(), ConnectorError> {
        let _permit = self.permits.acquire().await.map_err(|_| ConnectorError::Transient("SMTP pool closed".into()))?;
        let mut reused = self.idle.lock().await.pop();
        if let Some((c, used)) = &mut reused
            && used.elapsed() >= IDLE_CHECK
            && !c.test_connected().await
        {
            reused = None;
        }
        let mut conn = match reused {
            Some((c, _)) => c,
            None => self.server.connect().await?,
        };
        let bytes = message.formatted();
        match tokio::time::timeout(self.server.timeout, conn.send(envelope, &bytes)).await {
            Ok(Ok(_)) => {
                self.idle.lock().await.push((conn, Instant::now()));
                Ok(())
            }
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(ConnectorError::Transient("SMTP send timed out".into())),
        }
    }

    /// `address` with the reply `token` in its local part.
    fn tokenized(&self, address: &Address, token: &str) -> Result<Address, ConnectorError> {
        let plus = relance_engine::replies::token::plus_address(address.as_ref(), self.delimiter, token)
            .ok_or_else(|| ConnectorError::Permanent(format!("`{address}` is not an address")))?;
        plus.parse().map_err(|e| ConnectorError::Permanent(format!("reply address `{plus}`: {e}")))
    }

    /// The SMTP envelope: the message's recipients (Bcc included), from the
    /// VERP address when `return_path` is set.
    pub fn envelope(&self, message: &Message, m: &OutboundMessage) -> Result<Envelope, ConnectorError> {
        let base = message.envelope();
        let Some(return_path) = &self.return_path else { return Ok(base.clone()) };
        let from = match m.reply_token.as_deref() {
            Some(t) => self.tokenized(return_path, t)?,
            None => return_path.clone(),
        };
        Envelope::new(Some(from), base.to().to_vec())
            .map_err(|e| ConnectorError::Permanent(format!("cannot build the envelope: {e}")))
    }

    /// The Message-ID of an outbox token at this sender's domain.
    pub fn message_id(&self, token: &str) -> String {
        format!("<{token}@{}>", self.domain)
    }

    /// Builds the RFC 5322 message.
    pub fn compose(&self, m: &OutboundMessage) -> Result<Message, ConnectorError> {
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(m.subject.clone().unwrap_or_default())
            .date(m.date.into())
            .message_id(Some(self.message_id(&m.token)))
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".into()))
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"), "All".into()))
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("X-Relance-Step"), m.step.clone()))
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("X-Relance-Invoices"), m.invoices.join(", ")));
        for r in &m.recipients {
            let to: Mailbox =
                r.parse().map_err(|e| ConnectorError::Permanent(format!("invalid recipient address `{r}`: {e}")))?;
            b = b.to(to);
        }
        if let Some(r) = &self.reply_to {
            let token = m.reply_token.as_deref().filter(|_| self.reply_tokens);
            b = b.reply_to(match token {
                Some(t) => Mailbox::new(r.name.clone(), self.tokenized(&r.email, t)?),
                None => r.clone(),
            });
        }
        // An answer to the customer's message is threaded to it.
        let answered = m.in_reply_to.as_deref().map(|i| i.trim().trim_matches(['<', '>']));
        if let Some(id) = answered.filter(|i| !i.is_empty() && !i.contains(|c: char| c.is_whitespace() || c == '>')) {
            b = b.in_reply_to(format!("<{id}>")).references(format!("<{id}>"));
        }
        for c in self.bcc.iter().chain(self.archive.as_ref().map(|a| &a.address)) {
            b = b.bcc(c.clone());
        }
        let alternative = MultiPart::alternative()
            .singlepart(SinglePart::plain(m.body_text.clone()))
            .singlepart(SinglePart::html(m.body_html.clone().unwrap_or_else(|| m.body_text.clone())));
        let body = if m.attachments.is_empty() {
            alternative
        } else {
            let mut mixed = MultiPart::mixed().multipart(alternative);
            for a in &m.attachments {
                let ct = ContentType::parse(&a.content_type)
                    .map_err(|e| ConnectorError::Permanent(format!("attachment {}: {e}", a.file_name)))?;
                mixed = mixed.singlepart(Attachment::new(a.file_name.clone()).body(a.bytes.clone(), ct));
            }
            mixed
        };
        b.multipart(body).map_err(|e| ConnectorError::Permanent(format!("cannot build the message: {e}")))
    }
}

#[async_trait]
impl OutboundChannel for SmtpChannel {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, m: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        let message = self.compose(m)?;
        self.deliver(&message, &self.envelope(&message, m)?).await?;
        Ok(SendReceipt { reference: self.message_id(&m.token) })
    }

    /// With a sent archive: searches it for the message's Message-ID.
    async fn find_delivered(&self, m: &OutboundMessage) -> Result<Option<SendReceipt>, ConnectorError> {
        let Some(a) = &self.archive else { return Ok(None) };
        let id = self.message_id(&m.token);
        Ok(a.login.has_message_id(&a.mailbox, &id).await?.then_some(SendReceipt { reference: id }))
    }
}

/// Permanent for a 5xx answer about this message; transient otherwise.
fn classify(e: &lettre::transport::smtp::Error) -> ConnectorError {
    let code = e.status().map(|c| c.to_string());
    let auth = code.as_deref().is_some_and(|c| matches!(c, "530" | "534" | "535" | "538"));
    if e.is_permanent() && !auth {
        ConnectorError::Permanent(format!("SMTP server refused the message: {e}"))
    } else if auth {
        ConnectorError::Transient(format!("SMTP authentication refused (check username/password): {e}"))
    } else {
        ConnectorError::Transient(format!("SMTP: {e}"))
    }
}
