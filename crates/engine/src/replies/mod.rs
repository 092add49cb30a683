//! Understanding customer replies to reminders (French and English). Pure:
//! bytes in, an [`Understanding`] out; no network, no model.
//!
//! 1. MIME with mail-parser (charsets, quoted-printable, base64, attachments
//!    listed); the HTML part, when there is one, is rendered to text by
//!    [`html`] with its quoted containers marked as `> ` lines.
//! 2. The customer's **new text** ([`quote`]): quoted history (`>` lines and
//!    the customer's lines between them, attributions, Outlook/Notes/Zimbra
//!    header blocks and separators, forwarded blocks), signatures and legal
//!    footers are cut.
//! 3. **Language** by stop-word counts; **auto-replies** by RFC 3834 and
//!    vendor headers, delivery reports, and subject/body patterns.
//! 4. **Intent** by weighted phrase patterns (negations and corrections
//!    handled: "nous ne réglerons pas", "send a corrected invoice" are
//!    disputes), with a confidence and the phrases that decided.
//! 5. **Entities**: promised date ([`dates`]), amounts with currency, invoice
//!    references from the subject and the new text.
//!
//! The engine reads no clock: the caller gives the day the message was
//! received, which dates relative to "today" ("vendredi", "next week") are
//! read from when the message carries no `Date:` header.
//!
//! What a reply then leads to (a promise recorded, invoices disputed, a task
//! for a person…) is decided by [`actions::plan`], from the understanding and
//! the facts the store gathers.

pub mod actions;
pub mod cues;
pub mod dates;
pub mod dsn;
pub mod html;
pub mod model;
pub mod promised;
pub mod proposal;
pub mod quote;
pub mod token;

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use mail_parser::MimeHeaders;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::matching::text::fold;
use relance_domain::Language;

/// Intents of a customer reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    PromiseToPay,
    Dispute,
    AlreadyPaid,
    PaymentPlanRequest,
    InvoiceCopyRequest,
    AutoReply,
    #[default]
    Other,
}

impl Intent {
    pub const ALL: [Intent; 7] = [
        Intent::PromiseToPay,
        Intent::Dispute,
        Intent::AlreadyPaid,
        Intent::PaymentPlanRequest,
        Intent::InvoiceCopyRequest,
        Intent::AutoReply,
        Intent::Other,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Intent::PromiseToPay => "promise_to_pay",
            Intent::Dispute => "dispute",
            Intent::AlreadyPaid => "already_paid",
            Intent::PaymentPlanRequest => "payment_plan_request",
            Intent::InvoiceCopyRequest => "invoice_copy_request",
            Intent::AutoReply => "auto_reply",
            Intent::Other => "other",
        }
    }
}

impl std::str::FromStr for Intent {
    type Err = relance_domain::replies::UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Intent::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| relance_domain::replies::UnknownState { kind: "intent", value: s.to_string() })
    }
}

impl std::fmt::Display for Intent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kind of automatic message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoKind {
    OutOfOffice,
    Acknowledgement,
    DeliveryFailure,
}

/// What a reply says.
///
/// Stored with each handled message (serde, JSON) and read back typed: a
/// change of this type that older rows cannot be read as must come with a new
/// [`UNDERSTANDING_VERSION`] and a reader of the previous one in the store.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Understanding {
    pub subject: Option<String>,
    pub from: Option<String>,
    pub message_id: Option<String>,
    /// Message-IDs from In-Reply-To and References, for threading to our reminders.
    pub thread: Vec<String>,
    /// The addresses the message was delivered to (`To`, `Cc`, `Delivered-To`,
    /// `X-Original-To`, `Envelope-To`), lowercase: a reply token ([`token`])
    /// in one links it to its reminder when the thread headers are gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addressed_to: Vec<String>,
    pub date: Option<DateTime<FixedOffset>>,
    pub language: Language,
    pub auto_reply: Option<AutoKind>,
    /// For an out-of-office message: when the person is back, if stated.
    pub back_on: Option<NaiveDate>,
    pub intent: Intent,
    pub confidence: f64,
    pub promised_date: Option<NaiveDate>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub refs: Vec<String>,
    pub new_text: String,
    pub attachments: Vec<String>,
    pub reasons: Vec<String>,
    /// Structural problems found while reading (broken MIME, unknown charset):
    /// the message is readable but a human should check it.
    #[serde(default)]
    pub problems: Vec<String>,
    /// For a delivery failure: the delivery report read from it ([`dsn`]);
    /// absent from understandings stored before it existed.
    #[serde(default)]
    pub delivery: Option<dsn::DeliveryReport>,
    /// For a payment-plan request: the plan proposed ([`proposal::extract`]),
    /// when one can be read. Absent from understandings stored before it
    /// existed, which still read (version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<proposal::PlanProposal>,
}

/// Version of the stored form of [`Understanding`] (version 1: the serde JSON
/// of this type, or `{}` when nothing could be read).
pub const UNDERSTANDING_VERSION: u32 = 1;

/// A message that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("not an e-mail message (no RFC 5322 headers could be read)")]
    NotAMessage,
}

/// Reads and understands one raw message received on `received` (the day
/// relative dates are read from when the message has no `Date:` header).
pub fn understand(raw: &[u8], received: NaiveDate) -> Result<Understanding, ReplyError> {
    understand_with(raw, received, model::Model::shipped(), None)
}

/// [`understand`] with another base model (a freshly trained one) and a
/// tenant's learned corrections added to it (see [`model::Overlay`]).
pub fn understand_with(
    raw: &[u8],
    received: NaiveDate,
    base: &model::Model,
    overlay: Option<&model::Overlay>,
) -> Result<Understanding, ReplyError> {
    read(raw, received, base, overlay, false).map(|(u, _)| u)
}

/// The model features of a message, as [`understand`] computes them: what
/// `relance replies train` and a tenant's corrections learn from.
pub fn features(raw: &[u8], received: NaiveDate) -> Result<Vec<String>, ReplyError> {
    read(raw, received, &model::Model::default(), None, true).map(|(_, f)| f)
}

