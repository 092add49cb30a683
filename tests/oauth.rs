//! OAuth2 for the mail connectors against the real test servers of
//! scripts/test.sh: the local OAuth2 server (TEST_OAUTH_URL,
//! scripts/test-servers/oauth-server.sh), Dovecot validating XOAUTH2 and
//! OAUTHBEARER tokens through its oauth2 passdb at that server's
//! introspection endpoint, and the aiosmtpd server doing the same.
//!
//! - IMAP login, fetch and IDLE with XOAUTH2 and with OAUTHBEARER;
//! - SMTP send with both, and the sent archive read over IMAP with a token;
//! - a token of a few seconds is renewed before it expires (the server never
//!   sees an expired one); a revoked token is rejected, renewed once, and the
//!   login succeeds;
//! - `relance oauth login`: the authorisation-code flow with PKCE writes the
//!   refresh token (mode 0600) that the connector then uses; refused consent
//!   and a dead refresh token give errors that say what to do, and no token
//!   is ever printed.
//!
//! Each test uses OAuth clients and mailboxes of its own (unique names), so
//! the tests run in parallel against the shared servers.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::imap::{Imap, reply};
use common::{Deployment, HEADER, wait_for};
use relance_connector::{AnyConnector, ConnectorFactory, OutboundMessage};

/// The OAuth2 server's base URL and the IMAP port, or `None` (skip with a note).
fn servers(test: &str) -> Option<(String, u16)> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (var("TEST_OAUTH_URL"), var("TEST_IMAP_PORT").and_then(|p| p.parse().ok())) {
        (Some(url), Some(port)) => Some((url, port)),
        _ => {
            common::server_missing(test);
            None
        }
    }
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{name}-{}-{nanos}", std::process::id())
}

