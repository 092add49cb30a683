//! HTML bodies to text for the new-text extractor ([`super::quote`]).
//!
//! The HTML part of a reply says, by its structure, what is quoted: mail
//! clients wrap the history in containers (`blockquote`, Gmail's
//! `div.gmail_quote`, Yahoo's `div.yahoo_quoted`, Thunderbird's
//! `div.moz-cite-prefix` + `blockquote`), or open it with a marker after
//! which everything is history (Outlook on the web's `#divRplyFwdMsg` and
//! `#appendonsend`, Outlook desktop's divider `div` with `border:none;
//! border-top:solid …`, Zimbra's `hr#zwchr`). This module renders the HTML
//! to text (block elements and `<br>` are line breaks, entities decoded,
//! `head`/`style`/`script` dropped) and writes every line of quoted content
//! with a `> ` prefix, so the line algorithm treats it as a quote and keeps
//! the customer's lines around it (bottom-posted and inline replies).
//!
//! Tokens come from html5ever's tokenizer (the WHATWG tokenizer of Servo: a
//! maintained parser that reads any broken markup), without a tree: the
//! open elements are tracked on a bounded stack, so the work is linear in
//! the input and at most [`MAX_HTML_BYTES`] of HTML are read.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};

use super::MAX_BODY_BYTES;

/// Most HTML read from one body.
pub const MAX_HTML_BYTES: usize = 1024 * 1024;
/// HTML handed to the tokenizer at a time (reading stops once enough text is out).
const CHUNK_BYTES: usize = 64 * 1024;
/// Deepest stack of open elements tracked (deeper ones are read as text only).
const MAX_DEPTH: usize = 512;
/// How far down the stack an end tag looks for its start tag.
const END_TAG_REACH: usize = 64;

/// Class or id fragments (lower case) of containers that hold quoted history.
const QUOTE_CONTAINERS: &[&str] = &[
    "gmail_quote",
    "gmail_extra",
    "yahoo_quoted",
    "moz-cite-prefix",
    "moz-forward-container",
    "protonmail_quote",
    "zmail_extra",
    "tutanota_quote",
    "mail_android_quote",
    "aolreplypanel",
];
/// Class or id fragments of markers after which everything is history.
const REST_MARKERS: &[&str] = &["divrplyfwdmsg", "appendonsend", "outlookmessageheader", "zwchr", "mail-original"];

/// The text of an HTML body, quoted content as `> ` lines.
pub fn html_to_text(html: &str) -> String {
    let tokenizer = Tokenizer::new(Sink { state: RefCell::new(State::default()) }, TokenizerOpts::default());
    let input = BufferQueue::default();
    let limit = floor_boundary(html, MAX_HTML_BYTES);
    // The head (styles, often kilobytes of them) shows nothing: start at `<body`.
    let mut start = body_start(&html[..limit]);
    while start < limit {
        let end = floor_boundary(html, (start + CHUNK_BYTES).min(limit)).max(start + 1);
        let end = ceil_boundary(html, end);
        input.push_back(StrTendril::from_slice(&html[start..end]));
        let _ = tokenizer.feed(&input);
        start = end;
        if tokenizer.sink.state.borrow().out.len() >= MAX_BODY_BYTES {
            break;
        }
    }
    tokenizer.end();
    tokenizer.sink.state.into_inner().finish()
}

/// Where `<body` starts (ASCII case-insensitive), or 0.
fn body_start(html: &str) -> usize {
    let b = html.as_bytes();
    let mut from = 0;
    while let Some(pos) = b[from..].iter().position(|&c| c == b'<') {
        let at = from + pos;
        if b.len() >= at + 5 && b[at + 1..at + 5].eq_ignore_ascii_case(b"body") {
            return at;
        }
        from = at + 1;
    }
    0
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

struct Sink {
    state: RefCell<State>,
}

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut s = self.state.borrow_mut();
        match token {
            Token::TagToken(tag) => match tag.kind {
                TagKind::StartTag => return s.start(&tag),
                TagKind::EndTag => s.end(&tag),
            },
            Token::CharacterTokens(text) => s.text(&text),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// An element on the stack of open elements.
struct Open {
    name: String,
    quote: bool,
    skip: bool,
    pre: bool,
    /// A paragraph with margins (not Word's `MsoNormal` line).
    para: bool,
}

#[derive(Default)]
struct State {
    out: String,
    line: String,
    line_quoted: bool,
    pending_space: bool,
    /// The last line written was blank.
    blank: bool,
    stack: Vec<Open>,
    quote_depth: usize,
    skip_depth: usize,
    pre_depth: usize,
    /// A marker after which everything is history was seen.
    rest_quoted: bool,
}

fn is_void(name: &str) -> bool {
    matches!(
        name,
        "br" | "hr"
            | "img"
            | "meta"
            | "link"
            | "input"
            | "col"
            | "area"
            | "base"
            | "wbr"
            | "source"
            | "embed"
            | "param"
    )
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "blockquote"
            | "li"
            | "ul"
            | "ol"
            | "tr"
            | "table"
            | "tbody"
            | "thead"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "pre"
            | "address"
            | "center"
            | "dl"
            | "dt"
            | "dd"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "form"
            | "hr"
            | "body"
            | "html"
    )
}

fn attr<'a>(tag: &'a Tag, name: &str) -> Option<&'a str> {
    tag.attrs.iter().find(|a| &*a.name.local == name).map(|a| &*a.value)
}

