//! Delivering the outbox through the tenant's outbound channels.
//!
//! One pass ([`deliver_due`]) runs only on a business day inside the tenant's
//! sending window (local time). It claims due rows (the store moves them to
//! `sending` first), builds each [`OutboundMessage`] — recipients by channel,
//! an HTML part for email, invoice documents attached when present — and hands
//! it to the connector serving its channel, a few at a time. Outcomes:
//! - delivered: `sent`, with the channel's reference (Message-ID, provider id, file);
//! - transient failure: back to the queue after a backoff, until the tenant's
//!   `max_attempts`, then `failed`;
//! - permanent failure (no address, no connector for the channel, a 5xx SMTP
//!   answer, a 4xx HTTP answer): `failed` at once, with the reason, listed by
//!   the API and retried only on request.
//!
//! Call steps open a task in Relance (listed by the API) and are also pushed
//! to a connector serving `call_task` when there is one.
//!
//! E-mail goes to the customer's addresses less those a delivery report
//! said are undeliverable (the store leaves them out when it claims the
//! row). When none is left, the step becomes a `contact` task for a person,
//! naming the addresses and their status codes, and the row is recorded as
//! delivered to `tasks` (the step is taken: it is not tried again each day).
//!
//! A process killed mid-pass leaves rows `sending`; [`recover`] requeues them
//! at start-up, marked interrupted. Before sending one again, the channel is
//! asked whether it got through ([`OutboundChannel::find_delivered`]: the SMTP
//! connector searches its sent archive for the Message-ID, the letters
//! connector looks for its file), before any check or hand-off: when it did,
//! the row is recorded sent, whatever happened since (an invoice paid meanwhile
//! does not make a message that went out "cancelled"). When it did not, or the
//! channel cannot tell, the row goes back to the queue and is claimed again
//! with the usual checks (settled, held, handed over), then goes out under
//! the same deterministic id.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use relance_config::TenantConfig;
use relance_connector::{Attachment, ConnectorError, OutboundChannel, OutboundMessage};
use relance_domain::{Channel, TenantId};
use relance_engine::dunning::SendingWindow;
use relance_engine::replies::token;
use relance_store::{KeyPurpose, OutboxItem, Store, StoreError, TenantKey};

/// The tenant's outbound connectors, by name.
pub type Channels = [(String, Arc<dyn OutboundChannel>)];

/// What one delivery pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub sent: u32,
    /// Transient failures, queued again after a backoff.
    pub retried: u32,
    /// Quarantined: permanent failures and exhausted attempts.
    pub failed: u32,
    /// Not sent: everything they named was settled or disputed since planning.
    pub cancelled: u32,
    /// Not sent now: held by Relance right before sending (a credit from
    /// the customer awaits review, or a payment claim is followed); they
    /// wait in the queue.
    pub held: u32,
    /// Set when nothing may leave now (weekend, holiday, outside the window).
    pub closed: Option<String>,
}

/// How many messages of one tenant are in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Requeues rows interrupted mid-send by a previous process.
pub fn recover(store: &Store, tenant: &TenantId) -> Result<usize, StoreError> {
    store.requeue_interrupted(tenant)
}

/// The local day when `now` is inside the tenant's sending hours, else why not.
pub fn sending_day(tenant: &TenantConfig, now: DateTime<Utc>) -> Result<NaiveDate, String> {
    let local = now.with_timezone(&tenant.timezone);
    let day = local.date_naive();
    let calendar = crate::reminders::plan::calendar(tenant, day);
    if !calendar.is_business_day(day) {
        return Err(format!("{day} is not a business day"));
    }
    let (start, end) = tenant.dunning.window;
    if !(SendingWindow { start, end }).contains(local.time()) {
        return Err(format!(
            "{} is outside the sending window {}-{}",
            local.format("%H:%M"),
            start.format("%H:%M"),
            end.format("%H:%M")
        ));
    }
    Ok(day)
}

/// Wait before attempt `attempt + 1` after a transient failure: 1 min, 4 min,
/// 16 min, … capped at 6 hours.
pub fn backoff(attempt: u32) -> Duration {
    let minutes = 4u64.saturating_pow(attempt.saturating_sub(1).min(8));
    Duration::from_secs((minutes * 60).min(6 * 3600))
}