/// One HTTP/1.1 request to the OAuth2 server: (status, headers, body).
fn http(base: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(addr).expect("connect to the test OAuth2 server");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn control(base: &str, path: &str, json: serde_json::Value) -> serde_json::Value {
    let (status, _, body) = http(base, "POST", path, &json.to_string());
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// What the OAuth2 server counted for a client (grants issued, introspection outcomes).
fn stats(base: &str, client: &str) -> serde_json::Value {
    let (_, _, body) = http(base, "GET", &format!("/control/stats?client_id={client}"), "");
    serde_json::from_str(&body).unwrap()
}

fn n(stats: &serde_json::Value, key: &str) -> u64 {
    stats[key].as_u64().unwrap_or(0)
}

/// A client of the test server with a refresh token for `user`, written to `<deployment>/rt`.
fn client_with_refresh_token(base: &str, d: &Deployment, client: &str, user: &str, lifetime: u64) -> String {
    control(base, "/control/client", serde_json::json!({"client_id": client, "lifetime": lifetime}));
    let rt = control(
        base,
        "/control/refresh-token",
        serde_json::json!({"client_id": client, "username": user, "scope": "mail"}),
    );
    let rt = rt["refresh_token"].as_str().unwrap().to_string();
    d.write("rt", format!("{rt}\n"));
    rt
}

/// The `[connectors.<name>.oauth]` table for the test server.
fn oauth_table(table: &str, base: &str, client: &str, mechanism: &str, refresh: &str) -> String {
    format!(
        "[{table}]\nprovider = \"custom\"\nclient_id = \"{client}\"\ntoken_url = \"{base}/token\"\nauthorize_url = \"{base}/authorize\"\n\
         scopes = [\"mail\"]\nmechanism = \"{mechanism}\"\nrefresh_token = \"{refresh}\"\n"
    )
}

/// A tenant reading `user`'s mailbox over IMAP with OAuth2 (plaintext loopback server).
fn imap_deployment(base: &str, port: u16, user: &str, client: &str, mechanism: &str, extra: &str) -> Deployment {
    let tenant = format!(
        "[api]\ntokens = [\"oauth-token-1\"]\n[connectors.erp]\nkind = \"csv_invoices\"\npath = \"../in\"\nsettle = \"0s\"\n\
         [connectors.mail]\nkind = \"imap_mailbox\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nallow_plaintext = true\n\
         username = \"{user}\"\n{extra}\n{}",
        oauth_table("connectors.mail.oauth", base, client, mechanism, "file:../rt")
    );
    let d = Deployment::new("", &[("acme", &tenant)]);
    d.write("in/open.csv", format!("{HEADER}FAC-1001,C1,Client,,,2026-09-01,2026-10-01,EUR,100.00,100.00\n"));
    d
}

fn handled(d: &Deployment) -> i64 {
    let Some(db) = d.try_db() else { return 0 };
    db.query_row("SELECT count(*) FROM inbound_messages WHERE moved_to IS NOT NULL", [], |r| r.get(0)).unwrap_or(0)
}

/// Login, fetch (`run --once`), then IDLE in the daemon: a message appended
/// while it waits is handled within seconds.
fn imap_login_fetch_and_idle(mechanism: &str) {
    let Some((base, port)) = servers(&format!("IMAP with {mechanism}")) else { return };
    let user = format!("{}@tenant-a.test", unique(&format!("oauth-{mechanism}")));
    let client = unique(&format!("imap-{mechanism}"));
    let mut imap = Imap::login(port, &user, "password");
    imap.append("INBOX", &reply(1, "RE: Facture FAC-1001", "Le virement partira vendredi."));
    let d = imap_deployment(&base, port, &user, &client, mechanism, "idle_timeout = \"1m\"");
    let rt = client_with_refresh_token(&base, &d, &client, &user, 3600);
    let out = d.run(&["run", "--once"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert_eq!(handled(&d), 1, "the message was fetched and filed: {text}");
    assert_eq!(imap.count("Relance/Processed"), 1);
    assert!(!text.contains(&rt) && !text.contains("at-"), "no token in the output: {text}");
    let s = stats(&base, &client);
    assert_eq!(n(&s, "token:refresh_token"), 1, "{s}");
    assert!(n(&s, "introspect:active") >= 1, "Dovecot checked the token: {s}");
    // IDLE: the daemon waits on the server; a new message is handled at once.
    let daemon = d.daemon();
    std::thread::sleep(Duration::from_millis(800));
    imap.append("INBOX", &reply(2, "RE: Relance", "Nous contestons la facture FAC-1001."));
    let start = Instant::now();
    wait_for(Duration::from_secs(15), "the message pushed during IDLE", || handled(&d) == 2);
    assert!(start.elapsed() < Duration::from_secs(5), "handled in {:?}", start.elapsed());
    let log = daemon.log();
    assert!(!log.contains(&rt) && !log.contains("at-"), "no token in the log: {log}");
}

#[test]
fn imap_login_fetch_and_idle_with_xoauth2() {
    imap_login_fetch_and_idle("xoauth2");
}

#[test]
fn imap_login_fetch_and_idle_with_oauthbearer() {
    imap_login_fetch_and_idle("oauthbearer");
}

#[test]
fn a_short_lived_token_is_renewed_before_it_expires() {
    let Some((base, port)) = servers("token renewal before expiry") else { return };
    let user = format!("{}@tenant-a.test", unique("oauth-expiry"));
    let client = unique("imap-expiry");
    let mut imap = Imap::login(port, &user, "password");
    // IDLE ends every second: the connector logs in again and again.
    let d = imap_deployment(&base, port, &user, &client, "xoauth2", "idle_timeout = \"1s\"");
    client_with_refresh_token(&base, &d, &client, &user, 3);
    let _daemon = d.daemon();
    let start = Instant::now();
    let mut sent = 0;
    while start.elapsed() < Duration::from_secs(8) {
        sent += 1;
        imap.append("INBOX", &reply(sent, "RE: Relance", "Le virement partira vendredi."));
        std::thread::sleep(Duration::from_millis(1500));
    }
    wait_for(Duration::from_secs(15), "every message handled", || handled(&d) == i64::from(sent));
    let s = stats(&base, &client);
    // 3 s tokens renewed half-way: at least 4 in 8 s, and the server never saw an expired one.
    assert!(n(&s, "token:refresh_token") >= 4, "{s}");
    assert_eq!(n(&s, "introspect:expired"), 0, "an expired token was presented: {s}");
    assert!(n(&s, "introspect:active") >= 5, "{s}");
}

#[test]
fn a_revoked_token_is_renewed_once_and_the_login_succeeds() {
    let Some((base, port)) = servers("token renewal after rejection") else { return };
    let user = format!("{}@tenant-a.test", unique("oauth-revoked"));
    let client = unique("imap-revoked");
    let mut imap = Imap::login(port, &user, "password");
    let d = imap_deployment(&base, port, &user, &client, "oauthbearer", "idle_timeout = \"1s\"");
    client_with_refresh_token(&base, &d, &client, &user, 3600);
    let daemon = d.daemon();
    imap.append("INBOX", &reply(1, "RE: Relance", "Le virement partira vendredi."));
    wait_for(Duration::from_secs(15), "the first message", || handled(&d) == 1);
    assert_eq!(n(&stats(&base, &client), "token:refresh_token"), 1, "one token, cached");
    // The provider revokes the token the connector holds (a password change, an admin).
    let revoked = control(&base, "/control/revoke", serde_json::json!({"client_id": client}));
    assert_eq!(revoked["revoked"], 1, "{revoked}");
    imap.append("INBOX", &reply(2, "RE: Relance", "Nous contestons la facture FAC-1001."));
    wait_for(Duration::from_secs(15), "the message after the revocation", || handled(&d) == 2);
    let s = stats(&base, &client);
    assert!(n(&s, "introspect:revoked") >= 1, "the revoked token was presented and refused: {s}");
    assert_eq!(n(&s, "token:refresh_token"), 2, "renewed exactly once: {s}");
    assert!(daemon.log().contains("rejected the OAuth2 token"), "{}", daemon.log());
}

/// The SMTP test server (with Dovecot behind it for the archive), or `None`.
fn smtp_servers(test: &str) -> Option<(String, common::smtp::SmtpServer)> {
    let (base, _) = servers(test)?;
    Some((base, common::smtp::server(test)?))
}

/// Builds the `mail` SMTP connector of a deployment.
fn smtp_channel(d: &Deployment) -> std::sync::Arc<dyn relance_connector::OutboundChannel> {
    let settings = relance_config::Settings::load(&d.config()).unwrap_or_else(|e| panic!("{e}"));
    let tenant = &settings.tenants[0];
    let conn = tenant.connectors.iter().find(|c| c.name == "mail").unwrap();
    match relance_connectors::smtp::SmtpFactory.build(tenant, conn) {
        Ok(AnyConnector::OutboundChannel(c)) => c,
        Ok(_) => panic!("not a channel"),
        Err(e) => panic!("{e}"),
    }
}

fn message(to: &str, token: &str) -> OutboundMessage {
    OutboundMessage {
        tenant: relance_domain::TenantId::new("acme").unwrap(),
        tenant_name: "Acme".into(),
        customer_id: "C1".into(),
        customer_name: "Client".into(),
        channel: relance_domain::Channel::Email,
        idempotency_key: token.into(),
        token: token.into(),
        step: "courteous".into(),
        invoices: vec!["FAC-1001".into()],
        language: relance_domain::Language::Fr,
        recipients: vec![to.into()],
        postal_address: None,
        sender_address: vec![],
        subject: Some("Facture FAC-1001".into()),
        body_text: "Bonjour".into(),
        body_html: None,
        attachments: vec![],
        date: chrono::Utc::now(),
        planned_for: chrono::Utc::now().date_naive(),
        in_reply_to: None,
        reply_token: None,
    }
}

fn smtp_send(mechanism: &str) {
    let Some((base, srv)) = smtp_servers(&format!("SMTP with {mechanism}")) else { return };
    let sender = format!("{}@relance.test", unique(&format!("smtp-{mechanism}")));
    let archive = format!("{}@relance.test", unique(&format!("archive-{mechanism}")));
    let (client, archive_client) = (unique(&format!("smtp-{mechanism}")), unique(&format!("archive-{mechanism}")));
    let tenant = format!(
        "[api]\ntokens = [\"oauth-token-1\"]\n[connectors.mail]\nkind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         tls = \"starttls\"\ntls_name = \"localhost\"\nca_file = \"{ca}\"\nfrom = \"Acme <{sender}>\"\nusername = \"{sender}\"\n\
         [connectors.mail.archive]\naddress = \"{archive}\"\nhost = \"127.0.0.1\"\nport = {imap}\ntls = \"starttls\"\n\
         ca_file = \"{imap_ca}\"\nusername = \"{archive}\"\n{}\n{}",
        oauth_table("connectors.mail.oauth", &base, &client, mechanism, "file:../rt"),
        oauth_table("connectors.mail.archive.oauth", &base, &archive_client, mechanism, "file:../rt-archive"),
        port = srv.port,
        ca = srv.ca.display(),
        imap = srv.imap_port,
        imap_ca = srv.imap_ca.display(),
    );
    let d = Deployment::new("", &[("acme", &tenant)]);
    client_with_refresh_token(&base, &d, &client, &sender, 3600);
    control(&base, "/control/client", serde_json::json!({"client_id": archive_client}));
    let rt = control(
        &base,
        "/control/refresh-token",
        serde_json::json!({"client_id": archive_client, "username": archive, "scope": "mail"}),
    );
    d.write("rt-archive", rt["refresh_token"].as_str().unwrap());
    let channel = smtp_channel(&d);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let domain = format!("{}.test", unique("oauth-smtp"));
    let since = srv.last_seq();
    let first = message(&format!("client@{domain}"), &unique("m1"));
    rt.block_on(channel.send(&first)).unwrap_or_else(|e| panic!("send: {e}"));
    let got = srv.delivered_to(&domain, since);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].auth_user.as_deref(), Some(sender.as_str()), "authenticated as the sender");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(srv.dir.join(format!("{:06}.json", got[0].seq))).unwrap())
            .unwrap();
    assert_eq!(meta["auth_mechanism"], mechanism.to_uppercase());
    assert_eq!(got[0].tls.as_deref(), Some("TLSv1.3"));
    // The sent archive is read over IMAP with its own token.
    let found = rt.block_on(channel.find_delivered(&first)).unwrap_or_else(|e| panic!("archive: {e}"));
    assert!(found.is_some(), "the message is in the sent archive");
    assert!(rt.block_on(channel.find_delivered(&message("x@y.test", "never-sent"))).unwrap().is_none());
    // A revoked token: two messages at once, so one goes on the pooled
    // connection and the other opens a new one, whose AUTH with the cached
    // token is refused; the token is renewed once and the message goes.
    assert_eq!(n(&stats(&base, &client), "token:refresh_token"), 1);
    control(&base, "/control/revoke", serde_json::json!({"client_id": client}));
    let (second, third) =
        (message(&format!("client@{domain}"), &unique("m2")), message(&format!("client@{domain}"), &unique("m3")));
    let (a, b) = rt.block_on(async { tokio::join!(channel.send(&second), channel.send(&third)) });
    a.unwrap_or_else(|e| panic!("send after revocation: {e}"));
    b.unwrap_or_else(|e| panic!("send after revocation: {e}"));
    assert_eq!(srv.delivered_to(&domain, since).len(), 3);
    let s = stats(&base, &client);
    assert!(n(&s, "introspect:revoked") >= 1, "the revoked token was presented and refused: {s}");
    assert_eq!(n(&s, "token:refresh_token"), 2, "renewed exactly once: {s}");
}

#[test]
fn smtp_send_and_archive_with_xoauth2() {
    smtp_send("xoauth2");
}

#[test]
fn smtp_send_and_archive_with_oauthbearer() {
    smtp_send("oauthbearer");
}

/// `relance oauth login` answered by a "browser" that follows the printed
/// address to the test server and pastes where it was sent back: (exit
/// success, stdout + stderr).
fn oauth_login(d: &Deployment, base: &str) -> (bool, String) {
    let mut child = d
        .relance()
        .args(["oauth", "login", "--tenant", "acme", "--connector", "mail", "--config"])
        .arg(d.config())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn relance oauth login");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "no address printed: {printed}");
        printed.push_str(&line);
        if line.starts_with(base) {
            break line.trim().to_string();
        }
    };
    assert!(url.contains("code_challenge_method=S256") && url.contains("state="), "{url}");
    let (status, head, _) = http(base, "GET", url.trim_start_matches(base), "");
    assert_eq!(status, 302, "{head}");
    let location = head.lines().find_map(|l| l.strip_prefix("Location: ")).unwrap().trim().to_string();
    child.stdin.take().unwrap().write_all(format!("{location}\n").as_bytes()).unwrap();
    stdout.read_to_string(&mut printed).unwrap();
    let out = child.wait_with_output().unwrap();
    printed.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), printed)
}

