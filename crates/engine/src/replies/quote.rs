//! The customer's new text: a reply without its quoted history, signature
//! and legal footer.
//!
//! [`readable_body`] picks what is read: the HTML part when the message has
//! one (rendered by [`super::html`], quoted containers as `> ` lines),
//! otherwise the text part. [`extract`] then works line by line:
//!
//! - `>` lines are quotes and are dropped; the customer's lines between and
//!   after them are kept (bottom-posted and inline replies);
//! - a **history boundary** is an attribution ("Le … a écrit :", "On …
//!   wrote:", "Am … schrieb …:", "El … escribió:", wrapped over up to three
//!   lines), a separator ("-----Original Message-----", "-----Message
//!   d'origine-----", "----- Mail original -----", "-----Ursprüngliche
//!   Nachricht-----", "---------- Forwarded message ---------", a line of
//!   underscores) or a header block (a `From:`/`De :`/`Von:` line with
//!   `Sent:`/`Envoyé :`/`Date:`/`To:`/`Objet :`… lines next to it, bold or
//!   not, with a colon or a tab). When `>` lines follow it, reading goes on
//!   after them; otherwise the history is not prefixed (Outlook, Notes) and
//!   everything after the boundary is history;
//! - a signature (`-- `, "Envoyé de mon iPhone", "Sent from Outlook for
//!   Android", "Obtenir Outlook pour iOS"…) ends the customer's block up to
//!   the next quote;
//! - a legal footer (the last lines of a block that carry a confidentiality
//!   notice, a disclaimer or a company registration, FR or EN) is cut.
//!
//! **Forwards**: the forwarder's note is the new text; the forwarded message
//! is history. When the note is empty and the forwarded message is the
//! sender's own (its `From` line names the sender's address), the forwarded
//! text is read as the new text; a forwarded reminder with no note gives an
//! empty new text (nothing the customer said).
//!
//! Every pattern is compiled once; the work is linear in the body.

use std::sync::LazyLock;

use mail_parser::{Message, PartType};
use regex::Regex;

use super::html::html_to_text;

/// The text a reply is read from: its HTML part rendered with quotes marked
/// (when it has one and it says anything outside a quote, or the message has
/// no text part of its own), else its text part.
pub fn readable_body(msg: &Message<'_>) -> String {
    if let Some(part) = msg.html_part(0)
        && let PartType::Html(html) = &part.body
    {
        let text = html_to_text(html);
        if text.lines().any(|l| !l.trim().is_empty() && !l.starts_with('>')) {
            return text;
        }
        // Everything quoted (a reply below Outlook's divider): a text part of
        // the message's own may say more; an HTML-only message's text would
        // only be this HTML flattened without its paragraphs and quote marks.
        if !msg.text_part(0).is_some_and(|p| matches!(p.body, PartType::Text(_))) {
            return text;
        }
        let plain = msg.body_text(0).unwrap_or_default();
        if plain.trim().is_empty() {
            return text;
        }
        return plain.into_owned();
    }
    msg.body_text(0).unwrap_or_default().into_owned()
}

/// The customer's own text (see the module documentation).
pub fn new_text(body: &str) -> String {
    extract(body, None)
}

/// The customer's own text; `sender` (the message's `From` address) lets a
/// forward with an empty note of the sender's own message be read.
pub fn extract(body: &str, sender: Option<&str>) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let text = own_lines(&lines);
    if text.is_empty()
        && let Some(sender) = sender.map(str::trim).filter(|s| s.contains('@'))
        && let Some(forwarded) = own_forward(&lines, sender)
    {
        return forwarded;
    }
    if greeting_at_most(&text)
        && let Some(below) = below_the_quote(&lines)
    {
        return if text.is_empty() { below } else { format!("{text}\n\n{below}") };
    }
    text
}

/// Nothing, or one short line ("Bonjour,", "Hi Karen,"): what is left when
/// the customer wrote below an unprefixed quote.
fn greeting_at_most(text: &str) -> bool {
    text.lines().filter(|l| !l.trim().is_empty()).count() <= 1 && text.chars().count() <= 40
}

/// Words of a quoted `From` line too common to name a sender.
const GENERIC_NAME_WORDS: &[&str] = &[
    "from",
    "service",
    "services",
    "team",
    "accounts",
    "account",
    "receivable",
    "receivables",
    "payable",
    "credit",
    "control",
    "finance",
    "billing",
    "collections",
    "comptabilite",
    "facturation",
    "recouvrement",
    "relances",
    "relance",
    "clients",
    "client",
    "department",
    "noreply",
    "no-reply",
    "reply",
    "compta",
    "mail",
    "email",
    "info",
    "contact",
    "factures",
    "facture",
    "invoices",
    "invoice",
    "gmail",
    "outlook",
    "hotmail",
    "yahoo",
    "orange",
    "wanadoo",
    "free",
    "envoye",
    "sent",
    "expediteur",
];