fn read(
    raw: &[u8],
    received: NaiveDate,
    model: &model::Model,
    overlay: Option<&model::Overlay>,
    want_features: bool,
) -> Result<(Understanding, Vec<String>), ReplyError> {
    // Old Mac line endings (bare CR only) hide the end of the headers from the parser.
    // Such messages are rare and old: only their first MAX_BARE_CR_BYTES are
    // rewritten (and read), so the copy stays small.
    let normalized;
    let mut cut_raw = false;
    let raw = if !raw.contains(&b'\n') && raw.contains(&b'\r') {
        cut_raw = raw.len() > MAX_BARE_CR_BYTES;
        normalized = bare_cr_to_crlf(&raw[..raw.len().min(MAX_BARE_CR_BYTES)]);
        &normalized[..]
    } else {
        raw
    };
    let msg = mail_parser::MessageParser::default().parse(raw).ok_or(ReplyError::NotAMessage)?;
    if msg.headers().is_empty() {
        return Err(ReplyError::NotAMessage);
    }
    let header = |name: &str| msg.header_raw(name).map(|v| v.trim().to_string());
    let subject = msg.subject().map(str::to_string);
    let from = msg.from().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_string);
    let date = msg.date().and_then(|d| {
        let secs = (i32::from(d.tz_hour) * 3600 + i32::from(d.tz_minute) * 60) * if d.tz_before_gmt { -1 } else { 1 };
        FixedOffset::east_opt(secs).and_then(|tz| {
            tz.with_ymd_and_hms(
                i32::from(d.year),
                u32::from(d.month),
                u32::from(d.day),
                u32::from(d.hour),
                u32::from(d.minute),
                u32::from(d.second),
            )
            .single()
        })
    });
    let mut thread = Vec::new();
    for v in [msg.in_reply_to(), msg.references()] {
        if let Some(list) = v.as_text_list() {
            thread.extend(list.iter().map(|s| s.to_string()));
        } else if let Some(t) = v.as_text() {
            thread.push(t.to_string());
        }
    }
    thread.dedup();
    let (body, cut) = bounded_body(&quote::readable_body(&msg));
    let attachments = msg.attachments().filter_map(|a| a.attachment_name().map(str::to_string)).collect();
    let headers = AutoHeaders {
        auto_submitted: header("Auto-Submitted"),
        x_autoreply: header("X-Autoreply").or_else(|| header("X-Autorespond")),
        precedence: header("Precedence"),
        x_auto_response_suppress: header("X-Auto-Response-Suppress"),
        content_type: header("Content-Type"),
        from: from.clone(),
    };
    let base = date.map_or(received, |d| d.date_naive());
    let (mut u, features) = analyse(
        Message { subject, from, message_id: msg.message_id().map(str::to_string), thread, date, attachments },
        base,
        &body,
        &headers,
        model,
        overlay,
        want_features,
    );
    u.problems = mime_problems(raw);
    u.addressed_to = addressed_to(&msg);
    if u.auto_reply == Some(AutoKind::DeliveryFailure) {
        read_delivery_report(&mut u, &msg, &body);
    }
    if cut_raw {
        u.reasons.push(format!(
            "bare CR line endings: only the first {} MiB of the message were read",
            MAX_BARE_CR_BYTES >> 20
        ));
    }
    if cut {
        u.reasons.push(format!(
            "long body: only its first {} KiB (lines up to {MAX_LINE_CHARS} characters) were read",
            MAX_BODY_BYTES / 1024
        ));
    }
    Ok((u, features))
}

/// How much of a body is read: a customer's reply is at the top, and the
/// bound keeps memory proportional to it, not to a 10 MB history or log.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Longest part of a message with bare CR line endings that is read.
pub const MAX_BARE_CR_BYTES: usize = 2 * 1024 * 1024;
/// Longest line read (longer ones are cut): the pattern matching stays linear.
pub const MAX_LINE_CHARS: usize = 2_000;

/// The start of `body` (at most [`MAX_BODY_BYTES`]) with CRLF and bare CR
/// turned into LF and every line cut to [`MAX_LINE_CHARS`] characters, in
/// one pass; `true` when anything was cut.
fn bounded_body(body: &str) -> (String, bool) {
    let mut end = body.len().min(MAX_BODY_BYTES);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = end < body.len();
    let mut out = String::with_capacity(end);
    let mut line_chars = 0usize;
    let mut chars = body[..end].chars().peekable();
    while let Some(c) = chars.next() {
        let c = match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                '\n'
            }
            c => c,
        };
        if c == '\n' {
            line_chars = 0;
            out.push('\n');
        } else if line_chars < MAX_LINE_CHARS {
            line_chars += 1;
            out.push(c);
        } else {
            cut = true;
        }
    }
    (out, cut)
}

/// A message with bare CR line endings, with CRLF ones instead.
fn bare_cr_to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 16);
    for &b in raw {
        out.push(b);
        if b == b'\r' {
            out.push(b'\n');
        }
    }
    out
}

