//! The hand-off step, when it goes: the customer is recorded as handed
//! over (`relance_store::Store::record_handoff`, idempotent; from then on the
//! planner sends it nothing, see `relance_engine::dunning::handoff`) and the
//! agency's dossier is written under
//! `<data_dir>/handoffs/<tenant>/<customer>-<date>/`:
//!
//! - `invoices.csv`: one line per open invoice, header in English, ISO
//!   dates, amounts as decimals with their currency, the days late, the late
//!   interest (the tenant's `[dunning.late_interest]` rate, as in reminders)
//!   and the fixed 40 € recovery indemnity (B2B, euro invoices), and what
//!   is claimed in all;
//! - `summary.pdf`: a summary in the customer's language (FR/EN): customer
//!   and contacts, invoices, reminders sent with their dates, replies
//!   received with their intent, promises and disputes. It is drawn by the
//!   letters' PDF writer, which the binary registers at start-up
//!   ([`set_pdf_renderer`]); without one only the CSV is written (said in
//!   the log).
//!
//! Both files go with the step's message as attachments: an e-mail carries
//! them, a webhook event lists them (base64), and their paths are kept
//! with the hand-off (`GET /api/v1/handoffs`).

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use chrono::{DateTime, NaiveDate, Utc};

use relance_config::TenantConfig;
use relance_connector::Attachment;
use relance_domain::Language;
use relance_domain::money::{Currency, Money, MoneyError};
use relance_engine::dunning::handoff::is_handoff;
use relance_engine::dunning::templates::late_interest;
use relance_store::{DossierFacts, OutboxItem, Store, StoreError};

/// Draws a summary as PDF: (title, language, sender lines, recipient lines,
/// subject, body, creation date).
pub type PdfRenderer = fn(&str, Language, &[String], &[String], &str, &str, DateTime<Utc>) -> Result<Vec<u8>, String>;

static PDF: RwLock<Option<PdfRenderer>> = RwLock::new(None);
static DATA_DIR: RwLock<Option<PathBuf>> = RwLock::new(None);

/// Registers the PDF writer used for dossiers (the binary's letters writer).
pub fn set_pdf_renderer(f: PdfRenderer) {
    if let Ok(mut g) = PDF.write() {
        *g = Some(f);
    }
}

/// Sets the data directory dossiers are written under (from the settings).
pub fn set_data_dir(dir: PathBuf) {
    if let Ok(mut g) = DATA_DIR.write() {
        *g = Some(dir);
    }
}

/// Why a dossier could not be written.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("customer `{0}` is unknown")]
    UnknownCustomer(String),
    #[error("amount: {0}")]
    Amount(#[from] MoneyError),
    #[error("cannot write {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
}

/// What a hand-off wrote.
#[derive(Debug, Clone)]
pub struct HandedOff {
    pub id: i64,
    /// Recorded now (not already active).
    pub new: bool,
    pub files: Vec<PathBuf>,
    pub attachments: Vec<Attachment>,
}

/// The scenario and step of `item` when its step hands the customer over.
pub fn handoff_step(tenant: &TenantConfig, item: &OutboxItem) -> Option<(String, String)> {
    tenant.scenarios.iter().find_map(|s| {
        s.scenario
            .steps
            .iter()
            .find(|st| st.id == item.step && is_handoff(st))
            .map(|st| (s.name.clone(), st.id.clone()))
    })
}