/// The customer's text written below an unprefixed quote (Outlook, Notes:
/// nothing marks where the quoted message ends): the lines after the quoted
/// sender's signature, the first paragraph of short lines after the first
/// header block that names the sender (a word of its `From` name or
/// address: "Stark Components Corp. | 88 Industrial Way" for "Stark
/// Components A/R <receivables@starkcomponents.com>"). `None` when no such
/// signature is found or nothing follows it.
fn below_the_quote(lines: &[&str]) -> Option<String> {
    let unquoted: Vec<&str> = lines.iter().map(|l| unquote(l)).collect();
    let start = (0..unquoted.len()).find(|&i| header_block(&unquoted, i).is_some())?;
    let k = header_block(&unquoted, start)?;
    let from = unquoted[start..start + k].iter().find(|l| FROM_FIELD.is_match(l))?;
    let from = super::fold_lower(from);
    let names: Vec<&str> = from
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4 && !GENERIC_NAME_WORDS.contains(w) && !w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    if names.is_empty() {
        return None;
    }
    let short = |l: &str| l.trim().chars().count() <= 100 && !l.trim_end().ends_with(['.', ',', ':', ';', '!', '?']);
    let mut j = start + k;
    while j < unquoted.len() {
        let line = unquoted[j].trim();
        let mut para = j;
        while para > start + k && !unquoted[para - 1].trim().is_empty() {
            para -= 1;
        }
        let mut end = j;
        while end < unquoted.len() && !unquoted[end].trim().is_empty() {
            end += 1;
        }
        let names_sender = !line.is_empty() && short(line) && {
            let folded = super::fold_lower(line);
            folded.split(|c: char| !c.is_alphanumeric()).any(|w| names.contains(&w))
        };
        // The signature's lines down to the one naming the sender are short;
        // the ones after it may be a long legal line ("Les pénalités de
        // retard sont exigibles de plein droit (taux BCE + 10 points), …").
        if names_sender && unquoted[para..=j].iter().all(|l| l.trim().chars().count() <= 120) {
            let text = own_lines(&unquoted[end..]);
            return (!text.is_empty()).then_some(text);
        }
        j += 1;
    }
    None
}

/// One level of `>` removed.
fn unquote(line: &str) -> &str {
    let t = line.trim_start();
    match t.strip_prefix('>') {
        Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
        None => line,
    }
}

/// The text after the first header block whose `From` names `sender`.
fn own_forward(lines: &[&str], sender: &str) -> Option<String> {
    let unquoted: Vec<&str> = lines.iter().map(|l| unquote(l)).collect();
    let sender = sender.to_lowercase();
    let mut i = 0;
    while i < unquoted.len() {
        if let Some(k) = header_block(&unquoted, i) {
            if unquoted[i..i + k].iter().any(|l| FROM_FIELD.is_match(l) && l.to_lowercase().contains(&sender)) {
                let text = own_lines(&unquoted[i + k..]);
                return (!text.is_empty()).then_some(text);
            }
            i += k;
        } else {
            i += 1;
        }
    }
    None
}