/// Problems mail-parser reads through silently: a multipart boundary that
/// never occurs, a charset nobody knows.
fn mime_problems(raw: &[u8]) -> Vec<String> {
    static BOUNDARY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"(?i)boundary\s*=\s*"?([^";\r\n]+)"?"#).unwrap());
    static CHARSET: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"(?i)charset\s*=\s*"?([A-Za-z0-9_.:+-]+)"?"#).unwrap());
    let text = String::from_utf8_lossy(&raw[..raw.len().min(4 * 1024 * 1024)]);
    let mut problems = Vec::new();
    for c in BOUNDARY.captures_iter(&text) {
        let b = c[1].trim();
        if !text.contains(&format!("--{b}\n")) && !text.contains(&format!("--{b}\r\n")) {
            problems.push(format!("broken MIME: multipart boundary `{b}` never starts a part"));
        }
    }
    for c in CHARSET.captures_iter(&text) {
        let label = c[1].trim();
        if encoding_rs::Encoding::for_label(label.as_bytes()).is_none() && !label.eq_ignore_ascii_case("us-ascii") {
            problems.push(format!("unknown charset `{label}`: text decoded with replacement characters"));
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

struct AutoHeaders {
    auto_submitted: Option<String>,
    x_autoreply: Option<String>,
    precedence: Option<String>,
    x_auto_response_suppress: Option<String>,
    content_type: Option<String>,
    from: Option<String>,
}

/// The headers of a message that end up in its [`Understanding`].
struct Message {
    subject: Option<String>,
    from: Option<String>,
    message_id: Option<String>,
    thread: Vec<String>,
    date: Option<DateTime<FixedOffset>>,
    attachments: Vec<String>,
}

fn analyse(
    m: Message,
    base: NaiveDate,
    body: &str,
    headers: &AutoHeaders,
    model: &model::Model,
    overlay: Option<&model::Overlay>,
    want_features: bool,
) -> (Understanding, Vec<String>) {
    let Message { subject, from, message_id, thread, date, attachments } = m;
    let new_text = quote::extract(body, from.as_deref());
    let subject_text = subject.as_deref().unwrap_or("");
    let folded_new = fold_lower(&new_text);
    let folded_subject = fold_lower(subject_text);
    let language = language(&format!("{folded_subject} {folded_new}"));
    let mut reasons = Vec::new();

    let auto = auto_reply(headers, &folded_subject, &folded_new, &mut reasons);
    let found_dates = dates::find_dates(&folded_new, base, language);
    // The rules read the dates of the new text in its own language: the ones
    // just found unless the subject tipped the language.
    let own_language = language_of(&folded_new);
    let own_dates;
    let rule_dates = if own_language == language {
        &found_dates
    } else {
        own_dates = dates::find_dates(&folded_new, base, own_language);
        &own_dates
    };
    let scores = rule_scores(&folded_new, Some((base, rule_dates)));
    let signals = signals(&scores, &folded_new, &found_dates, base, !attachments.is_empty());
    let signal_refs: Vec<&str> = signals.iter().map(String::as_str).collect();
    let mut features = Vec::new();
    if want_features {
        model::for_each_feature(&folded_new, &folded_subject, &signal_refs, |f| features.push(f.to_string()));
    }
    let visit = |emit: &mut dyn FnMut(&str)| model::for_each_feature(&folded_new, &folded_subject, &signal_refs, emit);
    let (intent, confidence, auto) = match auto {
        Some(kind) => (Intent::AutoReply, 0.97, Some(kind)),
        None => {
            let (intent, confidence) = decide(scores, visit, model, overlay, &mut reasons);
            // Closures and acknowledgements without headers: the model read them.
            let auto = (intent == Intent::AutoReply).then(|| {
                if found_dates.iter().any(|d| d.date >= base) {
                    AutoKind::OutOfOffice
                } else {
                    AutoKind::Acknowledgement
                }
            });
            (intent, confidence, auto)
        }
    };
    let back_on = if auto == Some(AutoKind::OutOfOffice) {
        found_dates.iter().map(|f| f.date).find(|d| *d >= base)
    } else {
        None
    };
    let promised = if intent == Intent::PromiseToPay {
        promised_date(&folded_new, base, &found_dates, &mut reasons)
    } else {
        None
    };
    let (amount, currency) =
        if matches!(intent, Intent::PromiseToPay | Intent::AlreadyPaid | Intent::PaymentPlanRequest) {
            amount(&new_text).map_or((None, None), |(a, c)| (Some(a), c))
        } else {
            (None, None)
        };
    let plan = if intent == Intent::PaymentPlanRequest { proposal::extract(&new_text, base, language) } else { None };
    let refs = if intent == Intent::AutoReply { Vec::new() } else { references(subject_text, &new_text) };
    let u = Understanding {
        subject,
        from,
        message_id,
        thread,
        addressed_to: Vec::new(),
        date,
        language,
        auto_reply: auto,
        back_on,
        intent,
        confidence,
        promised_date: promised,
        amount,
        currency,
        refs,
        new_text,
        attachments,
        reasons,
        problems: Vec::new(),
        delivery: None,
        plan,
    };
    (u, features)
}

/// Headers naming where a message was delivered: a reply token ([`token`])
/// may be in any of them (a bounce's `To` is the envelope sender of the
/// returned message; `Delivered-To` is what the receiving server saw).
const DELIVERY_HEADERS: [&str; 6] = ["To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To"];

/// The addresses in the message's [`DELIVERY_HEADERS`], lowercase, once each.
fn addressed_to(msg: &mail_parser::Message<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in msg.headers() {
        if !DELIVERY_HEADERS.iter().any(|n| h.name.as_str().eq_ignore_ascii_case(n)) {
            continue;
        }
        let Some(raw) = msg.raw_message.get(h.offset_start as usize..h.offset_end as usize) else { continue };
        let raw = String::from_utf8_lossy(raw);
        for word in raw.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '"' | '(' | ')')) {
            let word = word.trim_matches(['\'', '.', ':']);
            if word.len() > 2 && word.contains('@') && !out.iter().any(|a| a.eq_ignore_ascii_case(word)) {
                out.push(word.to_ascii_lowercase());
            }
        }
    }
    out
}

/// Reads the delivery report of a bounce into `u` (see [`dsn`]): the
/// recipients and what happened to them, and the returned message's
/// Message-ID added to the thread (it links the bounce to our reminder).
fn read_delivery_report(u: &mut Understanding, msg: &mail_parser::Message<'_>, body: &str) {
    let Some(report) = dsn::read(msg, body, u.from.as_deref()) else {
        u.reasons.push("delivery report: no recipient found in it".into());
        return;
    };
    let failed: Vec<String> = report
        .failed()
        .map(|r| format!("{} ({})", r.final_recipient, r.status.as_deref().unwrap_or("no code")))
        .collect();
    u.reasons.push(if failed.is_empty() {
        "delivery report: no recipient failed (delayed or delivered: not a failure)".to_string()
    } else {
        format!("delivery report: failed for {}", failed.join(", "))
    });
    if let Some(id) = &report.original_message_id
        && !u.thread.contains(id)
    {
        u.thread.push(id.clone());
    }
    u.delivery = Some(report);
}

/// A pattern whose `\b` are ASCII word boundaries: the texts are folded
/// (no accents left), and a Unicode `\b` would send any text with a `€` or
/// an emoji to the slow regex engines (measured: a quarter of the time).
fn ascii_words(pattern: &str) -> Regex {
    #[allow(clippy::unwrap_used)] // the patterns are constants, checked by every test
    Regex::new(&pattern.replace(r"\b", r"(?-u:\b)").replace(r"\w", r"(?-u:\w)").replace(r"\s", r"(?-u:\s)")).unwrap()
}

/// Lower case without accents, so patterns are written once.
pub fn fold_lower(s: &str) -> String {
    fold(s).to_lowercase().replace(['\u{2019}', '`'], "'")
}

/// The customer's own text of a text body: see [`quote`].
pub fn new_text(body: &str) -> String {
    quote::new_text(body)
}

/// [`language`] under another name, for where a variable shadows it.
fn language_of(folded: &str) -> Language {
    language(folded)
}

fn language(folded: &str) -> Language {
    const FR: &[&str] = &[
        "le", "la", "les", "de", "des", "du", "nous", "vous", "est", "et", "pour", "merci", "bonjour", "facture",
        "une", "pas", "sur", "avec", "cette", "je", "au",
    ];
    const EN: &[&str] = &[
        "the", "and", "to", "of", "we", "you", "is", "for", "this", "thanks", "hi", "hello", "invoice", "will", "on",
        "with", "our", "it", "please", "be", "was",
    ];
    let (mut fr, mut en) = (0, 0);
    for w in folded.split(|c: char| !c.is_alphanumeric() && c != '\'') {
        if FR.contains(&w) {
            fr += 1;
        }
        if EN.contains(&w) {
            en += 1;
        }
    }
    if en > fr { Language::En } else { Language::Fr }
}

/// RFC 3834 and vendor headers, delivery reports, then subject and body patterns.
fn auto_reply(h: &AutoHeaders, subject: &str, body: &str, reasons: &mut Vec<String>) -> Option<AutoKind> {
    static DELIVERY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(undeliverable|undelivered|delivery status notification|delivery has failed|mail delivery failed|could ?n.t be (found|delivered)|non remis|echec de (la )?remise|adresse .{0,40}introuvable|returned mail|delivery failure|user unknown|mailbox unavailable)").unwrap()
    });
    static OOO: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(out of (the )?office|automatic reply|auto.?reply|autoreply|reponse automatique|absent\(?e?\)? du bureau|je suis (actuellement )?absente?|je suis en (conges|deplacement|vacances|formation)|en conges jusqu|on (annual )?leave|i am (currently )?(away|out|on leave|travelling|traveling)|away from (the )?office|de retour le|back (in the office )?on|limited access to (my )?e-?mail|will not be forwarded|ne sera pas transfere)").unwrap()
    });
    static ACK: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(accuse de reception|nous avons bien recu votre (message|demande|e-?mail)|votre (message|demande) a (bien )?ete (recu|enregistre)e?|we (have )?received your (message|e-?mail|request)|this is an automated (message|response|reply)|ticket (number|#)|message automatique|ne pas repondre|do not reply)").unwrap()
    });
    let from = h.from.as_deref().unwrap_or("").to_lowercase();
    let is_dsn = h.content_type.as_deref().is_some_and(|c| c.to_lowercase().contains("multipart/report"))
        || from.starts_with("mailer-daemon")
        || from.starts_with("postmaster");
    if is_dsn || DELIVERY.is_match(subject) || (DELIVERY.is_match(body) && body.len() < 1500) {
        reasons.push("delivery failure report (DSN, mailer-daemon or undeliverable notice)".into());
        return Some(AutoKind::DeliveryFailure);
    }
    let header_says = h.auto_submitted.as_deref().is_some_and(|v| !v.eq_ignore_ascii_case("no"))
        || h.x_autoreply.is_some()
        || h.precedence
            .as_deref()
            .is_some_and(|p| matches!(p.to_lowercase().as_str(), "auto_reply" | "bulk" | "junk" | "list"))
        || h.x_auto_response_suppress
            .as_deref()
            .is_some_and(|v| v.to_lowercase().contains("oof") || v.to_lowercase().contains("all"));
    // "Notre comptable est en arrêt maladie": someone else's absence, said by a person.
    // Someone else's leave ("mon associé est en arrêt maladie") or one told
    // as a story ("je suis en arrêt maladie depuis un mois", no return
    // date) is no automatic reply.
    let auto_extra = AUTO_EXTRA.find_iter(body).any(|m| {
        !body[..m.start()].ends_with("est en ")
            && (!body[m.end()..].trim_start().starts_with("depuis") || body.contains("jusqu"))
    });
    let ooo_text = OOO.is_match(subject) || ((OOO.is_match(body) || auto_extra) && body.len() < 1200);
    let ack_text = ACK.is_match(subject) || (ACK.is_match(body) && body.len() < 1200);
    if header_says || ooo_text || ack_text {
        if header_says {
            reasons.push("automatic-reply headers (RFC 3834 Auto-Submitted, X-Autoreply, Precedence…)".into());
        }
        let kind = if ooo_text {
            reasons.push("out-of-office wording".into());
            AutoKind::OutOfOffice
        } else if ack_text {
            reasons.push("automatic acknowledgement wording".into());
            AutoKind::Acknowledgement
        } else {
            AutoKind::OutOfOffice
        };
        return Some(kind);
    }
    None
}

