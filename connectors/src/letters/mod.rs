//! Letters (`kind = "letters"`): each letter step (the formal notice, by
//! default) is rendered as a PDF in the French letter layout
//! ([`crate::letters::pdf`], with the Unicode fonts of
//! [`crate::letters::fonts`] embedded) and written to
//! an outbox folder, `<path>/<planned day>_<customer>_<step>_<token>.pdf`,
//! for the mail room or a print-and-mail service to pick up; optionally the
//! PDF is also POSTed to a print API (`post_url`, with an `Idempotency-Key`
//! header carrying the token).
//!
//! Exactly once on disk: the file is written to a temporary name, synced
//! and renamed; a file already there under the same token means the letter
//! was produced before (a retry after a crash), and it is not written again.

pub mod dossier;
pub mod fonts;
pub mod pdf;
pub mod shape;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use self::pdf::{Letter, render};
use relance_config::{ConfigError, ConnectorConfig, Schedule, TenantConfig, connector_settings, join_clean};
use relance_connector::{
    AnyConnector, ConnectorError, ConnectorFactory, OutboundChannel, OutboundMessage, SendReceipt,
};
use relance_domain::{Channel, Language};

/// `letters`: reminder letters (formal notices) as PDF files for the mail room, or posted to a
/// print-and-mail API.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Folder the PDF letters are written to (relative to the tenant file; created when missing).
    path: PathBuf,
    /// Print-and-mail API receiving each PDF (`application/pdf` POST).
    #[serde(default)]
    post_url: Option<String>,
    /// Extra headers of the print API request (values may be secret references).
    #[serde(default)]
    post_headers: BTreeMap<String, String>,
}

/// Factory for `kind = "letters"`.
pub struct LettersFactory;

impl ConnectorFactory for LettersFactory {
    fn kind(&self) -> &'static str {
        "letters"
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
        let post = match &s.post_url {
            Some(u) => {
                let url = reqwest::Url::parse(u).map_err(|e| err("post_url", format!("`{u}`: {e}")))?;
                let headers = crate::http::headers(&s.post_headers, &tenant.base_dir)
                    .map_err(|(k, e)| err(&format!("post_headers.{k}"), e))?;
                let client = crate::http::client(Duration::from_secs(30)).map_err(|e| err("post_url", e))?;
                Some(PrintApi { url, headers, client })
            }
            None => None,
        };
        Ok(AnyConnector::OutboundChannel(Arc::new(Letters { dir: join_clean(&tenant.base_dir, &s.path), post })))
    }
}

pub struct Letters {
    dir: PathBuf,
    post: Option<PrintApi>,
}

/// Where letters are also POSTed.
struct PrintApi {
    url: reqwest::Url,
    headers: Vec<(String, String)>,
    client: reqwest::Client,
}

/// The letter of an outbound message: the text's own header (the sender,
/// recipient and date lines templates write for email) is replaced by the
/// letter's blocks, its `Objet :` line becomes the subject, its closing
/// line naming the sender the signature block.
pub fn letter_of(m: &OutboundMessage) -> Letter {
    let sender = if m.sender_address.is_empty() { vec![m.tenant_name.clone()] } else { m.sender_address.clone() };
    let mut recipient = vec![m.customer_name.clone()];
    let same = |a: &str, b: &str| a.trim().to_lowercase() == b.trim().to_lowercase();
    let address = m.postal_address.iter().flat_map(|a| a.lines()).filter(|l| !l.trim().is_empty());
    // an address that repeats the name on its first line gives it once
    recipient.extend(
        address.enumerate().filter(|(i, l)| !(*i == 0 && same(l, &m.customer_name))).map(|(_, l)| l.to_string()),
    );
    let names: Vec<&str> = [m.tenant_name.as_str(), sender.first().map_or("", String::as_str)]
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect();
    let parts = letter_parts(&m.body_text, &names);
    let fr = m.language == Language::Fr;
    let subject = parts.subject.or_else(|| {
        let s = m.subject.as_deref()?.trim();
        let s = names.iter().fold(s, |s, n| s.strip_suffix(n).map_or(s, |r| r.trim_end().trim_end_matches(['–', '-'])));
        let s = s.trim();
        (!s.is_empty()).then(|| if fr { format!("Objet : {s}") } else { format!("Subject: {s}") })
    });
    let date = parts.date.unwrap_or_else(|| match m.language {
        Language::Fr => m.planned_for.format("%d/%m/%Y").to_string(),
        Language::En => m.planned_for.format("%-d %B %Y").to_string(),
    });
    let place_date = match (city(&sender), fr) {
        (Some(c), true) => format!("À {c}, le {date}"),
        (None, true) => format!("Le {date}"),
        (Some(c), false) => format!("{c}, {date}"),
        (None, false) => date,
    };
    let mention = is_formal_notice(&m.step, subject.as_deref())
        .then_some(if fr { MENTION_FR } else { MENTION_EN })
        .filter(|_| !mentions_registered_mail(&m.body_text))
        .map(str::to_string);
    let signature = parts.signature.map_or_else(|| vec![m.tenant_name.clone()], |s| vec![s]);
    Letter {
        sender,
        recipient,
        place_date,
        mention,
        subject,
        body: parts.body,
        signature,
        title: m.subject.clone().unwrap_or_default(),
        language: m.language.as_str().to_string(),
        created: m.date,
    }
}

