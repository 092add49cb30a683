//! The hand-off dossier's summary as PDF, drawn by the letters' writer
//! ([`super::pdf`]): the runtime registers [`render`] at start-up
//! (`relance_runtime::reminders::handoff::set_pdf_renderer`).

use chrono::{DateTime, Utc};

use relance_domain::Language;

use super::pdf::{Letter, render as render_letter};

/// Draws a dossier summary: `sender` top left, `recipient` in the window,
/// the subject in bold, then `body`.
pub fn render(
    title: &str,
    language: Language,
    sender: &[String],
    recipient: &[String],
    subject: &str,
    body: &str,
    created: DateTime<Utc>,
) -> Result<Vec<u8>, String> {
    let day = created.date_naive();
    let letter = Letter {
        sender: sender.to_vec(),
        recipient: recipient.to_vec(),
        place_date: match language {
            Language::Fr => format!("Le {}", day.format("%d/%m/%Y")),
            Language::En => day.format("%-d %B %Y").to_string(),
        },
        mention: None,
        subject: Some(subject.to_string()),
        body: body.to_string(),
        signature: sender.first().cloned().into_iter().collect(),
        title: title.to_string(),
        language: language.as_str().to_string(),
        created,
    };
    render_letter(&letter).map_err(|e| e.to_string())
}