/// `style` without white space, lower case.
fn style(tag: &Tag) -> String {
    attr(tag, "style").unwrap_or("").chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase()
}

impl State {
    fn quoted(&self) -> bool {
        self.rest_quoted || self.quote_depth > 0
    }

    fn start(&mut self, tag: &Tag) -> TokenSinkResult<()> {
        let name: &str = &tag.name;
        // Only these elements carry the clients' quote markers.
        let marked = matches!(name, "div" | "blockquote" | "hr" | "p" | "span" | "table" | "section");
        let ids = if marked && !tag.attrs.is_empty() {
            format!("{} {}", attr(tag, "id").unwrap_or(""), attr(tag, "class").unwrap_or("")).to_lowercase()
        } else {
            String::new()
        };
        let st = if matches!(name, "div" | "blockquote") { style(tag) } else { String::new() };
        // Outlook desktop's divider above the header block of the quoted message.
        let outlook_divider = name == "div" && st.contains("border:none") && st.contains("border-top:solid");
        let rest = REST_MARKERS.iter().any(|m| ids.contains(m)) || outlook_divider;
        let quote = QUOTE_CONTAINERS.iter().any(|m| ids.contains(m))
            || (name == "blockquote"
                && (attr(tag, "type").is_some_and(|t| t.eq_ignore_ascii_case("cite"))
                    || !(st.contains("border:none") || st.contains("border:0"))));
        let skip = matches!(name, "head" | "style" | "script" | "title" | "template" | "noscript" | "xml");
        match name {
            "br" => self.line_break(true),
            "td" | "th" if !self.line.is_empty() => self.pending_tab(),
            _ if is_block(name) || quote || rest => self.line_break(false),
            _ => {}
        }
        let para = name == "p" && !ids.contains("msonormal");
        if para {
            self.paragraph();
        }
        if rest {
            self.rest_quoted = true;
        }
        if !is_void(name) && !tag.self_closing {
            if self.stack.len() < MAX_DEPTH {
                self.stack.push(Open { name: name.to_string(), quote, skip, pre: name == "pre", para });
                self.quote_depth += usize::from(quote);
                self.skip_depth += usize::from(skip);
                self.pre_depth += usize::from(name == "pre");
            } else if quote {
                // Too deep to know where this quote ends: the rest is history.
                self.rest_quoted = true;
            }
        }
        match name {
            "style" | "title" | "xml" | "noscript" | "template" => TokenSinkResult::RawData(RawKind::Rawtext),
            "script" => TokenSinkResult::RawData(RawKind::ScriptData),
            "textarea" => TokenSinkResult::RawData(RawKind::Rcdata),
            _ => TokenSinkResult::Continue,
        }
    }

    fn end(&mut self, tag: &Tag) {
        let name: &str = &tag.name;
        let reach = self.stack.len().saturating_sub(END_TAG_REACH);
        let mut para = false;
        if let Some(pos) = self.stack[reach..].iter().rposition(|o| o.name == name) {
            let popped: Vec<Open> = self.stack.drain(reach + pos..).collect();
            for o in popped {
                para |= o.para && o.name == name;
                if o.quote {
                    self.line_break(false);
                    self.quote_depth -= 1;
                }
                self.skip_depth -= usize::from(o.skip);
                self.pre_depth -= usize::from(o.pre);
            }
        }
        if is_block(name) {
            self.line_break(false);
        }
        if para {
            self.paragraph();
        }
    }

    fn text(&mut self, text: &str) {
        if self.skip_depth > 0 {
            return;
        }
        let quoted = self.quoted();
        for c in text.chars() {
            if c == '\n' && self.pre_depth > 0 {
                self.line_break(true);
                continue;
            }
            if c.is_ascii_whitespace() || c == '\r' {
                self.pending_space = true;
                continue;
            }
            if !self.line.is_empty() && self.line_quoted != quoted {
                self.line_break(false);
            }
            if self.line.is_empty() {
                self.line_quoted = quoted;
            } else if self.pending_space && !self.line.ends_with([' ', '\t']) {
                self.line.push(' ');
            }
            self.pending_space = false;
            self.line.push(if c == '\u{a0}' { ' ' } else { c });
        }
    }

    fn pending_tab(&mut self) {
        if !self.line.ends_with('\t') {
            self.line.push('\t');
        }
        self.pending_space = false;
    }

    /// Ends the current line; `explicit` (a `<br>`) writes an empty line too.
    fn line_break(&mut self, explicit: bool) {
        self.pending_space = false;
        let line = self.line.trim();
        if line.is_empty() {
            self.line.clear();
            if explicit {
                self.blank_line();
            }
            return;
        }
        if self.line_quoted {
            self.out.push_str("> ");
        }
        self.out.push_str(line);
        self.out.push('\n');
        self.line.clear();
        self.blank = false;
    }

    /// A blank line between paragraphs.
    fn paragraph(&mut self) {
        self.line_break(false);
        self.blank_line();
    }

    fn blank_line(&mut self) {
        if self.blank || self.out.is_empty() {
            return;
        }
        self.out.push_str(if self.quoted() { ">\n" } else { "\n" });
        self.blank = true;
    }

    fn finish(mut self) -> String {
        self.line_break(false);
        self.out
    }
}