fn is_quote(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// Which lines are quoted: `>` lines, and the lines a client's hard wrap
/// pushed out of a long `>` line (they follow a long quoted line that stops
/// mid-sentence, and go on with another `>` line or in lower case).
fn quoted_lines(lines: &[&str]) -> Vec<bool> {
    let mut quoted: Vec<bool> = lines.iter().map(|l| is_quote(l)).collect();
    let mut i = 1;
    while i < lines.len() {
        if quoted[i] || lines[i].trim().is_empty() || !quoted[i - 1] {
            i += 1;
            continue;
        }
        let prev = unquote(lines[i - 1]).trim_end();
        let mut end = i;
        while end < lines.len() && !quoted[end] && !lines[end].trim().is_empty() {
            end += 1;
        }
        let mid_sentence = prev.chars().count() >= 50 && !prev.ends_with(['.', '!', '?', ':', ';']);
        let goes_on = (end < lines.len() && quoted[end])
            || lines[i].trim_start().starts_with(|c: char| c.is_lowercase() || c.is_ascii_digit());
        if mid_sentence && goes_on {
            quoted[i..end].iter_mut().for_each(|q| *q = true);
        }
        i = end.max(i + 1);
    }
    quoted
}

/// The customer's lines of `lines`, trimmed.
fn own_lines(lines: &[&str]) -> String {
    let quoted = quoted_lines(lines);
    let mut out: Vec<&str> = Vec::new();
    let mut block_start = 0;
    let mut in_signature = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        if quoted[i] {
            if !in_signature {
                cut_footer(&mut out, block_start);
            }
            in_signature = false;
            out.push("");
            block_start = out.len();
            i += 1;
            continue;
        }
        if let Some(k) = boundary(lines, i) {
            if !in_signature {
                cut_footer(&mut out, block_start);
            }
            in_signature = false;
            let mut j = i + k;
            while j < lines.len() && (lines[j].trim().is_empty() || FIELD.is_match(lines[j])) {
                j += 1;
            }
            if j < lines.len() && quoted[j] {
                out.push("");
                block_start = out.len();
                i = j;
                continue;
            }
            break;
        }
        if in_signature {
            i += 1;
            continue;
        }
        if t.len() < 120 && SIGNATURE.is_match(t) {
            cut_footer(&mut out, block_start);
            in_signature = true;
            i += 1;
            continue;
        }
        if t.starts_with("[cid:") && CID.is_match(t) {
            i += 1;
            continue;
        }
        out.push(line);
        i += 1;
    }
    if !in_signature {
        cut_footer(&mut out, block_start);
    }
    tidy(&out)
}

/// Lines trimmed at the end, runs of blank lines made one, ends trimmed.
fn tidy(lines: &[&str]) -> String {
    let mut text = String::new();
    let mut blank = false;
    for l in lines {
        let l = l.trim_end().replace('\u{a0}', " ");
        let l = l.trim_end();
        if l.trim().is_empty() {
            blank = !text.is_empty();
            continue;
        }
        if blank {
            text.push_str("\n\n");
        } else if !text.is_empty() {
            text.push('\n');
        }
        blank = false;
        text.push_str(l);
    }
    text
}

/// Removes a legal footer from the end of the block `out[start..]`: the
/// trailing paragraphs from their first footer line, as long as something
/// of the customer's stays before it.
fn cut_footer(out: &mut Vec<&str>, start: usize) {
    loop {
        let mut end = out.len();
        while end > start && out[end - 1].trim().is_empty() {
            end -= 1;
        }
        let mut para = end;
        while para > start && !out[para - 1].trim().is_empty() {
            para -= 1;
        }
        let Some(first) = (para..end).find(|&k| LEGAL.is_match(out[k])) else { return };
        // Something of the customer's must stay in the block.
        if !out[start..first].iter().any(|l| l.chars().any(char::is_alphanumeric)) {
            return;
        }
        out.truncate(first);
        if first > para {
            return;
        }
    }
}

/// How many lines the history boundary at `lines[i]` takes, if it is one.
fn boundary(lines: &[&str], i: usize) -> Option<usize> {
    let t = lines[i].trim();
    if t.is_empty() {
        return None;
    }
    if (t.starts_with(['-', '=', '*', '_', 'd', 'D', 'b', 'B', 'a', 'A']) && SEPARATOR.is_match(t)) || attribution(t) {
        return Some(1);
    }
    // An attribution wrapped over two or three lines.
    if t.len() < 200 && !attribution(t) {
        let mut joined = t.to_string();
        for k in 1..=2 {
            let Some(next) = lines.get(i + k).map(|l| l.trim()) else { break };
            if next.is_empty() || is_quote(next) {
                break;
            }
            joined.push(' ');
            joined.push_str(next);
            if next.ends_with([':', '-']) && attribution(&joined) && ATTRIBUTION_START.is_match(t) {
                return Some(k + 1);
            }
        }
    }
    header_block(lines, i)
}

/// An attribution line: ends with "wrote:"/"a écrit :"… and names a date or an address.
fn attribution(t: &str) -> bool {
    t.len() <= 400
        && t.ends_with([':', '-'])
        && ATTRIBUTION_END.is_match(t)
        && t.chars().any(|c| c.is_ascii_digit() || c == '@')
}