/// Weighted phrase patterns per intent (text lower-case, accents removed).
static RULES: LazyLock<Vec<(Intent, f64, Regex)>> = LazyLock::new(|| {
    let r = |i: Intent, w: f64, p: &str| (i, w, ascii_words(p));
    use Intent::*;
    vec![
        // Already paid: past tense of paying, proofs of payment.
        r(
            AlreadyPaid,
            3.0,
            r"\b(deja (ete )?(paye|regle|vire)e?s?|avons (deja )?(paye|regle|vire|effectue (le|un) (paiement|virement|reglement))|a (deja )?ete (reglee?|payee?|vire|effectue)|ont ete (reglees|payees)|(paiement|virement|reglement|cheque) (de .{0,25})?(a ete|est) (effectue|emis|envoye|parti|passe)|avis de virement|preuve de paiement|justificatif de (paiement|virement)|(reglee?|payee?) (par (virement|cheque|carte|lcr|prelevement) )?(le|il y a|hier)|nous l'avons (reglee|payee))",
        ),
        r(
            AlreadyPaid,
            3.0,
            r"\b(already (been )?(paid|settled)|(we|i) (have )?(paid|settled|sent|wired|transferred) (this|it|the|your|that|invoice|payment|the balance|on|last|yesterday)|(was|were|has been|have been) (paid|settled|transferred|wired|sent|processed)|payment (was|has been) (made|sent|processed|released|executed)|remittance advice|proof of payment|cleared on|(it|payment) (cleared|went out)|settled (last|on|yesterday)|paid (in full )?(last|on|yesterday))",
        ),
        // Promise to pay: future payment, commitments.
        r(
            PromiseToPay,
            2.5,
            r"\b(procederons? (au|a un) (virement|paiement|reglement)|(sera|seront) (reglee?s?|payee?s?|vire)|(allons|vais|va) (vous )?(regler|payer|virer|proceder)|reglerons|paierons|payerons|virerons|partira|vous (aurez|recevrez) (le|votre) (paiement|virement|reglement)|(je|nous) (vous )?fais (le|un) (virement|paiement)|(paiement|virement|reglement) (prevu|programme|planifie|lundi|mardi|mercredi|jeudi|vendredi|demain|le|au|d'ici|sous|en fin|fin|cette semaine|la semaine)|sera (effectue|fait|lance|emis)|mise? en paiement|campagne de paiement|je m'en occupe|c'est note|(paiement|virement|reglement|facture)\b.{0,40}\b(est|a ete) (programme|prevu|planifie|valide|bon pour paiement)e?s? (pour|le|au|a))",
        ),
        r(
            PromiseToPay,
            2.5,
            r"\b((will|'ll|shall) (be )?(pay|paid|settle|settled|send|sent|transfer|wire|process|processed|release|released|make the payment)|(we|i)('ll| will| shall| are going to| am going to) (pay|settle|send|transfer|wire|process)|paying (it|this|you|the invoice)?\s*(today|tomorrow|on|next|this|by)|(payment|transfer|it|this|invoice)\b.{0,40}\b(is|has been|was) (booked|scheduled|planned|set up|queued|approved) (for|on|to go)|payment run|is included in (our|the) (next )?payment|expect (the )?payment|going out (on|by|next|this))",
        ),
        // Dispute: contesting, errors, refusals, corrections.
        r(
            Dispute,
            3.5,
            r"\b(contest(ons|e|er|ation)|litige|reclamation|ne (reglerons|paierons|payerons|pouvons pas (regler|payer))|refus(e|ons) de (payer|regler)|ne correspond pas|non conforme|(jamais|pas) (ete )?(realisee?|livree?|effectuee?|recue?s? (la|les) (marchandise|livraison|prestation))|(livraison|commande|marchandise) .{0,30}(incomplete|manquant|endommage|abime|defectueu)|manquant|erron(e|ee)|erreur (de|sur|dans)|fait doublon|en double|double facturation|factur(e|ee) deux fois|avoir|annuler (la|cette) facture|facture (corrigee|rectificative|rectifiee)|corriger la facture|pas commande|n'avons (jamais )?commande)",
        ),
        r(
            Dispute,
            3.5,
            r"\b(dispute|disputing|(won't|will not|cannot|can't|refuse to) pay|(charged|billed|invoiced) twice|double (charge|billing)|duplicate (invoice|charge)|overcharg|(is|was) (wrong|incorrect)|wrong (amount|price|quantity|invoice|rate)|incorrect (amount|price|quantity|invoice)|(arrived|was|were) (damaged|broken|defective)|damaged|never (delivered|received the goods|ordered|performed)|not (as )?(ordered|agreed|quoted)|credit note|corrected invoice|correct(ed)? the invoice|missing (po|purchase order)|po number is missing|until this is (corrected|resolved|fixed)|we returned (them|the goods))",
        ),
        // Copy of the invoice.
        r(
            InvoiceCopyRequest,
            3.0,
            r"\b((re)?envoy(er|ez)[- ]?(nous|moi)? (la|une|cette)? ?(copie|facture|duplicata)|nous la renvoyer|me la renvoyer|renvoyer (la|cette) facture|duplicata|copie de (la|cette) facture|ne (la )?retrouvons pas|(pas|jamais) recu (la|cette|votre) facture|transmettre (la|une copie|un duplicata|cette facture)|facture en pdf)",
        ),
        r(
            InvoiceCopyRequest,
            3.0,
            r"\b(re-?send|send (us |me )?(a )?(copy|duplicate|the invoice|it again)|copy of (the|this|your) invoice|never (received|got) (the|this|your) (original )?invoice|can't find (the|this) invoice|cannot find (the|this) invoice|invoice (as )?(a )?pdf|forward (the|this) invoice)",
        ),
        // Payment plan.
        r(
            PaymentPlanRequest,
            3.5,
            r"\b(echeancier|en (deux|trois|quatre|cinq|six|plusieurs|\d) (fois|mensualites|versements)|etaler|echelonn|mensualites|plan de paiement|(par|chaque) mois|paiement partiel .{0,40}(puis|et le solde|le reste)|acompte .{0,60}(solde|reste))",
        ),
        r(
            PaymentPlanRequest,
            3.5,
            r"\b(payment plan|instal+ments?|split (it|this|the (invoice|payment|amount))|(monthly|weekly) (payments|instal)|spread (the )?(payment|cost)|pay (it )?in (two|three|four|\d) (parts|times|payments)|part now and (the rest|the balance)|per month)",
        ),
        // Past tense of paying (passé composé, English past): the money has left.
        r(
            AlreadyPaid,
            3.0,
            r"\b(avons|avez|ai|a|ont|avions|est|sont|etait|ete)\s+(\w+\s+){0,3}?(paye|regle|vire|verse|envoye|emis|effectue|transfere|poste|expedie|parti|debite|encaisse|honore)e?s?\b.{0,60}\b(paiement|virement|reglement|cheque|facture|montant|somme|lcr|traite|fonds)|\b(paiement|virement|reglement|cheque|versement|transfert)\s+(\w+\s+){0,3}?(effectue|emis|envoye|parti|passe|debite|encaisse|execute|realise)e?s?\b",
        ),
        r(
            AlreadyPaid,
            3.0,
            r"\b(we|i|they|it|payment|funds|the money|our check|our cheque|the transfer|the wire|the check|the cheque)\b[^.!?]{0,40}\b(paid|settled|sent|wired|transferred|remitted|processed|mailed|posted|left (our|the) account|cleared|went out|was made|were made|was executed|was debited)\b",
        ),
        // Refusal, cancellation, errors: the invoice cannot be paid as issued.
        r(
            Dispute,
            3.0,
            r"\b(refus(ons|e|er|ez)|rejet(ons|e|er)|annule(e|es|r)?|commande annulee|erreur|errone|superieur(e|es)? a (celles?|ceux|la commande|ce qui)|n'est pas due|ne devons (rien|pas)|ne sommes pas redevables|factur\w* a tort|ne correspond(ent)? pas)",
        ),
        r(
            Dispute,
            3.0,
            r"\b(refuse|reject(ed|ing)?|cancel+ed (this|the|our) (order|contract|subscription)|should not (exist|have been (issued|invoiced|billed|charged))|error in|mistake in|(is|are) (wrong|incorrect)|(more|higher) than (we )?(ordered|received|agreed|quoted)|we do not owe|not owed|billed (in error|by mistake))",
        ),
        r(
            InvoiceCopyRequest,
            2.5,
            r"\b(faire parvenir (la|une|cette|votre) (copie|facture)|(ne l'avons|n'avons) pas (recu )?(la|cette|votre)? ?facture|nous ne l'avons pas|(send|forward) (the|this) invoice (again|once more))",
        ),
        // Vocabulary of each act (weaker than the phrases above, but open to new wordings).
        r(
            Dispute,
            2.5,
            r"\b(contest\w*|litig\w*|reclamation|erreur\w*|errone\w*|inexact\w*|incorrect\w*|non conforme|manqu\w*|incomplet\w*|abime\w*|endommag\w*|defectueu\w*|en panne|rembours\w*|resili\w*|surfactur\w*|trop percu|alors que (seul|nous|la commande|le devis|le contrat)|pas celui (du|de notre) (contrat|devis|bon de commande)|(tarif|prix|montant|quantite)s? .{0,40}(n'est pas|ne correspond|ne sont pas|differ)|(seules?|seulement|que) \d+ .{0,30}(effectue|livre|recu|commande)\w*)",
        ),
        r(
            Dispute,
            2.5,
            r"\b(dispute\w*|contest\w*|quer(y|ied) (this|the) invoice|wrong\w*|incorrect\w*|inaccurate|errors?\b|mistake\w*|overcharg\w*|overbill\w*|discrepanc\w*|mismatch\w*|short (by|delivered|shipped)|damaged|defective|faulty|refund\w*|terminated|cancell?ed|only pay for|not (what|as) (we )?(ordered|agreed|quoted)|relates to a service we (no longer|terminated|cancelled|ended))",
        ),
        r(
            AlreadyPaid,
            2.5,
            r"\b(vous avez ete (paye|regle|credite)s?|(avez|avons) ete (debite|preleve)s?|releve (bancaire )?(joint|ci-joint)|bank statement attached|(was|were|has been|have been|had been) (paid|settled|credited|debited|transferred|remitted|honou?red)|confirmation of payment|payment confirmation)",
        ),
        r(
            InvoiceCopyRequest,
            2.5,
            r"\b((envoyer|renvoyer|adresser|transmettre|faire parvenir|communiquer|fournir)\w*[^.?!]{0,30}\b(facture|copie|duplicata)|(send|resend|send over|forward|email|e-mail|share|provide)\w*[^.?!]{0,25}\b(invoice|copy)|never (reached|arrived|got to) us|(pas|jamais) (ete )?(recu|arrive|parvenu)e?s?\b|format papier|version papier|paper (copy|version)|copy (by|via) (mail|post|email))",
        ),
        r(
            PaymentPlanRequest,
            3.0,
            r"\b(over (several|a few|\d+|two|three|four|six|twelve) (months|weeks|instal\w*)|sur (plusieurs|\d+|deux|trois|quatre|six|douze) mois|echelonner|etalement|step(ped)? payments|in (monthly|several) (steps|parts))",
        ),
        // Payment held until something is fixed.
        r(
            Dispute,
            3.0,
            r"\b(avant de (payer|regler|proceder au (paiement|reglement))|en attente (de la|d'un|d'une|du) (reparation|correction|avoir|remplacement|geste)|attendons (toujours |encore )?(la|le|un|une) (reparation|avoir|correction|remplacement|intervention)|before (we )?(pay|paying|settle|settling)|until (it is|this is|they are|the \w+ (is|are)) (fixed|repaired|replaced|resolved|corrected)|is not the one (in|from|agreed in) (our|the) (agreement|contract|quote|order)|(rate|price|amount|quantity|hours)\b.{0,40}\b(is not|isn't|are not|aren't|does not|doesn't) (the one|match|correspond|agree))",
        ),
        r(
            PaymentPlanRequest,
            3.0,
            r"\b((maintenant|aujourd'hui|ce mois(-ci)?|cette semaine) et le (solde|reste)|(la moitie|une partie|un acompte|half|part)\b.{0,40}\b(et|puis|and|then) (le |the )?(reste|solde|rest|remainder|balance))",
        ),
        r(
            AlreadyPaid,
            2.5,
            r"\b(remittance (advice )?(is )?(attached|enclosed)|attached remittance|see (the )?attached (remittance|proof|confirmation|receipt)|avis de (virement|paiement|reglement) (ci-)?joint|ci-joint (l'avis|le justificatif|la preuve))",
        ),
        // Billing the same thing twice: a dispute even if "already paid" is said of the other invoice.
        r(
            Dispute,
            5.0,
            r"\b(fait doublon|en doublon|doublon|en double|factur\w* deux fois|double facturation|duplicate (invoice|charge|billing)|(charged|billed|invoiced) twice|same (invoice|charge) twice)",
        ),
        // Broader cue families, so unseen wordings of the same acts are recognised.
        r(
            PromiseToPay,
            2.0,
            r"\b(will|'ll|shall|going to|expect to|plan to|intend to|aim to|hope to|should|make sure)\b.{0,40}\b(pay|paid|settle|settled|transfer|transferred|wire|wired|send (the )?(payment|funds|money)|go out|receive (the |your )?(payment|funds|transfer)|be processed|process (the |your )?(payment|invoice))",
        ),
        // French future tense of paying verbs (not the infinitive: "avant de payer" promises nothing).
        r(
            PromiseToPay,
            2.0,
            r"\b((paier|payer|regler|virer|verser|enverr|fer|effectuer|lancer|valider|honorer|solder)(ai|as|a|ons|ez|ont)|(passer|partir|interviendr|parviendr)(a|ont))\b",
        ),
        r(
            PromiseToPay,
            1.5,
            r"\b(prochain (cycle|lot|run|paiement|virement)|prochaine (campagne|echeance|session) de paiement|next (payment )?(batch|cycle|run)|on (our|the) next payment)",
        ),
        r(
            Dispute,
            3.0,
            r"\b(ne tient pas compte|remise .{0,30}convenue|non (conforme|commande)|ne fonctionne pas|(defectueu|endommag|abime|casse)\w*|bloqu(ons|er|e) (le )?(paiement|reglement)|suspend(ons|u) (le )?(paiement|reglement)|pas (d')?accord|desaccord|n'est pas (du|correct|juste)|trop (cher|eleve)|(jamais|pas) (ete )?(livre|recu|fourni|realise|effectue)e?s?)",
        ),
        r(
            Dispute,
            3.0,
            r"\b(faulty|defective|broken|not working|(does ?n't|does not|do not|don't) (work|match)|not match|withhold\w*|on hold until|(never|not) (been )?(provided|delivered|performed|received|supplied|rendered)|please correct|correct it|not (what we|as) (ordered|agreed)|agreed (discount|price|rate)|too (high|expensive)|discrepanc\w*|mismatch|complaint|we disagree|not liable)",
        ),
        r(
            AlreadyPaid,
            2.5,
            r"\b(already (been )?(taken care of|handled|done|processed|sent)|taken care of|c'est (deja )?(fait|regle|paye)|deja (fait|regle|paye|envoye)|(est|sont) (parti|partis|regle|reglee|payee?s?) (hier|le|depuis|il y a)|we (did|made) (the|this|a) payment|our records show .{0,40}paid|(paid|settled) in full)",
        ),
        r(
            InvoiceCopyRequest,
            2.5,
            r"\b((send|email|e-mail|mail|forward) (it|this|the invoice|a copy|us the invoice|me the invoice)\b|(don't|do not|can't|cannot) (have|find|locate) (this|the|that) invoice|not (have|find) (it|this invoice) on file|on file|(pas|jamais) recu (cette|la|votre) facture|me la transmettre|nous la transmettre|(envoyer|transmettre|renvoyer) (une|la) copie|retrouv\w* pas (cette|la|votre) facture)",
        ),
        r(
            PaymentPlanRequest,
            3.0,
            r"\b((maintenant|aujourd'hui|ce mois) et le (solde|reste)|le solde (le mois prochain|en \w+|plus tard)|en plusieurs fois|payer en \w+ fois|(half|part|some) (now|today|this month) and the (rest|remainder|balance)|pay (it )?(in )?(several|multiple) (payments|parts))",
        ),
    ]
});

