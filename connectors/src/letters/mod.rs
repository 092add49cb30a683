//! Letters (`kind = "letters"`): each letter step (the formal notice, by
//! default) is rendered as a PDF ([`crate::letters::pdf`]) and written to
//! an outbox folder, `<path>/<planned day>_<customer>_<step>_<token>.pdf`,
//! for the mail room or a print-and-mail service to pick up; optionally the
//! PDF is also POSTed to a print API (`post_url`, with an `Idempotency-Key`
//! header carrying the token).
//!
//! Exactly once on disk: the file is written to a temporary name, synced
//! and renamed; a file already there under the same token means the letter
//! was produced before (a retry after a crash), and it is not written again.

pub mod pdf;

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
use relance_domain::Channel;

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

/// The letter of an outbound message.
pub fn letter_of(m: &OutboundMessage) -> Letter {
    let sender = if m.sender_address.is_empty() { vec![m.tenant_name.clone()] } else { m.sender_address.clone() };
    let mut recipient = vec![m.customer_name.clone()];
    recipient.extend(m.postal_address.iter().flat_map(|a| a.lines().map(str::to_string)));
    Letter {
        sender,
        recipient,
        title: m.subject.clone().unwrap_or_default(),
        body: letter_body(&m.body_text),
        created: m.date.format("D:%Y%m%d%H%M%SZ").to_string(),
    }
}

/// The text under the address blocks: templates that open with their own
/// sender and recipient lines (as the formal notice does, for email) keep
/// only their date line before the subject line, the blocks being printed
/// above.
fn letter_body(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(subject) = lines.iter().position(|l| l.starts_with("Objet") || l.starts_with("Subject")) else {
        return text.to_string();
    };
    // the date: the last line before the subject with a digit in it
    let dated = lines[..subject].iter().rev().find(|l| l.chars().any(|c| c.is_ascii_digit()));
    let mut out: Vec<&str> = dated.copied().into_iter().collect();
    if !out.is_empty() {
        out.push("");
    }
    out.extend_from_slice(&lines[subject..]);
    out.join("\n")
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
        let pdf = render(&letter_of(m));
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

    /// The letter's PDF, exactly as `send` writes it.
    fn preview(&self, m: &OutboundMessage) -> Option<relance_connector::Document> {
        Some(relance_connector::Document {
            file_name: file_name(m),
            content_type: "application/pdf".into(),
            bytes: render(&letter_of(m)),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn letter_body_drops_the_address_lines_of_the_template() {
        let fr = "Acme\nà Dave SAS\nLe 28/12/2026\n\nObjet : mise en demeure\n\nMadame, Monsieur,";
        assert_eq!(super::letter_body(fr), "Le 28/12/2026\n\nObjet : mise en demeure\n\nMadame, Monsieur,");
        let en = "Acme\nto Dave Ltd\n28 December 2026\n\nSubject: formal notice\nDear Sir or Madam,";
        assert_eq!(super::letter_body(en), "28 December 2026\n\nSubject: formal notice\nDear Sir or Madam,");
        assert_eq!(super::letter_body("no subject line"), "no subject line");
    }
}