const MENTION_FR: &str = "Lettre recommandée avec accusé de réception";
const MENTION_EN: &str = "Registered letter with acknowledgement of receipt";

/// Whether the letter is a formal notice (mise en demeure): its step, or
/// its subject opening with the words.
fn is_formal_notice(step: &str, subject: Option<&str>) -> bool {
    let what = subject.map(|s| {
        let s = s.trim_start();
        let s = ["Objet", "Subject"].iter().find_map(|p| s.strip_prefix(p)).unwrap_or(s);
        s.trim_start_matches([' ', ':', '\u{a0}', '\u{202f}']).to_lowercase()
    });
    step == "formal_notice" || what.is_some_and(|s| s.starts_with("mise en demeure") || s.starts_with("formal notice"))
}

/// Whether the text already says the letter goes by registered mail.
fn mentions_registered_mail(text: &str) -> bool {
    let t = text.to_lowercase();
    ["recommandée", "recommandee", "accusé de réception", "registered letter", "registered mail"]
        .iter()
        .any(|w| t.contains(w))
}

/// The town of the sender's address: the text after the postcode on the
/// last line that starts with one (`75002 Paris`, `69003 LYON CEDEX 03`).
fn city(sender: &[String]) -> Option<String> {
    sender.iter().skip(1).rev().find_map(|line| {
        let line = line.trim();
        let code: String = line.chars().take_while(char::is_ascii_digit).collect();
        if !(4..=5).contains(&code.len()) {
            return None;
        }
        let rest = line[code.len()..].trim();
        let town = match rest.to_lowercase().find(" cedex") {
            Some(i) => rest[..i].trim(),
            None => rest,
        };
        (!town.is_empty() && !town.chars().any(|c| c.is_ascii_digit())).then(|| town.to_string())
    })
}

/// A template's text taken apart for the letter layout.
#[derive(Debug, PartialEq, Eq)]
struct LetterParts {
    /// The date the text states (`28/12/2026`), from its header.
    date: Option<String>,
    /// Its `Objet :` / `Subject:` line.
    subject: Option<String>,
    /// The text from after the subject on (or all of it).
    body: String,
    /// Its closing line, when that is one line naming the sender.
    signature: Option<String>,
}