/// Automatic replies that carry no header and no out-of-office wording.
static AUTO_EXTRA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(conge (maternite|paternite|maladie|parental)|arret maladie|(boite|adresse|mailbox|inbox) (mail |e-mail |email )?(n'est (plus )?(consultee|surveillee|lue)|is (not|no longer) (monitored|read|checked|in use))|not monitored|ne (sera|sont) pas (lu|lus|traite)s?|merci de contacter (ma|mon) (collegue|remplacant)|please contact my colleague|in my absence)").unwrap()
});

static CORRECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(corrig|rectifi|corrected|correct (the|it)|re-?issue|wrong|errone|incorrect|missing)").unwrap()
});

/// A dispute denied: "aucune contestation de notre part", "nous ne
/// contestons pas le montant", "pas de litige", "no dispute on our side",
/// "we're not disputing", "nothing wrong with the invoice". Dispute words
/// inside it do not count for the dispute rules.
static DENIAL: LazyLock<Regex> = LazyLock::new(|| {
    ascii_words(
        r"\b((aucune?|pas de|pas une?|sans|ni) (\w+ ){0,2}?(contestation|litige|reclamation|erreur|probleme|souci)s?|ne (\w+ )?(contest\w*|fait l'objet d'aucune? (contestation|litige|reclamation)s?)( (pas|ni|nullement|aucunement))?|(pas|non|n'est pas|ne sont pas) contest\w*|(no|not any|without|any) (\w+ ){0,2}?(disputes?|complaints?|issues?|problems?|quer(y|ies))|(not|\w+n't|never|no need to) (\w+ )?disput\w*|nothing (is )?wrong)\b",
    )
});