/// Delivers what is due at `now`, in batches, until nothing due is left or
/// `cancel` is set.
pub async fn deliver_due(
    store: &Store,
    tenant: &TenantConfig,
    channels: &Channels,
    now: DateTime<Utc>,
    concurrency: usize,
    cancel: &CancellationToken,
) -> Result<DeliveryReport, StoreError> {
    let mut report = DeliveryReport::default();
    let today = match sending_day(tenant, now) {
        Ok(d) => d,
        Err(why) => {
            report.closed = Some(why);
            return Ok(report);
        }
    };
    let concurrency = concurrency.max(1);
    // The key of the reply tokens (`relance_engine::replies::token`), created the first time.
    let key = {
        let (store, id) = (store.clone(), tenant.id.clone());
        blocking(move || store.tenant_key(&id, KeyPurpose::ReplyTokens)).await?
    };
    // Shared by every send task of the pass (cloned once, not per message).
    let shared = Arc::new((tenant.clone(), channels.to_vec(), key));
    while !cancel.is_cancelled() {
        let claim = {
            let (store, id) = (store.clone(), tenant.id.clone());
            let limit = (concurrency * 4) as u32;
            blocking(move || store.claim_outbox(&id, today, now, limit)).await?
        };
        report.cancelled += claim.cancelled;
        report.held += claim.held;
        if claim.items.is_empty() {
            break;
        }
        let mut set = tokio::task::JoinSet::new();
        let mut items = claim.items.into_iter();
        loop {
            while set.len() < concurrency {
                let Some(item) = items.next() else { break };
                let (store, shared) = (store.clone(), shared.clone());
                set.spawn(async move { deliver_one(&store, &shared.0, &shared.1, &shared.2, item, now).await });
            }
            let Some(done) = set.join_next().await else { break };
            match done {
                Ok(Ok(Outcome::Sent)) => report.sent += 1,
                Ok(Ok(Outcome::Retry)) => report.retried += 1,
                Ok(Ok(Outcome::Failed)) => report.failed += 1,
                Ok(Ok(Outcome::Requeued)) => {}
                Ok(Err(e)) => return Err(e),
                // A panicking channel leaves its row `sending`: recovered at the next start.
                Err(e) => tracing::error!(tenant = %tenant.id, error = %e, "delivery task failed"),
            }
        }
    }
    Ok(report)
}

enum Outcome {
    Sent,
    Retry,
    Failed,
    /// Interrupted and not delivered: queued again, to be claimed with the checks.
    Requeued,
}

async fn deliver_one(
    store: &Store,
    tenant: &TenantConfig,
    channels: &Channels,
    key: &TenantKey,
    item: OutboxItem,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    let id = item.id;
    let result = send(store, tenant, channels, key, &item, now).await;
    let (store, t) = (store.clone(), tenant.id.clone());
    match result {
        Ok(None) => {
            tracing::info!(tenant = %t, outbox = id, "interrupted reminder not delivered: back to the queue, checked again");
            blocking(move || store.requeue_undelivered(&t, id)).await?;
            Ok(Outcome::Requeued)
        }
        Ok(Some((connector, reference))) => {
            tracing::info!(tenant = %t, outbox = id, customer = %item.customer_id, step = %item.step, %reference, "reminder sent");
            blocking(move || store.mark_outbox_sent(&t, id, &connector, &reference)).await?;
            Ok(Outcome::Sent)
        }
        Err(e) => {
            let transient = matches!(e, ConnectorError::Transient(_) | ConnectorError::Cancelled);
            let retry_at = (transient && item.attempt < tenant.dunning.max_attempts)
                .then(|| now + chrono::Duration::from_std(backoff(item.attempt)).unwrap_or_default());
            let reason = match (&e, retry_at) {
                (ConnectorError::Transient(m), None) => format!("gave up after {} attempts: {m}", item.attempt),
                _ => e.to_string(),
            };
            tracing::warn!(tenant = %t, outbox = id, customer = %item.customer_id, step = %item.step, error = %reason, retry = retry_at.is_some(), "reminder not sent");
            blocking(move || store.mark_outbox_failed(&t, id, &reason, retry_at)).await?;
            Ok(if retry_at.is_some() { Outcome::Retry } else { Outcome::Failed })
        }
    }
}

