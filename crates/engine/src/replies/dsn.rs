//! Delivery reports: which recipients a bounce is about, what happened to
//! each and why. Pure: a parsed message in, a [`DeliveryReport`] out.
//!
//! * **RFC 3464** (`multipart/report; report-type=delivery-status`): the
//!   `message/delivery-status` part (or RFC 6533's
//!   `message/global-delivery-status`) is read field by field: one block per
//!   recipient with `Final-Recipient`, `Original-Recipient`, `Action`,
//!   `Status`, `Diagnostic-Code`, `Remote-MTA` (folded lines joined, the
//!   address type `rfc822;` dropped, addresses lower-cased).
//! * **Non-standard bounces** (an Exchange NDR, a Postfix or qmail text
//!   without the report part): the addresses the text says failed, each
//!   with the status code (`5.1.1`) written after it, else the first one
//!   of the text; a text with only `4.x.x` codes and delay wording is a
//!   delay. Addresses of header lines (`From:`, `Message-ID:`…) and the
//!   bounce's own sender are never taken for a failed recipient.
//!
//! `delayed` (a `4.x.x` status) is not a failure: the message may still
//! arrive. The original message (the reminder that bounced) is named by the
//! `Message-ID` of the returned headers (`text/rfc822-headers`,
//! `message/rfc822`, `message/global-headers`, or a `Message-ID:` line of a
//! text bounce); [`super::understand`] adds it to the message's thread,
//! next to its `In-Reply-To` / `References`, so it links to the reminder.

use std::sync::LazyLock;

use mail_parser::{MessagePart, MimeHeaders, PartType};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// What a delivery report says about one recipient (RFC 3464 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DsnAction {
    /// Could not be delivered and will not be retried.
    Failed,
    /// Not delivered yet; the server keeps trying.
    Delayed,
    Delivered,
    /// Handed to a system that sends no reports.
    Relayed,
    /// Delivered to a list's members.
    Expanded,
}

impl DsnAction {
    /// The action of an `Action:` value (RFC 3464 §2.3.3; case and
    /// comments aside).
    pub fn parse(value: &str) -> Option<DsnAction> {
        let word = value.split(['(', ';']).next().unwrap_or_default().trim().to_ascii_lowercase();
        Some(match word.as_str() {
            "failed" => DsnAction::Failed,
            "delayed" => DsnAction::Delayed,
            "delivered" => DsnAction::Delivered,
            "relayed" => DsnAction::Relayed,
            "expanded" => DsnAction::Expanded,
            _ => return None,
        })
    }
}

/// Where a report was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportSource {
    /// The RFC 3464 `message/delivery-status` part.
    DeliveryStatus,
    /// The human-readable text of a bounce without that part.
    Text,
}

/// One recipient of a delivery report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientReport {
    /// The address the report is about (`Final-Recipient`), lower case.
    pub final_recipient: String,
    /// The address as originally sent to (`Original-Recipient`), when given.
    pub original_recipient: Option<String>,
    pub action: DsnAction,
    /// The enhanced status code (`5.1.1`).
    pub status: Option<String>,
    /// What the remote server said (`Diagnostic-Code`, without its type).
    pub diagnostic: Option<String>,
    /// The server that said it (`Remote-MTA`).
    pub remote_mta: Option<String>,
}

impl RecipientReport {
    /// A permanent failure (`failed`; `delayed` is not one).
    pub fn is_failure(&self) -> bool {
        self.action == DsnAction::Failed
    }

    /// The addresses this recipient is known by: the one sent to first.
    pub fn addresses(&self) -> impl Iterator<Item = &str> {
        self.original_recipient.as_deref().into_iter().chain(std::iter::once(self.final_recipient.as_str()))
    }
}

/// A delivery report (bounce).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub source: ReportSource,
    /// The server that wrote the report (`Reporting-MTA`).
    pub reporting_mta: Option<String>,
    /// In the order of the report.
    pub recipients: Vec<RecipientReport>,
    /// The Message-ID of the message that bounced, from the returned headers.
    pub original_message_id: Option<String>,
}

impl DeliveryReport {
    /// The recipients that failed for good.
    pub fn failed(&self) -> impl Iterator<Item = &RecipientReport> {
        self.recipients.iter().filter(|r| r.is_failure())
    }
}