/// Takes the header off `text` (templates written for email open with the
/// sender, the recipient and the date, the letter prints those in its own
/// blocks), and its subject line and closing line out of it. `names` are
/// the sender's names, which open the header and end the closing line.
fn letter_parts(text: &str, names: &[&str]) -> LetterParts {
    let lines: Vec<&str> = text.lines().collect();
    let subject_at = lines.iter().position(|l| l.starts_with("Objet") || l.starts_with("Subject"));
    // the header: the lines before the subject, or a first paragraph opening with the sender's name
    let header_end = subject_at.or_else(|| {
        let end = lines.iter().position(|l| l.trim().is_empty())?;
        let opens = lines.first().is_some_and(|l| names.iter().any(|n| l.trim() == *n));
        (opens && end <= 4).then_some(end)
    });
    let (date, rest) = match header_end {
        Some(end) => {
            let dated = lines[..end].iter().rev().find(|l| l.chars().any(|c| c.is_ascii_digit()));
            let date = dated.map(|l| {
                let l = l.trim();
                ["Le ", "le "].iter().find_map(|p| l.strip_prefix(p)).unwrap_or(l).trim().to_string()
            });
            (date, &lines[end..])
        }
        None => (None, &lines[..]),
    };
    let (subject, rest) = match (subject_at, rest.split_first()) {
        (Some(_), Some((s, rest))) => (Some(s.trim().to_string()), rest),
        _ => (None, rest),
    };
    let mut body: Vec<&str> = rest.to_vec();
    while body.first().is_some_and(|l| l.trim().is_empty()) {
        body.remove(0);
    }
    while body.last().is_some_and(|l| l.trim().is_empty()) {
        body.pop();
    }
    // the closing line: a last paragraph of one line naming the sender
    let n = body.len();
    let closing =
        n >= 1 && (n == 1 || body[n - 2].trim().is_empty()) && names.iter().any(|name| body[n - 1].contains(name));
    let signature = if closing { body.pop().map(|l| l.trim().to_string()) } else { None };
    while body.last().is_some_and(|l| l.trim().is_empty()) {
        body.pop();
    }
    LetterParts { date, subject, body: body.join("\n"), signature }
}

fn file_name(m: &OutboundMessage) -> String {
    let safe = |s: &str| s.chars().map(|c| if c.is_alphanumeric() || c == '-' { c } else { '_' }).collect::<String>();
    format!("{}_{}_{}_{}.pdf", m.planned_for, safe(&m.customer_id), safe(&m.step), m.token)
}

#[async_trait]
impl OutboundChannel for Letters {
    fn channel(&self) -> Channel {
        Channel::Letter
    }

    async fn send(&self, m: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        let path = self.dir.join(file_name(m));
        let pdf = render(&letter_of(m)).map_err(|e| ConnectorError::Permanent(e.to_string()))?;
        let (dir, target, bytes) = (self.dir.clone(), path.clone(), pdf.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if target.exists() {
                return Ok(());
            }
            std::fs::create_dir_all(&dir)?;
            let tmp = dir.join(format!(".{}.tmp", target.file_name().and_then(|n| n.to_str()).unwrap_or("letter")));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &target)
        })
        .await
        .map_err(|e| ConnectorError::Transient(e.to_string()))?
        .map_err(|e| ConnectorError::Transient(format!("cannot write {}: {e}", path.display())))?;
        if let Some(PrintApi { url, headers, client }) = &self.post {
            let mut req =
                client.post(url.clone()).header("content-type", "application/pdf").header("idempotency-key", &m.token);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            crate::http::send(&format!("print API {url}"), req.body(pdf)).await?;
        }
        Ok(SendReceipt { reference: path.display().to_string() })
    }

    /// A letter is delivered once its file is there (and, with a print API,
    /// the POST is repeated: the API dedupes by `Idempotency-Key`).
    async fn find_delivered(&self, m: &OutboundMessage) -> Result<Option<SendReceipt>, ConnectorError> {
        let path = self.dir.join(file_name(m));
        Ok((self.post.is_none() && path.exists()).then(|| SendReceipt { reference: path.display().to_string() }))
    }

    /// The letter's PDF, exactly as `send` writes it (none when it cannot
    /// be rendered: `send` would fail with the reason).
    fn preview(&self, m: &OutboundMessage) -> Option<relance_connector::Document> {
        match render(&letter_of(m)) {
            Ok(bytes) => Some(relance_connector::Document {
                file_name: file_name(m),
                content_type: "application/pdf".into(),
                bytes,
            }),
            Err(e) => {
                tracing::warn!(customer = %m.customer_id, error = %e, "letter preview cannot be rendered");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