/// Records the hand-off of `item`'s customer and writes its dossier (see
/// the module doc).
pub fn hand_off(
    store: &Store,
    tenant: &TenantConfig,
    item: &OutboxItem,
    scenario: &str,
    step: &str,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<HandedOff, HandoffError> {
    let (h, new) = store.record_handoff(&tenant.id, &item.customer_id, scenario, step, Some(item.id), day)?;
    let facts = store
        .dossier_facts(&tenant.id, &item.customer_id)?
        .ok_or_else(|| HandoffError::UnknownCustomer(item.customer_id.clone()))?;
    let since = NaiveDate::parse_from_str(&h.handed_over_on, "%Y-%m-%d").unwrap_or(day);
    let base = DATA_DIR.read().ok().and_then(|g| g.clone()).unwrap_or_else(|| tenant.base_dir.clone());
    let dir = base.join("handoffs").join(safe(tenant.id.as_str())).join(format!("{}-{since}", safe(&item.customer_id)));
    std::fs::create_dir_all(&dir).map_err(|cause| io(&dir, cause))?;
    let rate = tenant.dunning.late_interest.rate_bp(since);
    let csv = dossier_csv(&facts, since, rate)?;
    let mut files = Vec::new();
    let mut attachments = Vec::new();
    let csv_path = dir.join("invoices.csv");
    std::fs::write(&csv_path, &csv).map_err(|cause| io(&csv_path, cause))?;
    files.push(csv_path);
    attachments.push(Attachment {
        file_name: "invoices.csv".into(),
        content_type: "text/csv; charset=utf-8".into(),
        bytes: csv.into_bytes(),
    });
    let language = facts.language.as_deref().and_then(|l| l.parse().ok()).unwrap_or(tenant.language);
    let renderer = PDF.read().ok().and_then(|g| *g);
    match renderer {
        Some(render) => {
            let (subject, body) = summary(&facts, since, rate, language)?;
            let sender = if tenant.dunning.sender_address.is_empty() {
                vec![tenant.name.clone()]
            } else {
                tenant.dunning.sender_address.clone()
            };
            let recipient = vec![match language {
                Language::Fr => "Agence de recouvrement".to_string(),
                Language::En => "Collection agency".to_string(),
            }];
            match render(&subject, language, &sender, &recipient, &subject, &body, now) {
                Ok(pdf) => {
                    let pdf_path = dir.join("summary.pdf");
                    std::fs::write(&pdf_path, &pdf).map_err(|cause| io(&pdf_path, cause))?;
                    files.push(pdf_path);
                    attachments.push(Attachment {
                        file_name: "summary.pdf".into(),
                        content_type: "application/pdf".into(),
                        bytes: pdf,
                    });
                }
                Err(e) => {
                    tracing::warn!(tenant = %tenant.id, customer = %item.customer_id, error = %e, "hand-off summary PDF not written")
                }
            }
        }
        None => tracing::warn!(tenant = %tenant.id, "no PDF writer registered: hand-off dossier without its summary"),
    }
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    store.set_handoff_dossier(&tenant.id, h.id, &names)?;
    Ok(HandedOff { id: h.id, new, files, attachments })
}

fn io(path: &Path, cause: std::io::Error) -> HandoffError {
    HandoffError::Io { path: path.display().to_string(), cause }
}

/// A name fit for a directory: letters, digits, `-`, `_` and `.` kept, the rest `_`.
fn safe(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if s.trim_matches('.').is_empty() { "_".into() } else { s }
}

/// One invoice's penalties on `day`: days late, late interest, fixed indemnity.
fn penalties(
    f: &DossierFacts,
    i: &relance_store::DossierInvoice,
    day: NaiveDate,
    rate_bp: i64,
) -> Result<(i64, Money, Money), MoneyError> {
    let days = (day - i.due_date).num_days().max(0);
    let interest = if days > 0 { late_interest(i.open, rate_bp, days)? } else { Money::zero(i.open.currency) };
    let b2c =
        f.segment.as_deref().is_some_and(|s| matches!(s.to_lowercase().as_str(), "b2c" | "consumer" | "particulier"));
    // The fixed indemnity is a B2B rule, in euros: on euro invoices only (as in reminders).
    let indemnity = if days > 0 && !b2c && i.open.currency == Currency::EUR {
        Money::new(4_000, Currency::EUR)
    } else {
        Money::zero(i.open.currency)
    };
    Ok((days, interest, indemnity))
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// The dossier's CSV (see the module doc).
pub fn dossier_csv(f: &DossierFacts, day: NaiveDate, rate_bp: i64) -> Result<String, MoneyError> {
    let mut out = String::from(
        "customer_id,customer_name,invoice_number,issue_date,due_date,currency,amount_total,amount_open,days_late,late_interest,fixed_indemnity,total_claimed,disputed\n",
    );
    for i in &f.invoices {
        let (days, interest, indemnity) = penalties(f, i, day, rate_bp)?;
        let claimed = i.open.checked_add(interest)?.checked_add(indemnity)?;
        let row = [
            field(&f.customer_id),
            field(&f.name),
            field(&i.number),
            i.issue_date.map(|d| d.to_string()).unwrap_or_default(),
            i.due_date.to_string(),
            i.open.currency.code().to_string(),
            i.total.to_decimal_string(),
            i.open.to_decimal_string(),
            days.to_string(),
            interest.to_decimal_string(),
            indemnity.to_decimal_string(),
            claimed.to_decimal_string(),
            i.disputed.to_string(),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    Ok(out)
}

/// The summary's subject and text in `language`.
pub fn summary(
    f: &DossierFacts,
    day: NaiveDate,
    rate_bp: i64,
    language: Language,
) -> Result<(String, String), MoneyError> {
    let fr = language == Language::Fr;
    let t = |fr_text: &'static str, en_text: &'static str| if fr { fr_text } else { en_text };
    let amount = |m: Money| format!("{} {}", m.to_decimal_string(), m.currency.code());
    let date = |d: NaiveDate| if fr { d.format("%d/%m/%Y").to_string() } else { d.to_string() };
    let subject = format!("{} {} ({})", t("Dossier de recouvrement :", "Collection dossier:"), f.name, f.customer_id);
    let mut b = String::new();
    b.push_str(&format!("{} {}\n\n", t("Transmis le", "Handed over on"), date(day)));
    b.push_str(&format!("{}\n", t("Client", "Customer")));
    b.push_str(&format!("  - {} ({})\n", f.name, f.customer_id));
    if let Some(a) = f.address.as_deref().filter(|a| !a.trim().is_empty()) {
        b.push_str(&format!("  - {} {}\n", t("Adresse :", "Address:"), a.replace('\n', ", ")));
    }
    for e in &f.emails {
        b.push_str(&format!("  - {} {e}\n", t("E-mail :", "E-mail:")));
    }
    for p in &f.phones {
        b.push_str(&format!("  - {} {p}\n", t("Téléphone :", "Phone:")));
    }
    b.push_str(&format!("\n{}\n", t("Factures ouvertes", "Open invoices")));
    let mut totals: Vec<Money> = Vec::new();
    for i in &f.invoices {
        let (days, interest, indemnity) = penalties(f, i, day, rate_bp)?;
        let claimed = i.open.checked_add(interest)?.checked_add(indemnity)?;
        match totals.iter_mut().find(|m| m.currency == claimed.currency) {
            Some(m) => *m = m.checked_add(claimed)?,
            None => totals.push(claimed),
        }
        b.push_str(&format!(
            "  - {} : {} {}, {} {}, {} {} ({} {}), {} {}, {} {}{}\n",
            i.number,
            t("échue le", "due"),
            date(i.due_date),
            t("reste dû", "open"),
            amount(i.open),
            t("intérêts", "interest"),
            amount(interest),
            days,
            t("jours", "days"),
            t("indemnité", "indemnity"),
            amount(indemnity),
            t("réclamé", "claimed"),
            amount(claimed),
            if i.disputed { t(" (contestée)", " (disputed)") } else { "" },
        ));
    }
    for m in &totals {
        b.push_str(&format!("  {} {}\n", t("Total réclamé :", "Total claimed:"), amount(*m)));
    }
    b.push_str(&format!("\n{}\n", t("Relances envoyées", "Reminders sent")));
    if f.reminders.is_empty() {
        b.push_str(&format!("  - {}\n", t("aucune", "none")));
    }
    for r in &f.reminders {
        b.push_str(&format!("  - {} : {} ({}) – {}\n", r.day, r.step, r.channel, r.subject));
    }
    b.push_str(&format!("\n{}\n", t("Réponses reçues", "Replies received")));
    if f.replies.is_empty() {
        b.push_str(&format!("  - {}\n", t("aucune", "none")));
    }
    for m in &f.replies {
        b.push_str(&format!(
            "  - {} : {} – {} [{}]\n",
            m.received.get(..10).unwrap_or(&m.received),
            m.from.as_deref().unwrap_or("?"),
            m.subject.as_deref().unwrap_or(""),
            m.intent.as_deref().unwrap_or(t("non comprise", "not understood")),
        ));
    }
    b.push_str(&format!("\n{}\n", t("Promesses de paiement", "Promises to pay")));
    if f.promises.is_empty() {
        b.push_str(&format!("  - {}\n", t("aucune", "none")));
    }
    for p in &f.promises {
        b.push_str(&format!(
            "  - {} {} {} ({})\n",
            p.promised_date.as_deref().unwrap_or("?"),
            p.amount.as_deref().unwrap_or(""),
            p.currency.as_deref().unwrap_or(""),
            p.status
        ));
    }
    b.push_str(&format!("\n{}\n", t("Litiges", "Disputes")));
    if f.disputes.is_empty() {
        b.push_str(&format!("  - {}\n", t("aucun", "none")));
    }
    for d in &f.disputes {
        b.push_str(&format!("  - {d}\n"));
    }
    Ok((subject, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use relance_store::DossierInvoice;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn facts(segment: Option<&str>) -> DossierFacts {
        DossierFacts {
            customer_id: "C1".into(),
            name: "Dupré, Fils & Cie".into(),
            segment: segment.map(String::from),
            language: Some("fr".into()),
            emails: vec!["ap@dupre.test".into()],
            phones: Vec::new(),
            address: None,
            invoices: vec![
                DossierInvoice {
                    number: "F-1".into(),
                    issue_date: Some(d(9, 1)),
                    due_date: d(10, 1),
                    total: Money::new(150_000, Currency::EUR),
                    open: Money::new(100_000, Currency::EUR),
                    disputed: false,
                },
                DossierInvoice {
                    number: "F-2".into(),
                    issue_date: None,
                    due_date: d(12, 31),
                    total: Money::new(5_000, Currency::EUR),
                    open: Money::new(5_000, Currency::EUR),
                    disputed: true,
                },
            ],
            reminders: Vec::new(),
            replies: Vec::new(),
            promises: Vec::new(),
            disputes: vec!["F-2".into()],
        }
    }

    #[test]
    fn the_csv_has_one_line_per_invoice_with_exact_penalties() {
        // 1 000,00 € 30 days late at 12.15 %: 1000 × 0.1215 × 30 / 365 = 9.99 €.
        let csv = dossier_csv(&facts(None), d(10, 31), 1215).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("customer_id,customer_name,invoice_number,issue_date,due_date,currency"));
        assert_eq!(
            lines[1],
            "C1,\"Dupré, Fils & Cie\",F-1,2026-09-01,2026-10-01,EUR,1500.00,1000.00,30,9.99,40.00,1049.99,false"
        );
        assert_eq!(lines[2], "C1,\"Dupré, Fils & Cie\",F-2,,2026-12-31,EUR,50.00,50.00,0,0.00,0.00,50.00,true");
        let b2c = dossier_csv(&facts(Some("particulier")), d(10, 31), 1215).unwrap();
        assert!(b2c.lines().nth(1).unwrap().ends_with(",9.99,0.00,1009.99,false"), "no fixed indemnity for consumers");
    }

    #[test]
    fn the_summary_speaks_the_language_asked() {
        let (subject, body) = summary(&facts(None), d(10, 31), 1215, Language::Fr).unwrap();
        assert_eq!(subject, "Dossier de recouvrement : Dupré, Fils & Cie (C1)");
        assert!(body.contains("Total réclamé : 1099.99 EUR"), "{body}");
        assert!(body.contains("Litiges\n  - F-2"), "{body}");
        let (subject, body) = summary(&facts(None), d(10, 31), 1215, Language::En).unwrap();
        assert!(subject.starts_with("Collection dossier:"));
        assert!(body.contains("Reminders sent\n  - none"), "{body}");
    }
}