/// One intent's rule score and the phrases that gave it.
type RuleScore = (Intent, f64, Vec<String>);

/// Scores each intent by the phrase rules, strongest first.
/// `today`: the day relative dates are read from and the dates of `text`
/// read from it (in the text's own language).
fn rule_scores(text: &str, today: Option<(NaiveDate, &[dates::FoundDate])>) -> Vec<RuleScore> {
    // Each rule counts once: the strongest rule of an intent, plus half of each other one.
    static FUTURE_MARK: LazyLock<Regex> = LazyLock::new(|| {
        ascii_words(
            r"('ll|\bwill\b|\bshall\b|going to|make sure|\bshould\b|\bto be\b|\bbe paid|\bbe sent|\bonce\b|\bwhen\b|\bif\b|\bsera\b|\bseront\b|\bquand\b|\bdes que\b|\bsi\b)",
        )
    });
    let denials: Vec<(usize, usize)> = DENIAL.find_iter(text).map(|m| (m.start(), m.end())).collect();
    let mut scores: Vec<(Intent, f64, Vec<String>)> = Vec::new();
    for (intent, weight, re) in RULES.iter() {
        // A past-tense cue inside a future or conditional phrase is no payment made.
        // `is_match` first: most rules do not match, and it stops early where
        // `find` may fall into the meta engine's reverse-inner search (measured:
        // 3–4 µs instead of 0.2–0.8 µs on a reply for the rules with inner literals).
        if !re.is_match(text) {
            continue;
        }
        // A dispute word inside a denial ("aucune contestation", "we don't dispute the amount") is no dispute.
        let found = re.find_iter(text).find(|m| match intent {
            Intent::AlreadyPaid => !FUTURE_MARK.is_match(m.as_str()),
            Intent::Dispute => !denials.iter().any(|(s, e)| m.start() < *e && m.end() > *s),
            _ => true,
        });
        if let Some(m) = found {
            match scores.iter_mut().find(|s| s.0 == *intent) {
                Some(s) => {
                    s.1 = s.1.max(*weight) + weight.min(s.1) * 0.5;
                    s.2.push(m.as_str().to_string());
                }
                None => scores.push((*intent, *weight, vec![m.as_str().to_string()])),
            }
        }
    }
    // A refused or negated payment is no promise.
    static NEGATED: LazyLock<Regex> = LazyLock::new(|| {
        ascii_words(
            r"\b(ne|n')\s*(\w+\s+){0,2}?(reglerons|paierons|payerons|verserons|reglera|paiera|pouvons|pourrons|allons|vais|peux|regle|paye|paierai|reglerai)\b[^.!?]{0,40}\b(pas|rien|jamais)\b|\b(won't|will not|cannot|can't|not going to|refuse to|unable to|not able to)\s+(\w+\s+){0,2}?(pay|settle|process|release)",
        )
    });
    if NEGATED.is_match(text) {
        scores.retain(|s| s.0 != Intent::PromiseToPay);
        let plan = scores.iter().any(|s| s.0 == Intent::PaymentPlanRequest);
        match scores.iter_mut().find(|s| s.0 == Intent::Dispute) {
            Some(s) => s.1 += 1.0,
            None if !plan => scores.push((Intent::Dispute, 2.0, vec!["payment refused".into()])),
            None => {}
        }
    }
    // A payment mentioned with a date ahead, and no past-tense payment: a promise.
    static PAY_WORD: LazyLock<Regex> = LazyLock::new(|| {
        ascii_words(
            r"\b(pay\w*|settle\w*|transfer\w*|wire\w*|remit\w*|funds|paie\w*|paye\w*|regl\w*|vire\w*|verse\w*|cheque|lcr|traite)\b",
        )
    });
    if PAY_WORD.is_match(text)
        && !scores.iter().any(|s| matches!(s.0, Intent::AlreadyPaid | Intent::Dispute | Intent::PaymentPlanRequest))
        && let Some((base, found)) = today
        && found.iter().any(|f| f.date >= base)
    {
        match scores.iter_mut().find(|s| s.0 == Intent::PromiseToPay) {
            Some(s) => s.1 += 1.0,
            None => scores.push((Intent::PromiseToPay, 2.5, vec!["payment with a date ahead".into()])),
        }
    }
    // A copy request asking for a *corrected* invoice is a dispute.
    if scores.iter().any(|s| s.0 == Intent::InvoiceCopyRequest) && CORRECTION.is_match(text) {
        if let Some(s) = scores.iter_mut().find(|s| s.0 == Intent::Dispute) {
            s.1 += 2.0;
        } else {
            scores.push((Intent::Dispute, 3.0, vec!["request for a corrected invoice".into()]));
        }
    }
    // A promise with instalments is a payment plan.
    if scores.iter().any(|s| s.0 == Intent::PaymentPlanRequest)
        && let Some(p) = scores.iter_mut().find(|s| s.0 == Intent::PromiseToPay)
    {
        p.1 -= 1.0;
    }
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    scores
}