/// Sends one item; returns the connector name and the delivery reference,
/// or `None` for an interrupted item its channel did not deliver (it is not
/// sent now: the caller queues it again, see `Store::claim_outbox`).
async fn send(
    store: &Store,
    tenant: &TenantConfig,
    channels: &Channels,
    key: &TenantKey,
    item: &OutboxItem,
    now: DateTime<Utc>,
) -> Result<Option<(String, String)>, ConnectorError> {
    let channel: Channel = serde_json::from_value(serde_json::Value::String(item.channel.clone()))
        .map_err(|_| ConnectorError::Permanent(format!("unknown channel `{}`", item.channel)))?;
    let connector = channels.iter().find(|(_, c)| c.serves(channel));
    if item.interrupted {
        // Before anything else (a hand-off, a task): did it go out before the interruption?
        return probe(tenant, item, channel, connector, key, now).await;
    }
    // The hand-off step records the hand-off and writes the agency's dossier
    // first (see `handoff`); a customer already handed over gets nothing else.
    let handoff_step = super::handoff::handoff_step(tenant, item);
    let mut dossier = Vec::new();
    if let Some((scenario, step)) = handoff_step {
        let (s, t, i) = (store.clone(), tenant.clone(), item.clone());
        let day = item.planned_for.parse().unwrap_or_else(|_| now.date_naive());
        let done =
            tokio::task::spawn_blocking(move || super::handoff::hand_off(&s, &t, &i, &scenario, &step, day, now))
                .await
                .map_err(|e| ConnectorError::Transient(e.to_string()))?
                .map_err(|e| ConnectorError::Transient(format!("hand-off dossier: {e}")))?;
        tracing::info!(tenant = %tenant.id, customer = %item.customer_id, handoff = done.id, new = done.new, files = ?done.files, "customer handed over");
        dossier = done.attachments;
    } else {
        let (s, t, c) = (store.clone(), tenant.id.clone(), item.customer_id.clone());
        if let Some(h) = blocking(move || s.active_handoff(&t, &c)).await? {
            return Err(ConnectorError::Permanent(format!(
                "customer `{}` was handed over to the collection agency on {} (hand-off #{}): not sent",
                item.customer_id, h.handed_over_on, h.id
            )));
        }
    }
    if channel == Channel::CallTask {
        let (s, t, i) = (store.clone(), tenant.id.clone(), item.clone());
        let task = blocking(move || s.open_call_task(&t, &i)).await?;
        let reference = format!("task:{task}");
        let Some((name, c)) = connector else { return Ok(Some(("tasks".into(), reference))) };
        let receipt = c.send(&message(tenant, item, channel, Vec::new(), Some(key), now)).await?;
        return Ok(Some((name.clone(), format!("{reference} {}", receipt.reference))));
    }
    if channel == Channel::Email && item.recipient.is_none() && item.emails.is_empty() && !item.undeliverable.is_empty()
    {
        // Every address bounced: a person finds another way (see the module doc).
        let (s, t, i) = (store.clone(), tenant.id.clone(), item.clone());
        let task = blocking(move || s.open_contact_task(&t, &i)).await?;
        tracing::warn!(tenant = %tenant.id, outbox = item.id, customer = %item.customer_id, task, "no deliverable address left: reminder turned into a task");
        return Ok(Some(("tasks".into(), format!("task:{task}"))));
    }
    let Some((name, c)) = connector else {
        return Err(ConnectorError::Permanent(format!(
            "no connector of tenant `{}` delivers the {} channel",
            tenant.id, item.channel
        )));
    };
    let recipients = recipients(item, channel);
    let missing = match channel {
        Channel::Email | Channel::Sms if recipients.is_empty() => {
            Some(if channel == Channel::Email { "email address" } else { "phone number" })
        }
        Channel::Letter if item.address.as_deref().is_none_or(|a| a.trim().is_empty()) => Some("postal address"),
        _ => None,
    };
    if let Some(what) = missing {
        return Err(ConnectorError::Permanent(format!("customer `{}` has no {what}", item.customer_id)));
    }
    let mut msg = message(tenant, item, channel, recipients, Some(key), now);
    if channel == Channel::Email {
        msg.body_html = Some(text_to_html(&msg.body_text));
        if let Some(dir) = &tenant.dunning.invoice_documents {
            msg.attachments = invoice_documents(dir, &item.invoices).await;
        }
    }
    msg.attachments.extend(dossier);
    let receipt = c.send(&msg).await?;
    Ok(Some((name.clone(), receipt.reference)))
}

/// Who a message of `channel` goes to.
fn recipients(item: &OutboxItem, channel: Channel) -> Vec<String> {
    match channel {
        Channel::Email => item.recipient.clone().map(|r| vec![r]).unwrap_or_else(|| item.emails.clone()),
        Channel::Sms => item.phones.clone(),
        _ => Vec::new(),
    }
}