#[test]
fn oauth_login_stores_a_refresh_token_the_connector_uses() {
    let Some((base, port)) = servers("relance oauth login") else { return };
    let user = format!("{}@tenant-a.test", unique("oauth-login"));
    let client = unique("login");
    let mut imap = Imap::login(port, &user, "password");
    imap.append("INBOX", &reply(1, "RE: Relance", "Le virement partira vendredi."));
    let tenant = format!(
        "[connectors.mail]\nkind = \"imap_mailbox\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nallow_plaintext = true\n\
         username = \"{user}\"\n{}",
        oauth_table("connectors.mail.oauth", &base, &client, "xoauth2", "file:../secrets/mail.token")
    );
    let d = Deployment::new("", &[("acme", &tenant)]);
    control(&base, "/control/client", serde_json::json!({"client_id": client}));
    let (ok, printed) = oauth_login(&d, &base);
    assert!(ok, "{printed}");
    let path = d.path("secrets/mail.token");
    let token = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert!(token.starts_with("rt-"), "a refresh token is stored");
    assert!(!printed.contains(&token), "the token is not printed: {printed}");
    assert!(printed.contains(&format!("refresh_token = \"file:{}\"", path.display())), "{printed}");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // The connector logs in with it.
    let out = d.run(&["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(handled(&d), 1);
    let s = stats(&base, &client);
    assert_eq!((n(&s, "token:authorization_code"), n(&s, "token:refresh_token")), (1, 1), "{s}");

    // The refresh token dies (revoked by an administrator): the run fails and says what to do.
    control(&base, "/control/client", serde_json::json!({"client_id": client, "error": "invalid_grant"}));
    let out = d.run(&["run", "--once"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("connectors.mail.oauth: the refresh token is no longer valid")
            && text.contains("sign in again with `relance oauth login --tenant acme --connector mail`"),
        "{text}"
    );
    assert!(!text.contains(&token), "the token is not printed: {text}");
}

#[test]
fn refused_consent_gives_a_clear_error() {
    let Some((base, port)) = servers("refused consent") else { return };
    let client = unique("noconsent");
    let tenant = format!(
        "[connectors.mail]\nkind = \"imap_mailbox\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nallow_plaintext = true\n\
         username = \"someone@tenant-a.test\"\n{}",
        oauth_table("connectors.mail.oauth", &base, &client, "xoauth2", "file:../rt")
    );
    let d = Deployment::new("", &[("acme", &tenant)]);
    control(&base, "/control/client", serde_json::json!({"client_id": client, "error": "consent_required"}));
    // At sign-in: the provider sends the browser back with access_denied.
    let (ok, printed) = oauth_login(&d, &base);
    assert!(!ok, "{printed}");
    assert!(printed.contains("connectors.mail.oauth: the provider refused consent"), "{printed}");
    assert!(printed.contains("Grant admin consent"), "{printed}");
    assert!(!d.path("secrets/mail.refresh-token").exists());
    // At run time (consent withdrawn after the sign-in): the token endpoint says consent_required.
    d.write("rt", "rt-some-old-token\n");
    let out = d.run(&["run", "--once"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("the provider refused consent (consent_required"), "{text}");
    assert!(!text.contains("rt-some-old-token"), "{text}");
}