/// The rules' scores, tense and date signals as model features.
fn signals(
    scores: &[RuleScore],
    text: &str,
    found: &[dates::FoundDate],
    base: NaiveDate,
    attached: bool,
) -> Vec<String> {
    static FUTURE: LazyLock<Regex> = LazyLock::new(|| {
        ascii_words(
            r"('ll|\bwill\b|\bshall\b|going to|\bgonna\b|\bsera\b|\bseront\b|\bva\b|\bvais\b|\ballons\b|\w(erai|eras|era|erons|erez|eront|rai|ra|rons|ront)\b|\bprevu|\bscheduled\b|\bplanned\b|\bnext\b|\bprochain)",
        )
    });
    static PAST: LazyLock<Regex> = LazyLock::new(|| {
        ascii_words(
            r"\b(was|were|has been|have been|had been|already|yesterday|last week|went out|deja|hier|a ete|ont ete|avons|avez|est parti|sont partis|(pai|regl|vir|vers|envoy|effectu|pass)(e|ee|es|ees)\b)",
        )
    });
    let mut out: Vec<String> = Vec::new();
    for (i, (intent, score, _)) in scores.iter().enumerate() {
        out.push(format!("rule:{}", intent.as_str()));
        // How strongly, in steps: a phrase alone (< 4), several (< 7), overwhelming.
        out.push(format!(
            "rule{}:{}",
            if *score < 4.0 {
                "1"
            } else if *score < 7.0 {
                "4"
            } else {
                "7"
            },
            intent.as_str()
        ));
        if i == 0 {
            out.push(format!("rulebest:{}", intent.as_str()));
            if *score >= 4.0 {
                out.push(format!("rulestrong:{}", intent.as_str()));
            }
        }
    }
    if scores.is_empty() {
        out.push("rule:none".into());
    }
    let future = FUTURE.is_match(text);
    let past = PAST.is_match(text);
    out.push(match (future, past) {
        (true, true) => "tense:both".into(),
        (true, false) => "tense:future".into(),
        (false, true) => "tense:past".into(),
        (false, false) => "tense:none".into(),
    });
    let ahead = found.iter().any(|f| f.date >= base);
    let behind = found.iter().any(|f| f.date < base);
    if ahead {
        out.push("date:ahead".into());
        if future {
            out.push("date:ahead+future".into());
        }
    }
    if behind {
        out.push("date:behind".into());
    }
    if found.is_empty() {
        out.push("date:none".into());
    }
    match if AMOUNT.is_match(text) { AMOUNT.find_iter(text).take(2).count() } else { 0 } {
        0 => {}
        1 => out.push("amount".into()),
        _ => out.extend(["amount".into(), "amounts:2+".into()]),
    }
    if found.iter().filter(|f| f.date >= base).map(|f| f.date).collect::<std::collections::BTreeSet<_>>().len() >= 2 {
        out.push("dates_ahead:2+".into());
    }
    out.extend(cues::cues(text).into_iter().map(String::from));
    if text.contains('?') {
        out.push("question".into());
    }
    if attached {
        out.push("attachment".into());
    }
    out.extend(payment_tenses(text).into_iter().map(|t| format!("pay:{t}")));
    let words = text.split_whitespace().count();
    out.push(format!(
        "len:{}",
        match words {
            0..=8 => "tiny",
            9..=30 => "short",
            31..=90 => "medium",
            _ => "long",
        }
    ));
    out
}