/// Most recipients read from one report (a report naming more is cut).
pub const MAX_RECIPIENTS: usize = 100;

/// Reads the delivery report of a message already known to be a bounce;
/// `text` is its decoded text body, `sender` its `From` address. `None`
/// when neither a report part nor a failed address in the text is found.
pub fn read(msg: &mail_parser::Message<'_>, text: &str, sender: Option<&str>) -> Option<DeliveryReport> {
    let mut status_part = None;
    let mut original = None;
    for part in msg.parts.iter() {
        let Some(ct) = part.content_type() else { continue };
        let (ty, sub) = (ct.ctype().to_ascii_lowercase(), ct.subtype().unwrap_or_default().to_ascii_lowercase());
        match (ty.as_str(), sub.as_str()) {
            ("message", "delivery-status" | "global-delivery-status") if status_part.is_none() => {
                status_part = Some(String::from_utf8_lossy(part.contents()).into_owned());
            }
            ("text", "rfc822-headers") | ("message", "global-headers") if original.is_none() => {
                original = message_id_line(&String::from_utf8_lossy(part.contents()));
            }
            ("message", "rfc822" | "global") if original.is_none() => {
                original = nested_message_id(part);
            }
            _ => {}
        }
    }
    if let Some(fields) = status_part {
        let (reporting_mta, recipients) = delivery_status(&fields);
        if !recipients.is_empty() {
            return Some(DeliveryReport {
                source: ReportSource::DeliveryStatus,
                reporting_mta,
                recipients,
                original_message_id: original.or_else(|| message_id_line(text)),
            });
        }
    }
    let recipients = from_text(text, sender);
    (!recipients.is_empty()).then(|| DeliveryReport {
        source: ReportSource::Text,
        reporting_mta: None,
        recipients,
        original_message_id: original.or_else(|| message_id_line(text)),
    })
}

fn nested_message_id(part: &MessagePart<'_>) -> Option<String> {
    match &part.body {
        PartType::Message(m) => m.message_id().map(str::to_string),
        // Some servers send the returned message unparsed.
        PartType::Text(t) => message_id_line(t),
        PartType::Binary(b) | PartType::InlineBinary(b) => message_id_line(&String::from_utf8_lossy(b)),
        _ => None,
    }
}

/// The value of the first `Message-ID:` header line of a header block or
/// text, without its angle brackets (as `Understanding::thread` holds them).
fn message_id_line(text: &str) -> Option<String> {
    static ID: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?im)^\s*message-id\s*:\s*(?:\r?\n[ \t]+)?<([^<>\s]+)>").unwrap());
    ID.captures(text).map(|c| c[1].to_string())
}

/// The `Reporting-MTA` and the per-recipient blocks of a
/// `message/delivery-status` body.
fn delivery_status(body: &str) -> (Option<String>, Vec<RecipientReport>) {
    let body = body.replace("\r\n", "\n");
    let mut reporting_mta = None;
    let mut out = Vec::new();
    for block in body.split("\n\n") {
        let fields = unfold(block);
        let get = |name: &str| fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        if let Some(mta) = get("Reporting-MTA") {
            reporting_mta = Some(typed_value(mta));
        }
        let Some(final_recipient) = get("Final-Recipient").map(typed_value).filter(|a| a.contains('@')) else {
            continue;
        };
        let status = get("Status").and_then(status_code);
        // An unknown action is read from the status class (5: failed, 4: delayed).
        let action = get("Action").and_then(DsnAction::parse).or(match status.as_deref().map(|s| s.as_bytes()[0]) {
            Some(b'5') => Some(DsnAction::Failed),
            Some(b'4') => Some(DsnAction::Delayed),
            _ => None,
        });
        let Some(action) = action else { continue };
        if out.len() < MAX_RECIPIENTS {
            out.push(RecipientReport {
                final_recipient: address_of(&final_recipient),
                original_recipient: get("Original-Recipient").map(typed_value).map(|a| address_of(&a)),
                action,
                status,
                diagnostic: get("Diagnostic-Code").map(typed_value).map(|d| bounded(&d)),
                remote_mta: get("Remote-MTA").map(typed_value),
            });
        }
    }
    (reporting_mta, out)
}