/// Whether an interrupted item went out before its process stopped: the
/// channel looks for it (the sent archive's Message-ID); `None` when it did
/// not, or cannot tell.
async fn probe(
    tenant: &TenantConfig,
    item: &OutboxItem,
    channel: Channel,
    connector: Option<&(String, Arc<dyn OutboundChannel>)>,
    key: &TenantKey,
    now: DateTime<Utc>,
) -> Result<Option<(String, String)>, ConnectorError> {
    let Some((name, c)) = connector else { return Ok(None) };
    let msg = message(tenant, item, channel, recipients(item, channel), Some(key), now);
    Ok(c.find_delivered(&msg).await?.map(|receipt| {
        tracing::info!(tenant = %tenant.id, outbox = item.id, reference = %receipt.reference, "interrupted reminder had been delivered: not sent again");
        (name.clone(), receipt.reference)
    }))
}

fn message(
    tenant: &TenantConfig,
    item: &OutboxItem,
    channel: Channel,
    recipients: Vec<String>,
    key: Option<&TenantKey>,
    now: DateTime<Utc>,
) -> OutboundMessage {
    OutboundMessage {
        tenant: tenant.id.clone(),
        tenant_name: tenant.name.clone(),
        customer_id: item.customer_id.clone(),
        customer_name: if item.customer_name.is_empty() {
            item.customer_id.clone()
        } else {
            item.customer_name.clone()
        },
        channel,
        idempotency_key: item.idempotency_key.clone(),
        token: item.token.clone(),
        step: item.step.clone(),
        invoices: item.invoices.clone(),
        language: item.language.as_deref().and_then(|l| l.parse().ok()).unwrap_or(tenant.language),
        recipients,
        postal_address: item.address.clone(),
        sender_address: tenant.dunning.sender_address.clone(),
        subject: Some(item.subject.clone()),
        body_text: item.body.clone(),
        body_html: None,
        attachments: Vec::new(),
        date: now,
        planned_for: item.planned_for.parse().unwrap_or_else(|_| now.date_naive()),
        in_reply_to: item.in_reply_to.clone(),
        reply_token: key.filter(|_| !item.token.is_empty()).map(|k| token::sign(k.bytes(), item.id, &item.token)),
    }
}

/// The invoices' documents found in `dir` as `<number>.pdf` (a number with
/// characters unfit for a file name has them replaced by `_`).
async fn invoice_documents(dir: &Path, numbers: &[String]) -> Vec<Attachment> {
    let mut out = Vec::new();
    for n in numbers {
        let safe: String = n.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        let file_name = format!("{safe}.pdf");
        if let Ok(bytes) = tokio::fs::read(dir.join(&file_name)).await {
            out.push(Attachment { file_name, content_type: "application/pdf".into(), bytes });
        }
    }
    out
}

/// The HTML part of an email: the text, escaped, paragraph by paragraph;
/// indented lines (the invoice list) become list items.
pub fn text_to_html(text: &str) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family:sans-serif\">\n",
    );
    for para in text.split("\n\n") {
        let lines: Vec<&str> = para.lines().filter(|l| !l.trim().is_empty()).collect();
        for run in lines.chunk_by(|a, b| is_item(a) == is_item(b)) {
            if is_item(run[0]) {
                html.push_str("<ul>\n");
                for i in run {
                    html.push_str(&format!("<li>{}</li>\n", esc(i.trim_start().trim_start_matches("- "))));
                }
                html.push_str("</ul>\n");
            } else {
                html.push_str("<p>");
                html.push_str(&run.iter().map(|l| esc(l.trim())).collect::<Vec<_>>().join("<br>\n"));
                html.push_str("</p>\n");
            }
        }
    }
    html.push_str("</body></html>\n");
    html
}

fn is_item(line: &str) -> bool {
    line.trim_start().starts_with("- ")
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(2), Duration::from_secs(240));
        assert_eq!(backoff(3), Duration::from_secs(960));
        assert_eq!(backoff(20), Duration::from_secs(6 * 3600));
    }

    #[test]
    fn html_part_escapes_and_lists() {
        let html = text_to_html(
            "Bonjour <client>,\n\n  - Facture F-1 : 10,00 €\n  - Facture F-2 : 5,00 €\n  Total : 15,00 €\n\nMerci & à bientôt",
        );
        assert!(html.contains("<p>Bonjour &lt;client&gt;,</p>"), "{html}");
        assert!(html.contains("<li>Facture F-1 : 10,00 €</li>\n<li>Facture F-2 : 5,00 €</li>"), "{html}");
        assert!(html.contains("<p>Total : 15,00 €</p>"), "{html}");
        assert!(html.contains("Merci &amp; à bientôt"), "{html}");
    }
}