/// The tense of each payment the text speaks of, once per tense: `future`
/// (a future marker within the four words before the payment word, or a
/// French future form: "sera payée", "will be wired", "partira", "we'll
/// send"), `past` (a past marker before it or a past form: "was paid",
/// "a été réglée", "went out", "avons viré", "mailed"), `bare` otherwise
/// ("paiement le 10"), and `past+future` when both are present ("paid the
/// other one, this one next week"): tense is read per payment, in its
/// clause, not over the whole message.
fn payment_tenses(text: &str) -> Vec<&'static str> {
    const FUTURE_MARKS: &[&str] = &[
        "will",
        "ll",
        "shall",
        "going",
        "gonna",
        "should",
        "would",
        "sera",
        "seront",
        "va",
        "vais",
        "allons",
        "vont",
        "prevu",
        "prevue",
        "demain",
        "tomorrow",
        "next",
        "prochain",
        "prochaine",
        "scheduled",
        "planned",
        "expect",
        "intend",
        "plan",
        "aim",
        "doit",
        "devrait",
        "pourra",
        "pourrons",
        "pouvons",
        "can",
        "peux",
    ];
    const PAST_MARKS: &[&str] = &[
        "was",
        "were",
        "been",
        "has",
        "have",
        "had",
        "already",
        "deja",
        "ai",
        "avons",
        "avez",
        "ont",
        "est",
        "sont",
        "etait",
        "hier",
        "yesterday",
        "did",
        "last",
        "dernier",
        "derniere",
        "ago",
    ];
    const PAST_FORMS: &[&str] = &[
        "paid",
        "sent",
        "made",
        "went",
        "gone",
        "mailed",
        "posted",
        "cleared",
        "wired",
        "transferred",
        "settled",
        "remitted",
        "processed",
        "issued",
        "released",
        "debited",
        "regle",
        "reglee",
        "reglees",
        "regles",
        "paye",
        "payee",
        "payees",
        "payes",
        "vire",
        "viree",
        "verse",
        "versee",
        "envoye",
        "envoyee",
        "effectue",
        "effectuee",
        "parti",
        "partie",
        "passe",
        "passee",
        "preleve",
        "prelevee",
        "honore",
        "honoree",
    ];
    fn is_payment(w: &str) -> bool {
        const STEMS: &[&str] = &[
            "pay",
            "paid",
            "settl",
            "transfer",
            "wire",
            "wiring",
            "remit",
            "regl",
            "paie",
            "paye",
            "virement",
            "vire",
            "verse",
            "versement",
            "envoy",
            "preleve",
            "prelevement",
        ];
        const WORDS: &[&str] = &[
            "send", "sent", "sending", "mailed", "posted", "check", "checks", "cheque", "cheques", "bacs", "ach",
            "funds", "went", "gone", "go", "goes", "partira", "partir", "parti", "partie", "part", "passera", "passe",
            "virerons", "virerai", "virera",
        ];
        STEMS.iter().any(|s| w.starts_with(s)) || WORDS.contains(&w)
    }
    let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let (mut future, mut past, mut bare) = (false, false, false);
    for (i, w) in words.iter().enumerate() {
        if !is_payment(w) {
            continue;
        }
        let before = &words[i.saturating_sub(4)..i];
        let french_future = w.len() > 5
            && ["erai", "eras", "era", "erons", "erez", "eront", "irai", "ira", "irons", "iront"]
                .iter()
                .any(|e| w.ends_with(e));
        if before.iter().any(|b| FUTURE_MARKS.contains(b)) || french_future {
            future = true;
        } else if before.iter().any(|b| PAST_MARKS.contains(b)) || PAST_FORMS.contains(w) {
            past = true;
        } else {
            bare = true;
        }
    }
    match (past, future) {
        (true, true) => vec!["past+future"],
        (true, false) => vec!["past"],
        (false, true) => vec!["future"],
        (false, false) if bare => vec!["bare"],
        _ => vec![],
    }
}

/// A rule score this high is several precise phrases of one act.
const STRONG_RULE: f64 = 5.0;

/// The intent: the model's, over the rules' signals and the words (see
/// [`model`]); the rules' alone when no model is compiled in.
fn decide(
    scores: Vec<RuleScore>,
    features: impl FnOnce(&mut dyn FnMut(&str)),
    base: &model::Model,
    overlay: Option<&model::Overlay>,
    reasons: &mut Vec<String>,
) -> (Intent, f64) {
    if !base.is_empty() || overlay.is_some() {
        let scored = model::score_with(base, overlay, features);
        let p = f64::from(scored.probabilities[model::class_index(scored.best)]);
        reasons.push(format!(
            "model{}: {} ({:.0} %): {}",
            if overlay.is_some() { " with this tenant's corrections" } else { "" },
            scored.best.as_str(),
            p * 100.0,
            scored.evidence.iter().map(|(f, w)| format!("`{f}` {w:+.1}")).collect::<Vec<_>>().join(", ")
        ));
        if let Some((i, s, phrases)) = scores.first() {
            reasons.push(format!(
                "rules: {} (score {s:.1}): {}",
                i.as_str(),
                phrases.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        // A strong phrase of the rules that the model does not follow: the
        // phrase wins when the model gives it some weight, at a confidence
        // that sends the reply to a person (the two readings conflict).
        if let Some((rule_intent, rule_score, _)) = scores.first()
            && *rule_score >= STRONG_RULE
            && *rule_intent != scored.best
        {
            let q = f64::from(scored.probabilities[model::class_index(*rule_intent)]);
            if q >= 0.05 {
                reasons.push(format!(
                    "conflict: the rules read {} (score {rule_score:.1}), the model {}: the rules' phrase decides, a person checks",
                    rule_intent.as_str(),
                    scored.best.as_str()
                ));
                return (*rule_intent, 0.5);
            }
        }
        return (scored.best, p.min(0.99));
    }
    rule_decision(scores, reasons)
}

/// The rules' decision: the best score wins, `other` when nothing speaks.
fn rule_decision(scores: Vec<RuleScore>, reasons: &mut Vec<String>) -> (Intent, f64) {
    let Some((best, score, phrases)) = scores.first().cloned() else {
        reasons.push("no phrase of a known intent in the new text".into());
        return (Intent::Other, 0.5);
    };
    let second = scores.get(1).map_or(0.0, |s| s.1);
    reasons.push(format!(
        "{} (score {:.1}): {}",
        best.as_str(),
        score,
        phrases.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
    ));
    if let Some((other, s, p)) = scores.get(1) {
        reasons.push(format!(
            "also {} (score {s:.1}): {}",
            other.as_str(),
            p.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    let margin = (score - second) / score.max(1.0);
    ((best), (0.55 + 0.4 * margin.clamp(0.0, 1.0) + 0.05 * (score / 7.0).min(1.0)).min(0.99))
}

/// The promised date: the future date of the new text that belongs to the
/// payment (see [`promised`]).
fn promised_date(
    text: &str,
    base: NaiveDate,
    found: &[dates::FoundDate],
    reasons: &mut Vec<String>,
) -> Option<NaiveDate> {
    let pick = promised::pick(text, base, found)?;
    reasons.push(format!("promised date {} from `{}`", pick.date, pick.text));
    Some(pick.date)
}

static AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    ascii_words(
        r"(?i)(?:(€|eur|euros?|\$|usd|£|gbp|chf)\s?(\d{1,3}(?:[ \u{a0}\u{202f},.]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)|(\d{1,3}(?:[ \u{a0}\u{202f},.]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)\s?(€|eur\b|euros?\b|\$|usd\b|£|gbp\b|chf\b))",
    )
});

/// The first amount with a currency in the text, as a decimal string.
fn amount(text: &str) -> Option<(String, Option<String>)> {
    for c in AMOUNT.captures_iter(text) {
        let (sym, num) = match (c.get(1), c.get(2), c.get(3), c.get(4)) {
            (Some(s), Some(n), _, _) => (s.as_str(), n.as_str()),
            (_, _, Some(n), Some(s)) => (s.as_str(), n.as_str()),
            _ => continue,
        };
        let end = c.get(0).map_or(0, |m| m.end());
        if text[end..].trim_start().starts_with('/') {
            continue; // a unit price: "12 €/u"
        }
        let ccy = match sym.to_lowercase().as_str() {
            "€" | "eur" | "euro" | "euros" => "EUR",
            "$" | "usd" => "USD",
            "£" | "gbp" => "GBP",
            "chf" => "CHF",
            _ => continue,
        };
        let currency = relance_domain::money::Currency::parse(ccy).ok()?;
        if let Ok(m) = relance_domain::money::Money::parse(num, currency, relance_domain::money::DecimalStyle::Auto) {
            return Some((m.to_decimal_string(), Some(ccy.to_string())));
        }
    }
    None
}

/// Invoice references of a reply: the shapes [`crate::refs::subject_refs`]
/// reads in the subject, then those [`crate::refs::common_refs`] reads in the
/// new text (dates, phone numbers, amounts, orders and identifiers excluded),
/// each once. Read without the tenant: the store resolves them against the
/// tenant's invoices with the same tolerant rules ([`crate::refs::RefReader`]).
pub fn references(subject: &str, new_text: &str) -> Vec<String> {
    let mut out = crate::refs::subject_refs(subject);
    for r in crate::refs::common_refs(new_text) {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests;