/// The `name: value` fields of a block, folded lines joined.
fn unfold(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

/// A typed field's value without its type (`rfc822; a@b` gives `a@b`).
fn typed_value(v: &str) -> String {
    match v.split_once(';') {
        Some((ty, rest)) if !ty.contains(' ') && !ty.contains('@') => rest.trim().to_string(),
        _ => v.trim().to_string(),
    }
}

/// An address without angle brackets, lower case.
fn address_of(v: &str) -> String {
    v.trim().trim_matches(['<', '>']).trim().to_lowercase()
}

/// The enhanced status code at the start of a `Status:` value.
fn status_code(v: &str) -> Option<String> {
    STATUS.find(v).map(|m| m.as_str().to_string())
}

static STATUS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b[245]\.\d{1,3}\.\d{1,3}\b").unwrap());

/// At most 300 characters, on one line.
fn bounded(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    one.chars().take(300).collect()
}

/// Failed (or delayed) recipients read from the text of a bounce without a
/// report part (see the module doc).
fn from_text(text: &str, sender: Option<&str>) -> Vec<RecipientReport> {
    static ADDRESS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+").unwrap());
    static HEADER_LINE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*(from|reply-to|return-path|sender|message-id|in-reply-to|references|received|dkim-signature|arc-\w+|x-[\w-]+|by|id|envelope-from|smtp\.mailfrom)\s*[:=]").unwrap()
    });
    static DELAY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(delayed|not (yet )?been delivered|will (continue|keep) (to )?(try|retry)|still trying|will retry|retard|pas encore (pu )?(ete |été )?(remis|distribu))").unwrap()
    });
    let sender = sender.map(str::to_lowercase);
    // Where the returned message starts, its own headers are not recipients we failed.
    let end = ["\nReceived: ", "\nReturn-Path: ", "Original message headers:", "------ This is a copy of the message"]
        .iter()
        .filter_map(|m| text.find(m))
        .min()
        .unwrap_or(text.len());
    let body = &text[..end];
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        if !HEADER_LINE.is_match(line) {
            for m in ADDRESS.find_iter(line) {
                let a = m.as_str().trim_end_matches('.').to_lowercase();
                let ours = sender.as_deref() == Some(a.as_str())
                    || a.starts_with("mailer-daemon@")
                    || a.starts_with("postmaster@")
                    || a.starts_with("rl-")
                    // Within a Message-ID, `<id@host>` right after "Message-ID".
                    || line[..m.start()].to_ascii_lowercase().contains("message-id");
                if !ours && !seen.iter().any(|(s, _)| *s == a) && seen.len() < MAX_RECIPIENTS {
                    seen.push((a, offset + m.start()));
                }
            }
        }
        offset += line.len();
    }
    if seen.is_empty() {
        return Vec::new();
    }
    let codes: Vec<(usize, &str)> = STATUS.find_iter(text).map(|m| (m.start(), m.as_str())).collect();
    let permanent = codes.iter().any(|(_, c)| c.starts_with('5'));
    let delayed_only = !permanent && codes.iter().any(|(_, c)| c.starts_with('4')) && DELAY.is_match(text);
    let action = if delayed_only { DsnAction::Delayed } else { DsnAction::Failed };
    let class = if delayed_only { '4' } else { '5' };
    let first = codes.iter().find(|(_, c)| c.starts_with(class)).map(|(_, c)| c.to_string());
    seen.into_iter()
        .map(|(address, at)| {
            // The code written after the address (before the next one), else the first of the text.
            let after = codes.iter().find(|(p, c)| *p >= at && c.starts_with(class));
            let status = after.map(|(_, c)| c.to_string()).or_else(|| first.clone());
            let diagnostic = after
                .map(|(p, _)| {
                    let start = text[..*p].rfind('\n').map_or(0, |i| i + 1);
                    let stop = text[*p..].find('\n').map_or(text.len(), |i| p + i);
                    bounded(&text[start..stop])
                })
                .filter(|d| !d.is_empty());
            RecipientReport {
                final_recipient: address,
                original_recipient: None,
                action,
                status,
                diagnostic,
                remote_mta: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::replies::actions::{ReplyAction, ReplyContext, plan};
    use crate::replies::{AutoKind, Intent, understand};

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 10, 20).unwrap()
    }

    /// A bounce as Postfix writes it: RFC 3464, the returned headers as `text/rfc822-headers`.
    const POSTFIX: &str = "From: MAILER-DAEMON@mx.acme.test (Mail Delivery System)\r
To: relances@acme.test\r
Subject: Undelivered Mail Returned to Sender\r
Date: Tue, 20 Oct 2026 10:02:11 +0200\r
Message-ID: <20261020080211.1A2B3@mx.acme.test>\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status;\r
\tboundary=\"B1\"\r
Auto-Submitted: auto-replied\r
\r
--B1\r
Content-Type: text/plain; charset=us-ascii\r
\r
This is the mail system at host mx.acme.test.\r
\r
I'm sorry to have to inform you that your message could not\r
be delivered to one or more recipients.\r
\r
<compta@client.example>: host mx.client.example[203.0.113.5] said: 550 5.1.1\r
    <compta@client.example>: Recipient address rejected: User unknown\r
\r
--B1\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.acme.test\r
X-Postfix-Queue-ID: 1A2B3\r
Arrival-Date: Tue, 20 Oct 2026 10:02:09 +0200 (CEST)\r
\r
Final-Recipient: rfc822; compta@client.example\r
Original-Recipient: rfc822;Compta@Client.example\r
Action: failed\r
Status: 5.1.1\r
Remote-MTA: dns; mx.client.example\r
Diagnostic-Code: smtp; 550 5.1.1 <compta@client.example>: Recipient address\r
    rejected: User unknown in local recipient table\r
\r
--B1\r
Content-Type: text/rfc822-headers\r
\r
From: Acme Relances <relances@acme.test>\r
To: compta@client.example\r
Subject: Relance facture FAC-1001\r
Message-ID: <rl-0123456789abcdef01234567@acme.test>\r
\r
--B1--\r
";

    #[test]
    fn an_rfc_3464_report_gives_the_failed_recipient_its_code_and_the_reminder() {
        let u = understand(POSTFIX.as_bytes(), day()).unwrap();
        assert_eq!((u.intent, u.auto_reply), (Intent::AutoReply, Some(AutoKind::DeliveryFailure)));
        let d = u.delivery.as_ref().expect("a delivery report");
        assert_eq!(d.source, ReportSource::DeliveryStatus);
        assert_eq!(d.reporting_mta.as_deref(), Some("mx.acme.test"));
        assert_eq!(d.original_message_id.as_deref(), Some("rl-0123456789abcdef01234567@acme.test"));
        assert_eq!(
            d.recipients,
            vec![RecipientReport {
                final_recipient: "compta@client.example".into(),
                original_recipient: Some("compta@client.example".into()),
                action: DsnAction::Failed,
                status: Some("5.1.1".into()),
                diagnostic: Some(
                    "550 5.1.1 <compta@client.example>: Recipient address rejected: User unknown in local recipient table"
                        .into()
                ),
                remote_mta: Some("mx.client.example".into()),
            }]
        );
        // The returned Message-ID joins the thread: the store links the bounce to the reminder.
        assert!(u.thread.contains(&"rl-0123456789abcdef01234567@acme.test".to_string()), "{:?}", u.thread);
        let p = plan(&u, &ReplyContext::default());
        let [ReplyAction::ContactUndeliverable { note }] = p.actions.as_slice() else { panic!("{:?}", p.actions) };
        assert!(note.starts_with("reminder undeliverable to compta@client.example (5.1.1: 550 5.1.1"), "{note}");
    }

    /// Gmail style: several recipients, one failed, one delayed, one
    /// delivered; the whole original returned as `message/rfc822`.
    const GMAIL_MULTI: &str = "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r
To: relances@acme.test\r
Subject: Delivery Status Notification (Failure)\r
Date: Tue, 20 Oct 2026 10:05:00 -0700\r
Content-Type: multipart/report; boundary=\"g1\"; report-type=delivery-status\r
\r
--g1\r
Content-Type: multipart/related; boundary=\"g2\"\r
\r
--g2\r
Content-Type: text/plain; charset=\"UTF-8\"\r
\r
** Address not found **\r
\r
Your message wasn't delivered to old@client.example because the address couldn't be found.\r
\r
--g2--\r
--g1\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; googlemail.com\r
Received-From-MTA: dns; relances@acme.test\r
\r
Final-Recipient: rfc822; old@client.example\r
Action: failed\r
Status: 5.1.1\r
Remote-MTA: dns; gmail-smtp-in.l.google.com. (2a00:1450::1b)\r
Diagnostic-Code: smtp; The email account that you tried to reach does not exist.\r
\r
Final-Recipient: rfc822; slow@other.example\r
Action: delayed\r
Status: 4.4.1\r
Diagnostic-Code: smtp; connection timed out\r
\r
Final-Recipient: rfc822; ok@client.example\r
Action: delivered\r
Status: 2.0.0\r
\r
--g1\r
Content-Type: message/rfc822\r
\r
From: Acme Relances <relances@acme.test>\r
To: old@client.example, slow@other.example, ok@client.example\r
Subject: Relance\r
Message-ID: <rl-aaaabbbbccccddddeeeeffff@acme.test>\r
\r
Bonjour,\r
--g1--\r
";

    #[test]
    fn several_recipients_are_read_and_only_the_failed_one_counts() {
        let u = understand(GMAIL_MULTI.as_bytes(), day()).unwrap();
        let d = u.delivery.as_ref().expect("a delivery report");
        let got: Vec<(&str, DsnAction, Option<&str>)> =
            d.recipients.iter().map(|r| (r.final_recipient.as_str(), r.action, r.status.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("old@client.example", DsnAction::Failed, Some("5.1.1")),
                ("slow@other.example", DsnAction::Delayed, Some("4.4.1")),
                ("ok@client.example", DsnAction::Delivered, Some("2.0.0")),
            ]
        );
        assert_eq!(d.failed().map(|r| r.final_recipient.as_str()).collect::<Vec<_>>(), ["old@client.example"]);
        assert_eq!(d.original_message_id.as_deref(), Some("rl-aaaabbbbccccddddeeeeffff@acme.test"));
        assert_eq!(d.recipients[0].remote_mta.as_deref(), Some("gmail-smtp-in.l.google.com. (2a00:1450::1b)"));
    }

    #[test]
    fn a_delayed_report_is_not_a_failure() {
        let delayed = POSTFIX
            .replace("Action: failed", "Action: delayed")
            .replace("Status: 5.1.1", "Status: 4.4.7")
            .replace("Subject: Undelivered Mail Returned to Sender", "Subject: Delayed Mail (still being retried)");
        let u = understand(delayed.as_bytes(), day()).unwrap();
        let d = u.delivery.as_ref().expect("a delivery report");
        assert_eq!(d.recipients[0].action, DsnAction::Delayed);
        assert_eq!(d.failed().count(), 0);
        let p = plan(&u, &ReplyContext::default());
        assert_eq!(p.actions, vec![ReplyAction::IgnoreAutoReply { back_on: None }], "nothing is flagged");
        assert!(u.reasons.iter().any(|r| r.contains("not a failure")), "{:?}", u.reasons);
    }

    #[test]
    fn an_exchange_ndr_without_a_report_part_is_read_from_its_text() {
        let ndr = "From: Microsoft Outlook <postmaster@client.example>\r
To: relances@acme.test\r
Subject: Undeliverable: Relance facture FAC-1001\r
In-Reply-To: <rl-99998888777766665555aaaa@acme.test>\r
Content-Type: text/plain; charset=utf-8\r
\r
Delivery has failed to these recipients or groups:\r
\r
jdupont@client.example (jdupont@client.example)\r
The email address you entered couldn't be found. Please check the recipient's email address and try to resend the message.\r
\r
Diagnostic information for administrators:\r
\r
Generating server: EX01.client.example\r
\r
jdupont@client.example\r
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'\r
\r
Original message headers:\r
\r
From: Acme Relances <relances@acme.test>\r
To: <jdupont@client.example>\r
Message-ID: <rl-99998888777766665555aaaa@acme.test>\r
";
        let u = understand(ndr.as_bytes(), day()).unwrap();
        assert_eq!(u.auto_reply, Some(AutoKind::DeliveryFailure));
        let d = u.delivery.as_ref().expect("a report read from the text");
        assert_eq!(d.source, ReportSource::Text);
        let [r] = d.recipients.as_slice() else { panic!("{:?}", d.recipients) };
        assert_eq!((r.final_recipient.as_str(), r.action), ("jdupont@client.example", DsnAction::Failed));
        assert_eq!(r.status.as_deref(), Some("5.1.10"));
        assert!(r.diagnostic.as_deref().unwrap_or_default().contains("RecipientNotFound"), "{r:?}");
        assert_eq!(d.original_message_id.as_deref(), Some("rl-99998888777766665555aaaa@acme.test"));
    }

    #[test]
    fn a_postfix_text_bounce_names_each_address_with_its_own_code() {
        let text = "From: Mail Delivery System <MAILER-DAEMON@mx.acme.test>\r
To: relances@acme.test\r
Subject: Undelivered Mail Returned to Sender\r
\r
This is the mail system at host mx.acme.test.\r
\r
I'm sorry to have to inform you that your message could not\r
be delivered to one or more recipients. For further assistance, please send mail to postmaster.\r
\r
<a@client.example>: host mx.client.example[203.0.113.5] said: 550 5.1.1 User unknown\r
\r
<b@client.example>: host mx.client.example[203.0.113.5] said: 552 5.2.2 Mailbox full\r
\r
--- Below this line is a copy of the message.\r
\r
Return-Path: <relances@acme.test>\r
From: Acme Relances <relances@acme.test>\r
Message-ID: <rl-000011112222333344445555@acme.test>\r
";
        let u = understand(text.as_bytes(), day()).unwrap();
        let d = u.delivery.as_ref().expect("a report read from the text");
        let got: Vec<(&str, Option<&str>)> =
            d.recipients.iter().map(|r| (r.final_recipient.as_str(), r.status.as_deref())).collect();
        assert_eq!(got, [("a@client.example", Some("5.1.1")), ("b@client.example", Some("5.2.2"))]);
        assert!(d.recipients.iter().all(|r| r.action == DsnAction::Failed));
        assert_eq!(d.original_message_id.as_deref(), Some("rl-000011112222333344445555@acme.test"));
        assert!(u.thread.contains(&"rl-000011112222333344445555@acme.test".to_string()));
    }

    #[test]
    fn a_text_bounce_with_only_a_temporary_code_is_a_delay() {
        let text = "From: MAILER-DAEMON@mx.acme.test\r\nSubject: Delivery Status Notification (Delay)\r\n\r\n\
                    Your message to slow@client.example has not yet been delivered: 451 4.4.1 no answer from host.\r\n\
                    The server will retry for 4 more days.\r\n";
        let u = understand(text.as_bytes(), day()).unwrap();
        let d = u.delivery.as_ref().expect("a report");
        assert_eq!(d.recipients[0].action, DsnAction::Delayed);
        assert_eq!(d.recipients[0].status.as_deref(), Some("4.4.1"));
        assert_eq!(plan(&u, &ReplyContext::default()).actions, vec![ReplyAction::IgnoreAutoReply { back_on: None }]);
    }

    #[test]
    fn a_bounce_naming_no_address_still_flags_the_contact_from_its_text() {
        let u = understand(b"From: postmaster@x.example\r\nSubject: Returned mail\r\n\r\nDelivery failure.\r\n", day())
            .unwrap();
        assert_eq!((u.auto_reply, u.delivery.as_ref()), (Some(AutoKind::DeliveryFailure), None));
        let p = plan(&u, &ReplyContext::default());
        assert!(matches!(&p.actions[..], [ReplyAction::ContactUndeliverable { .. }]), "{:?}", p.actions);
    }

    #[test]
    fn understandings_stored_before_the_report_existed_still_read() {
        let old = r#"{"subject":null,"from":null,"message_id":null,"thread":[],"date":null,"language":"fr","auto_reply":"delivery_failure","back_on":null,"intent":"auto_reply","confidence":0.97,"promised_date":null,"amount":null,"currency":null,"refs":[],"new_text":"","attachments":[],"reasons":[]}"#;
        let u: crate::replies::Understanding = serde_json::from_str(old).unwrap();
        assert_eq!(u.delivery, None);
        let again: crate::replies::Understanding =
            serde_json::from_str(&serde_json::to_string(&understand(POSTFIX.as_bytes(), day()).unwrap()).unwrap())
                .unwrap();
        assert_eq!(again.delivery.map(|d| d.recipients.len()), Some(1), "the report survives a round trip");
    }
}