/// A header block starting at `lines[i]`: a `From` line and another field
/// within the next lines. Returns its length in lines.
fn header_block(lines: &[&str], i: usize) -> Option<usize> {
    if !FIELD.is_match(lines[i]) {
        return None;
    }
    let window = &lines[i..lines.len().min(i + 7)];
    let fields: Vec<usize> = (0..window.len()).filter(|&k| FIELD.is_match(window[k])).collect();
    let from = fields.iter().any(|&k| FROM_FIELD.is_match(window[k]));
    let other = fields.iter().any(|&k| !FROM_FIELD.is_match(window[k]));
    if fields.len() >= 2 && from && other {
        // The block runs over consecutive field lines (and blank lines between them).
        let mut k = 0;
        while k < window.len() && (FIELD.is_match(window[k]) || window[k].trim().is_empty()) {
            k += 1;
        }
        return Some(k.max(1));
    }
    None
}

static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^(
            [-=*_]{2,}\s*(original\s+message|message\s+d.origine|mail\s+original|message\s+original|urspr(ü|ue)ngliche\s+nachricht|weitergeleitete\s+nachricht|forwarded\s+message|message\s+transf[ée]r[ée]|courriel\s+original|e-?mail\s+d.origine|message\s+initial|mensaje\s+original|messaggio\s+originale|oorspronkelijk\s+bericht|reply\s+message)\s*[-=*_]*
          | _{10,}
          | (d[ée]but\s+du\s+message\s+r[ée]exp[ée]di[ée]|begin\s+forwarded\s+message|anfang\s+der\s+weitergeleiteten\s+nachricht)\s*:
        )$",
    )
    .unwrap()
});
static ATTRIBUTION_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)(a\s+[ée]crit|wrote|schrieb|escribi[óo]|ha\s+scritto|schreef|skrev|escreveu)\s*:\s*-*$")
        .unwrap()
});
static ATTRIBUTION_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(Le|On|Am|El|Il|Op|Den|Em|Dne|W\s+dniu|-{2,}|\x22)(?-u:\b)|@|\d").unwrap());
/// A header field line: `From:`, `**De :**`, `Envoyé :`, `To<TAB>`…
static FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[\s>]*\*{0,2}(from|de|von|van|da|exp[ée]diteur|sent|envoy[ée]|gesendet|date|datum|to|[àa]|an|pour|cc|cci|bcc|subject|objet|betreff|reply-to|r[ée]pondre\s+[àa])\s*(\*{0,2}\s*:|\t)").unwrap()
});
static FROM_FIELD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^[\s>]*\*{0,2}(from|de|von|van|da|exp[ée]diteur)\s*(\*{0,2}\s*:|\t)").unwrap());
static SIGNATURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^(
            --
          | (sent\s+from|sent\s+with|envoy[ée]\s+(de|depuis|avec)|von\s+meinem|get|obtenir|t[ée]l[ée]charger|download)(?-u:\b).{0,40}(?-u:\b)(iphone|ipad|android|samsung|galaxy|mobile|smartphone|outlook|yahoo|gmail|mail|blackberry|huawei|pixel|windows|ios|proton\w*)(?-u:\b).{0,30}
          | outlook\s+f(ü|ue)r\s+\S+\s+beziehen
        )$",
    )
    .unwrap()
});
/// Legal footers and company notices (shapes, not sentences).
static LEGAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)(
            confidential(ity)?\s+notice|disclaimer|avertissement\s*:|mention\s+l[ée]gale
          | (this|the)\s+(e-?mail|message|communication|information|transmission)(?-u:\b).{0,80}(?-u:\b)(is|are|may\s+be|may\s+contain|contains?)(?-u:\b).{0,60}(?-u:\b)(confidential|privileged)
          | (?-u:\b)(confidential|privileged)(?-u:\b).{0,80}(?-u:\b)(intended|addressee|recipient)
          | intended\s+(solely|only|exclusively)\s+for
          | if\s+you\s+(are\s+not|have\s+received)\s+(the\s+intended|this|it)
          | registered\s+(in\s+england|office|in\s+ireland|number)|company\s+(no\.?|number|registration)\s*\d
          | (?-u:\b)ce\s+(message|courriel|mail|e-?mail)(?-u:\b).{0,80}(?-u:\b)(confidentiel|strictement|destin[ée]|personnel)
          | (?-u:\b)(sont|est)\s+(strictement\s+)?confidentiel
          | si\s+vous\s+(n.[êe]tes\s+pas|avez\s+re[çc]u\s+ce)
          | secret\s+professionnel
          | au\s+capital\s+(social\s+)?de\s+[\d\s.,]+|(?-u:\b)rcs\s+[a-z]+\s+[\d\s]{9,}|si[èe]ge\s+social\s*:
        )",
    )
    .unwrap()
});
/// An inline image reference of a text part (`[cid:image001.png@01DC…]`).
static CID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[cid:[^\]]*\]$").unwrap());
