//! Reading what the test SMTP server (scripts/test-servers/smtp-server.sh,
//! started by scripts/test.sh) accepted: one `NNNNNN.json` envelope and one
//! `NNNNNN.eml` per message, written before the server answers 250.

use std::path::PathBuf;

/// The server's port, CA and message folder, or `None` (tests then skip with a note).
pub struct SmtpServer {
    pub port: u16,
    pub ca: PathBuf,
    pub dir: PathBuf,
    /// Dovecot (the LMTP bridge's target), for the sent archive.
    pub imap_port: u16,
    pub imap_ca: PathBuf,
}

pub fn server(test: &str) -> Option<SmtpServer> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (var("TEST_SMTP_PORT"), var("TEST_SMTP_CA"), var("TEST_SMTP_DIR"), var("TEST_IMAP_PORT"), var("TEST_IMAP_CA"))
    {
        (Some(p), Some(ca), Some(dir), Some(ip), Some(ica)) => Some(SmtpServer {
            port: p.parse().ok()?,
            ca: ca.into(),
            dir: dir.into(),
            imap_port: ip.parse().ok()?,
            imap_ca: ica.into(),
        }),
        _ => {
            super::server_missing(test);
            None
        }
    }
}

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub seq: u64,
    pub rcpt_tos: Vec<String>,
    pub mail_from: String,
    pub tls: Option<String>,
    pub auth_user: Option<String>,
    pub listener_port: u64,
    /// Decoded subject, as the server read it.
    pub subject: String,
    /// The raw message.
    pub eml: String,
}

impl Delivered {
    /// An unfolded header's value (first occurrence, case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.eml.split("\r\n\r\n").next().unwrap_or_default().replace("\r\n ", " ").replace("\r\n\t", " ");
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

impl SmtpServer {
    /// A tenant's `[connectors.mail]` sending through this server (STARTTLS with
    /// the test CA), with `extra` lines (`reply_to = …`) appended to the section.
    pub fn mail_connector(&self, extra: &str) -> String {
        format!(
            "[connectors.mail]\nkind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"starttls\"\ntls_name = \"localhost\"\nca_file = \"{}\"\nfrom = \"Acme Relances <relances@acme.test>\"\n{extra}",
            self.port,
            self.ca.display()
        )
    }

    /// The mail connector's sent archive: Dovecot's mailbox `address` (STARTTLS).
    pub fn archive_connector(&self, address: &str) -> String {
        format!(
            "[connectors.mail.archive]\naddress = \"{address}\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\nusername = \"{address}\"\npassword = \"password\"\n",
            self.imap_port,
            self.imap_ca.display()
        )
    }

    /// `[connectors.inbox]` reading Dovecot's mailbox `user` in clear, with `extra` lines.
    pub fn inbox_connector(&self, user: &str, extra: &str) -> String {
        format!(
            "[connectors.inbox]\nkind = \"imap_mailbox\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nallow_plaintext = true\nusername = \"{user}\"\npassword = \"password\"\n{extra}",
            self.imap_port
        )
    }

    /// The sequence number of the last message accepted so far (0 when none).
    pub fn last_seq(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    /// Messages accepted after `since` with a recipient at `@domain`, in order.
    pub fn delivered_to(&self, domain: &str, since: u64) -> Vec<Delivered> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return out };
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let Ok(meta) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
            let rcpt: Vec<String> = meta["rcpt_tos"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            if meta["seq"].as_u64().unwrap_or(0) <= since || !rcpt.iter().any(|r| r.ends_with(&format!("@{domain}"))) {
                continue;
            }
            let Ok(eml) = std::fs::read(path.with_extension("eml")) else { continue };
            out.push(Delivered {
                seq: meta["seq"].as_u64().unwrap_or(0),
                rcpt_tos: rcpt,
                mail_from: meta["mail_from"].as_str().unwrap_or_default().to_string(),
                tls: meta["tls"].as_str().map(String::from),
                auth_user: meta["auth_user"].as_str().map(String::from),
                listener_port: meta["listener_port"].as_u64().unwrap_or(0),
                subject: meta["subject"].as_str().unwrap_or_default().to_string(),
                eml: String::from_utf8_lossy(&eml).to_string(),
            });
        }
        out.sort_by_key(|d| d.seq);
        out
    }
}

impl SmtpServer {
    /// Hands `message` to the server as another mail system would (plaintext
    /// ESMTP, no AUTH): envelope sender `mail_from` (`""` for a bounce's null
    /// sender), one recipient. With the LMTP bridge, a recipient Dovecot
    /// knows (plus-addressed too) finds it in its INBOX. Panics on any
    /// answer other than 2xx/3xx.
    pub fn submit(&self, mail_from: &str, rcpt_to: &str, message: &[u8]) {
        use std::io::{BufRead, BufReader, Write};
        let stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the test SMTP server");
        stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut answer = |writer: &mut std::net::TcpStream, line: Option<String>| {
            if let Some(l) = line {
                writer.write_all(l.as_bytes()).unwrap();
            }
            loop {
                let mut l = String::new();
                reader.read_line(&mut l).expect("an SMTP answer");
                assert!(l.starts_with('2') || l.starts_with('3'), "SMTP refused: {l}");
                if l.as_bytes().get(3) != Some(&b'-') {
                    return;
                }
            }
        };
        answer(&mut writer, None);
        answer(&mut writer, Some("EHLO mx.test\r\n".into()));
        answer(&mut writer, Some(format!("MAIL FROM:<{mail_from}>\r\n")));
        answer(&mut writer, Some(format!("RCPT TO:<{rcpt_to}>\r\n")));
        answer(&mut writer, Some("DATA\r\n".into()));
        let text = String::from_utf8_lossy(message).replace("\r\n", "\n").replace('\n', "\r\n");
        let stuffed: Vec<String> =
            text.split("\r\n").map(|l| if l.starts_with('.') { format!(".{l}") } else { l.to_string() }).collect();
        answer(&mut writer, Some(format!("{}\r\n.\r\n", stuffed.join("\r\n").trim_end_matches("\r\n"))));
        answer(&mut writer, Some("QUIT\r\n".into()));
    }
}