/// What a reminder would look like if it were delivered now: the message
/// built exactly as [`deliver_due`] builds it (recipients by channel, the
/// customer's current contacts less failing addresses, the HTML part of an
/// email), and the channel's document when it delivers one (a letter's PDF).
#[derive(Debug, Clone)]
pub struct Preview {
    pub channel: Channel,
    pub recipients: Vec<String>,
    /// The customer's addresses left out because they fail.
    pub undeliverable: Vec<String>,
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    /// The name of the connector that would deliver it, if any.
    pub connector: Option<String>,
    pub document: Option<relance_connector::Document>,
}

/// The preview of outbox row `id` of `tenant` (see [`Preview`]); `None`
/// when there is no such row.
pub fn preview(
    store: &Store,
    tenant: &TenantConfig,
    channels: &Channels,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Preview>, StoreError> {
    let Some(item) = store.outbox_item(&tenant.id, id)? else { return Ok(None) };
    let channel: Channel = serde_json::from_value(serde_json::Value::String(item.channel.clone()))
        .map_err(|_| StoreError::Corrupt(format!("outbox {id}: unknown channel `{}`", item.channel)))?;
    let recipients = recipients(&item, channel);
    let mut msg = message(tenant, &item, channel, recipients, None, now);
    if channel == Channel::Email {
        msg.body_html = Some(text_to_html(&msg.body_text));
    }
    let connector = channels.iter().find(|(_, c)| c.serves(channel));
    let document = connector.and_then(|(_, c)| c.preview(&msg));
    Ok(Some(Preview {
        channel,
        recipients: msg.recipients,
        undeliverable: item.undeliverable,
        subject: msg.subject,
        text: msg.body_text,
        html: msg.body_html,
        connector: connector.map(|(name, _)| name.clone()),
        document,
    }))
}

/// How an SMS text travels: the encoding a phone network uses for it and
/// the number of messages it takes (GSM 03.38: 160 characters, 153 per
/// part when split, extension characters such as `€` counting twice; any
/// other character makes the whole text UCS-2: 70, 67 per part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SmsSize {
    pub gsm7: bool,
    /// Characters as the network counts them (septets for GSM-7, UTF-16 units for UCS-2).
    pub units: usize,
    pub parts: usize,
}

/// See [`SmsSize`].
pub fn sms_size(text: &str) -> SmsSize {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENSION: &str = "^{}\\[~]|€\u{c}";
    let mut septets = 0usize;
    let mut gsm7 = true;
    for c in text.chars() {
        if BASIC.contains(c) {
            septets += 1;
        } else if EXTENSION.contains(c) {
            septets += 2;
        } else {
            gsm7 = false;
            break;
        }
    }
    let (units, single, part) = if gsm7 { (septets, 160, 153) } else { (text.encode_utf16().count(), 70, 67) };
    let parts = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        units.div_ceil(part)
    };
    SmsSize { gsm7, units, parts }
}

#[cfg(test)]
mod sms_tests {
    use super::sms_size;

    #[test]
    fn sms_sizes_follow_gsm_03_38() {
        let s = sms_size("Bonjour, votre facture F-1 est échue.");
        assert_eq!((s.gsm7, s.units, s.parts), (true, 37, 1));
        // `€` is an extension character: two septets.
        let euro = sms_size("Reste : 10 €");
        assert_eq!((euro.gsm7, euro.units), (true, 13));
        let hat = sms_size("Reste dû : 10 €");
        assert_eq!((hat.gsm7, hat.units), (false, 15), "`û` is not in the GSM alphabet: UCS-2");
        assert_eq!(sms_size(&"a".repeat(160)).parts, 1);
        assert_eq!(sms_size(&"a".repeat(161)).parts, 2);
        assert_eq!(sms_size(&"a".repeat(306)).parts, 2);
        assert_eq!(sms_size(&"a".repeat(307)).parts, 3);
        let ucs = sms_size(&format!("Łódź {}", "a".repeat(66)));
        assert_eq!((ucs.gsm7, ucs.units, ucs.parts), (false, 71, 2));
        assert_eq!(sms_size("").parts, 0);
    }
}
