//! Letters as PDF, written with the `pdf-writer` crate, in the French layout
//! of a formal notice (mise en demeure) on A4:
//!
//! - the sender block top left (company name in bold);
//! - the recipient block in the window of a DL window envelope (La Poste's
//!   45 × 100 mm window: 100 mm from the left edge, from 45 mm below the
//!   top), names and lines wrapped to its width;
//! - "À <ville>, le <date>" on the right below the window;
//! - the postal mention ("Lettre recommandée avec accusé de réception"),
//!   then "Objet : …" in bold;
//! - the text (invoices, penalties), on as many pages as it takes;
//! - the signature block on the right, kept on one page;
//! - "Page n / N" at the foot of every page.
//!
//! Any name or address prints as written: the text is drawn with the fonts
//! shipped in `fonts/` ([`super::fonts`]), embedded as subsets (Type0 fonts
//! with CIDFontType2 descendants, Identity-H, glyph ids as CIDs) with a
//! ToUnicode map, so that the text can be extracted and searched. Lines
//! wrap with the fonts' own advance widths; a word longer than a line is
//! cut. Strings are put in Unicode NFC first.
//!
//! Arabic and Hebrew (and any line with right-to-left or complex-script
//! text) go through [`super::shape`]: the logical text is wrapped with the
//! shaped widths, then each line is reordered (UAX #9, paragraph direction
//! from the letter's language) and shaped by `rustybuzz`; its glyphs are
//! drawn in visual order in `TJ` arrays carrying the shaped advances and
//! offsets. The ToUnicode map gives each shaped glyph the characters it
//! stands for (a contextual form its letter, a ligature its letters, in
//! visual order on a right-to-left run), so that extractors, which read
//! glyphs left to right and turn right-to-left runs back, get the logical
//! text (see `pdf/rtl_tests.rs` for what poppler's `pdftotext` gives); a
//! bracket mirrored right to left is drawn in a marked-content span whose
//! `ActualText` is the bracket it stands for.
//! Other lines keep the plain path, one glyph per character, unchanged.
//!
//! PDF/A-2b: fonts embedded, every glyph shown has a Unicode mapping (but
//! the second and later glyphs a font's GSUB splits one character into)
//! and none is `.notdef`, colours in a device-independent CalGray space, XMP
//! metadata matching the document information dictionary, a file
//! identifier, no encryption, transparency, annotations or scripts.
//!
//! Output is deterministic: the same letter gives the same bytes (the file
//! identifier and the subset tags are hashes of the content).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Timelike, Utc};
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, TextRenderingMode, UnicodeCmap};
use pdf_writer::{Content, Date, Filter, Finish, Name, Pdf, Rect, Ref, Settings, Str, TextStr};
use sha2::{Digest, Sha256};
use subsetter::GlyphRemapper;
use unicode_normalization::UnicodeNormalization;

use super::fonts::{FontError, FontId, Fonts, Glyph};
use super::shape;

/// What goes on a letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    /// Sender block, first line in bold (company name).
    pub sender: Vec<String>,
    /// Recipient block (name in bold, then address lines).
    pub recipient: Vec<String>,
    /// Place and date line, on the right (`À Paris, le 28/12/2026`).
    pub place_date: String,
    /// Postal mention above the subject (`Lettre recommandée avec accusé de réception`).
    pub mention: Option<String>,
    /// Subject line, in bold (`Objet : mise en demeure de payer`).
    pub subject: Option<String>,
    /// The letter's text; a blank line separates paragraphs, leading spaces
    /// indent, `- ` items hang.
    pub body: String,
    /// Signature block, on the right after the text.
    pub signature: Vec<String>,
    /// Document title in the metadata.
    pub title: String,
    /// Language of the text (BCP 47: `fr`, `en`).
    pub language: String,
    /// Creation date in the metadata.
    pub created: DateTime<Utc>,
}

/// Why a letter cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Font(#[from] FontError),
    #[error("cannot subset the font {font}: {reason}")]
    Subset { font: &'static str, reason: String },
}

const MM: f32 = 72.0 / 25.4;
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const LEFT: f32 = 20.0 * MM;
const RIGHT: f32 = 20.0 * MM;
/// First baseline of the sender block (from the top).
const TOP: f32 = 20.0 * MM;
/// Left edge of the recipient block and of the right-hand blocks.
const WINDOW_X: f32 = 100.0 * MM;
/// First baseline of the recipient block (window top at 45 mm, plus a margin).
const WINDOW_Y: f32 = 50.0 * MM;
/// Width of the recipient block (inside the 100 mm window).
const WINDOW_W: f32 = 85.0 * MM;
/// The place and date line is no higher than this (from the top).
const DATE_Y: f32 = 100.0 * MM;
/// Lowest baseline of the text (from the bottom).
const BOTTOM: f32 = 25.0 * MM;
/// Baseline of the page number (from the bottom).
const FOOTER: f32 = 12.0 * MM;
const SIZE: f32 = 10.5;
const LEADING: f32 = 14.0;
const FOOTER_SIZE: f32 = 8.0;
/// Outline width of bold drawn with a regular font (CJK has no bold face).
const FAKE_BOLD_STROKE: f32 = 0.3;

/// One positioned line of text.
#[derive(Debug, Clone, PartialEq)]
struct Run {
    x: f32,
    y: f32,
    bold: bool,
    size: f32,
    text: String,
}

/// Renders the letter as PDF bytes.
pub fn render(letter: &Letter) -> Result<Vec<u8>, RenderError> {
    let fonts = Fonts::get()?;
    let letter = normalized(letter);
    let pages = layout(&letter, fonts);
    write_pdf(&letter, &pages, fonts)
}

/// The letter with every string in NFC, tabs as spaces and other control
/// characters (but line breaks) removed.
fn normalized(l: &Letter) -> Letter {
    let clean =
        |s: &str| -> String { s.replace('\t', "    ").nfc().filter(|c| !c.is_control() || *c == '\n').collect() };
    let all = |v: &[String]| v.iter().map(|s| clean(s)).collect::<Vec<_>>();
    Letter {
        sender: all(&l.sender),
        recipient: all(&l.recipient),
        place_date: clean(&l.place_date),
        mention: l.mention.as_deref().map(clean),
        subject: l.subject.as_deref().map(clean),
        body: clean(&l.body.replace("\r\n", "\n")),
        signature: all(&l.signature),
        title: clean(&l.title).replace('\n', " "),
        language: l.language.clone(),
        created: l.created,
    }
}

/// Places every line of the letter on its page.
fn layout(letter: &Letter, fonts: &Fonts) -> Vec<Vec<Run>> {
    let mut page = Vec::new();
    // Sender block: top left, left of the window.
    let mut y = PAGE_H - TOP;
    for (i, line) in letter.sender.iter().flat_map(|l| l.lines()).enumerate() {
        for piece in wrap(fonts, line, WINDOW_X - LEFT - 5.0 * MM, i == 0, SIZE) {
            page.push(Run { x: LEFT, y, bold: i == 0, size: SIZE, text: piece });
            y -= LEADING;
        }
    }
    // Recipient block: in the envelope's window.
    let mut ry = PAGE_H - WINDOW_Y;
    for (i, line) in letter.recipient.iter().flat_map(|l| l.lines()).enumerate() {
        for piece in wrap(fonts, line, WINDOW_W, i == 0, SIZE) {
            page.push(Run { x: WINDOW_X, y: ry, bold: i == 0, size: SIZE, text: piece });
            ry -= LEADING;
        }
    }
    // Place and date: right, below the window.
    y = y.min(ry).min(PAGE_H - DATE_Y + 2.0 * LEADING) - 2.0 * LEADING;
    if !letter.place_date.is_empty() {
        for piece in wrap(fonts, &letter.place_date, PAGE_W - RIGHT - WINDOW_X, false, SIZE) {
            page.push(Run { x: WINDOW_X, y, bold: false, size: SIZE, text: piece });
            y -= LEADING;
        }
        y -= LEADING;
    }
    let mut pages = Vec::new();
    let mut flow = Flow { pages: &mut pages, page, y };
    let width = PAGE_W - LEFT - RIGHT;
    for (text, bold) in [(&letter.mention, true), (&letter.subject, true)] {
        if let Some(text) = text {
            for piece in wrap(fonts, text, width, bold, SIZE) {
                flow.line(LEFT, bold, piece);
            }
        }
    }
    if letter.mention.is_some() || letter.subject.is_some() {
        flow.blank();
    }
    let space = fonts.width(" ", false, SIZE);
    for raw in letter.body.lines() {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            flow.blank();
            continue;
        }
        let indent = (raw.len() - raw.trim_start().len()) as f32 * space;
        let hang = if trimmed.starts_with("- ") { fonts.width("- ", false, SIZE) } else { 0.0 };
        let x = LEFT + indent.min(width / 2.0);
        let first = width - (x - LEFT);
        for (k, piece) in wrap_hanging(fonts, trimmed, first, first - hang, false, SIZE).into_iter().enumerate() {
            flow.line(if k == 0 { x } else { x + hang }, false, piece);
        }
    }
    // Signature block: right, on one page.
    let signature: Vec<String> =
        letter.signature.iter().flat_map(|l| wrap(fonts, l, PAGE_W - RIGHT - WINDOW_X, false, SIZE)).collect();
    if !signature.is_empty() {
        flow.keep(signature.len() + 2);
        flow.blank();
        flow.blank();
        for line in signature {
            flow.line(WINDOW_X, false, line);
        }
    }
    let Flow { page, .. } = flow;
    pages.push(page);
    let count = pages.len();
    for (i, p) in pages.iter_mut().enumerate() {
        let footer = format!("Page {} / {count}", i + 1);
        let x = (PAGE_W - fonts.width(&footer, false, FOOTER_SIZE)) / 2.0;
        p.push(Run { x, y: FOOTER, bold: false, size: FOOTER_SIZE, text: footer });
    }
    pages
}

/// The text flowing down the pages.
struct Flow<'p> {
    pages: &'p mut Vec<Vec<Run>>,
    page: Vec<Run>,
    y: f32,
}

impl Flow<'_> {
    fn top(&self) -> f32 {
        PAGE_H - TOP
    }

    fn next_page(&mut self) {
        self.pages.push(std::mem::take(&mut self.page));
        self.y = self.top();
    }

    /// Starts a new page unless `lines` lines fit on this one.
    fn keep(&mut self, lines: usize) {
        if self.y - (lines.saturating_sub(1)) as f32 * LEADING < BOTTOM && self.y < self.top() {
            self.next_page();
        }
    }

    fn line(&mut self, x: f32, bold: bool, text: String) {
        if self.y < BOTTOM {
            self.next_page();
        }
        self.page.push(Run { x, y: self.y, bold, size: SIZE, text });
        self.y -= LEADING;
    }

    /// A blank line (none at the top of a page).
    fn blank(&mut self) {
        if self.y < self.top() {
            self.y -= LEADING;
        }
    }
}

/// Splits `text` into lines no wider than `width` points, at spaces when it
/// can, inside a word when the word alone is wider.
fn wrap(fonts: &Fonts, text: &str, width: f32, bold: bool, size: f32) -> Vec<String> {
    wrap_hanging(fonts, text, width, width, bold, size)
}

/// [`wrap`] with the first line `first` points wide and the others `rest`.
fn wrap_hanging(fonts: &Fonts, text: &str, first: f32, rest: f32, bold: bool, size: f32) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let width_of = |out: &Vec<String>| if out.is_empty() { first } else { rest };
    let mut line = String::new();
    let mut line_w = 0.0;
    let space = fonts.width(" ", bold, size);
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let word_w = fonts.width(word, bold, size);
        if !line.is_empty() && line_w + space + word_w <= width_of(&out) {
            line.push(' ');
            line.push_str(word);
            line_w += space + word_w;
            continue;
        }
        if !line.is_empty() {
            out.push(std::mem::take(&mut line));
        }
        line_w = 0.0;
        if word_w <= width_of(&out) {
            line.push_str(word);
            line_w = word_w;
            continue;
        }
        // A word wider than the line: cut it (a shaped word measured whole,
        // its letters' forms depending on their neighbours).
        let simple = shape::is_simple(word);
        for c in word.chars() {
            let w = if simple {
                fonts.char_width(c, bold, size)
            } else {
                let mut longer = line.clone();
                longer.push(c);
                fonts.width(&longer, bold, size) - line_w
            };
            if !line.is_empty() && line_w + w > width_of(&out) {
                out.push(std::mem::take(&mut line));
                line_w = 0.0;
                if !simple {
                    line.push(c);
                    line_w = fonts.width(&line, bold, size);
                    continue;
                }
            }
            line.push(c);
            line_w += w;
        }
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

/// The glyphs of one font used in the document.
struct Used {
    remapper: GlyphRemapper,
    /// CID (the glyph's id in the subset) → the characters it shows (several
    /// for a ligature).
    unicode: BTreeMap<u16, String>,
    /// CID → advance width in thousandths of an em.
    widths: BTreeMap<u16, f32>,
}

impl Used {
    /// The CID of `glyph` in its font's subset, recorded with its text and width.
    fn cid(used: &mut BTreeMap<FontId, Used>, fonts: &Fonts, glyph: Glyph, text: &str) -> Option<u16> {
        let font = fonts.fonts.get(glyph.font)?;
        let u = used.entry(glyph.font).or_insert_with(|| Used {
            remapper: GlyphRemapper::new(),
            unicode: BTreeMap::new(),
            widths: BTreeMap::new(),
        });
        let cid = u.remapper.remap(glyph.id.0);
        if !text.is_empty() {
            u.unicode.entry(cid).or_insert_with(|| text.to_string());
        }
        u.widths.entry(cid).or_insert_with(|| font.advance(glyph.id));
        Some(cid)
    }
}

/// The PDF name of the font resource `font`.
fn font_resource(font: FontId) -> String {
    format!("F{font}")
}

/// Whether the paragraphs of a letter in `language` (BCP 47) run right to left.
fn right_to_left(language: &str) -> bool {
    let primary = language.split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
    matches!(primary.as_str(), "ar" | "he" | "iw" | "fa" | "ur" | "yi" | "ps" | "sd" | "ckb" | "dv" | "ug")
}

/// The content stream of one page.
fn page_content(runs: &[Run], fonts: &Fonts, rtl: bool, used: &mut BTreeMap<FontId, Used>) -> Vec<u8> {
    let mut c = Content::new();
    c.set_fill_color_space(pdf_writer::types::ColorSpaceOperand::Named(Name(b"G0")));
    c.set_fill_color([0.0]);
    c.set_stroke_color_space(pdf_writer::types::ColorSpaceOperand::Named(Name(b"G0")));
    c.set_stroke_color([0.0]);
    c.set_line_width(FAKE_BOLD_STROKE);
    for run in runs {
        c.begin_text();
        c.next_line(run.x, run.y);
        if rtl || !shape::is_simple(&run.text) {
            shaped_line(&mut c, run, fonts, rtl, used);
            c.end_text();
            continue;
        }
        // consecutive characters of one font and style make one string
        let mut segments: Vec<(FontId, bool, Vec<u8>)> = Vec::new();
        for ch in run.text.chars() {
            let (g, shown) = fonts.glyph(ch, run.bold);
            let Some(cid) = Used::cid(used, fonts, g, shown.encode_utf8(&mut [0; 4])) else { continue };
            match segments.last_mut() {
                Some((f, b, bytes)) if *f == g.font && *b == g.fake_bold => bytes.extend(cid.to_be_bytes()),
                _ => segments.push((g.font, g.fake_bold, cid.to_be_bytes().to_vec())),
            }
        }
        let mut fake = false;
        for (font, fake_bold, bytes) in &segments {
            if *fake_bold != fake {
                c.set_text_rendering_mode(if *fake_bold {
                    TextRenderingMode::FillStroke
                } else {
                    TextRenderingMode::Fill
                });
                fake = *fake_bold;
            }
            c.set_font(Name(font_resource(*font).as_bytes()), run.size);
            c.show(Str(bytes));
        }
        if fake {
            c.set_text_rendering_mode(TextRenderingMode::Fill);
        }
        c.end_text();
    }
    c.finish().to_vec()
}

/// Draws a line that needs shaping or reordering ([`shape::visual`]): its
/// glyphs in visual order, each run of one font in a `TJ` whose numbers
/// move the pen by the shaped advances and offsets, the whole line in a
/// marked-content span whose `ActualText` is the line's logical text.
fn shaped_line(c: &mut Content, run: &Run, fonts: &Fonts, rtl: bool, used: &mut BTreeMap<FontId, Used>) {
    let mut fake = false;
    for segment in shape::visual(fonts, &run.text, run.bold, rtl) {
        if segment.fake_bold != fake {
            c.set_text_rendering_mode(if segment.fake_bold {
                TextRenderingMode::FillStroke
            } else {
                TextRenderingMode::Fill
            });
            fake = segment.fake_bold;
        }
        c.set_font(Name(font_resource(segment.font).as_bytes()), run.size);
        // (CID, adjustment before, adjustment after, rise, actual text) per
        // glyph; a TJ number moves the pen left by that many thousandths of
        // an em
        let mut items: Vec<(u16, f32, f32, f32, Option<char>)> = Vec::new();
        for g in &segment.glyphs {
            let Some(cid) = Used::cid(used, fonts, g.glyph, &g.text) else { continue };
            let width = fonts.fonts.get(g.glyph.font).map_or(0.0, |f| f.advance(g.glyph.id));
            items.push((cid, -g.dx, g.dx + width - g.advance, g.dy, g.actual));
        }
        // one TJ per stretch of one rise; a mirrored glyph alone, in a span
        // whose ActualText is the character it draws
        let mut start = 0;
        while start < items.len() {
            let (rise, actual) = (items[start].3, items[start].4);
            let end = if actual.is_some() {
                start + 1
            } else {
                items[start..].iter().position(|i| i.3 != rise || i.4.is_some()).map_or(items.len(), |n| start + n)
            };
            if let Some(a) = actual {
                c.begin_marked_content_with_properties(Name(b"Span"))
                    .properties()
                    .actual_text(TextStr(a.encode_utf8(&mut [0; 4])));
            }
            if rise != 0.0 {
                c.set_rise(rise * run.size / 1000.0);
            }
            let mut tj = c.show_positioned();
            let mut list = tj.items();
            for &(cid, before, after, _, _) in &items[start..end] {
                if before.abs() > 0.001 {
                    list.adjust(before);
                }
                list.show(Str(&cid.to_be_bytes()));
                if after.abs() > 0.001 {
                    list.adjust(after);
                }
            }
            list.finish();
            tj.finish();
            if rise != 0.0 {
                c.set_rise(0.0);
            }
            if actual.is_some() {
                c.end_marked_content();
            }
            start = end;
        }
    }
    if fake {
        c.set_text_rendering_mode(TextRenderingMode::Fill);
    }
}

fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 9)
}

fn pdf_date(d: &DateTime<Utc>) -> Date {
    // chrono's fields are in range; the narrowing casts cannot lose anything
    Date::new(u16::try_from(d.year()).unwrap_or(0))
        .month(d.month() as u8)
        .day(d.day() as u8)
        .hour(d.hour() as u8)
        .minute(d.minute() as u8)
        .second(d.second() as u8)
        .utc_offset_hour(0)
        .utc_offset_minute(0)
}

fn xmp_date(d: &DateTime<Utc>) -> xmp_writer::DateTime {
    xmp_writer::DateTime {
        year: u16::try_from(d.year()).unwrap_or(0),
        month: Some(d.month() as u8),
        day: Some(d.day() as u8),
        hour: Some(d.hour() as u8),
        minute: Some(d.minute() as u8),
        second: Some(d.second() as u8),
        timezone: Some(xmp_writer::Timezone::Utc),
    }
}

/// Six upper-case letters from `bytes` (the subset tag of a font name).
fn tag(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().take(6).map(|b| char::from(b'A' + b % 26)).collect()
}

fn write_pdf(letter: &Letter, pages: &[Vec<Run>], fonts: &Fonts) -> Result<Vec<u8>, RenderError> {
    let mut used: BTreeMap<FontId, Used> = BTreeMap::new();
    let rtl = right_to_left(&letter.language);
    let contents: Vec<Vec<u8>> = pages.iter().map(|runs| page_content(runs, fonts, rtl, &mut used)).collect();

    let mut next = 1;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let (catalog_id, tree_id, info_id, meta_id, gray_id) = (alloc(), alloc(), alloc(), alloc(), alloc());
    let page_ids: Vec<(Ref, Ref)> = pages.iter().map(|_| (alloc(), alloc())).collect();
    // per font: Type0 font, CIDFont, descriptor, font file, ToUnicode
    let font_ids: BTreeMap<FontId, [Ref; 5]> =
        used.keys().map(|&f| (f, [alloc(), alloc(), alloc(), alloc(), alloc()])).collect();

    let mut pdf = Pdf::with_settings(Settings { pretty: false });
    let mut hasher = Sha256::new();
    for c in &contents {
        hasher.update(c);
    }
    hasher.update(letter.title.as_bytes());
    hasher.update(letter.created.to_rfc3339().as_bytes());
    let id = hasher.finalize()[..16].to_vec();
    pdf.set_file_id((id.clone(), id));

    pdf.catalog(catalog_id).pages(tree_id).metadata(meta_id).lang(TextStr(&letter.language));
    pdf.pages(tree_id).kids(page_ids.iter().map(|(p, _)| *p)).count(i32::try_from(pages.len()).unwrap_or(i32::MAX));
    let date = pdf_date(&letter.created);
    pdf.document_info(info_id)
        .title(TextStr(&letter.title))
        .producer(TextStr("Relance"))
        .creation_date(date)
        .modified_date(date);
    let mut xmp = xmp_writer::XmpWriter::new();
    xmp.title([(None, letter.title.as_str())])
        .language([xmp_writer::LangId(&letter.language)])
        .format("application/pdf")
        .producer("Relance")
        .create_date(xmp_date(&letter.created))
        .modify_date(xmp_date(&letter.created))
        .pdfa_part(2)
        .pdfa_conformance("B");
    let xmp = xmp.finish(None);
    pdf.metadata(meta_id, xmp.as_bytes());
    // Black is CalGray 0 (a device-independent space, for PDF/A).
    pdf.color_space(gray_id).cal_gray([0.9505, 1.0, 1.089], None, None);

    for ((page_id, content_id), content) in page_ids.iter().zip(&contents) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H)).parent(tree_id).contents(*content_id);
        let mut resources = page.resources();
        resources.color_spaces().pair(Name(b"G0"), gray_id);
        let mut dict = resources.fonts();
        for (font, ids) in &font_ids {
            dict.pair(Name(font_resource(*font).as_bytes()), ids[0]);
        }
        dict.finish();
        resources.finish();
        page.finish();
        pdf.stream(*content_id, &deflate(content)).filter(Filter::FlateDecode);
    }

    for (font_id, [type0_id, cid_id, descriptor_id, file_id, cmap_id]) in &font_ids {
        let (Some(font), Some(u)) = (fonts.fonts.get(*font_id), used.get(font_id)) else { continue };
        let subset = subsetter::subset(font.data, 0, &u.remapper)
            .map_err(|e| RenderError::Subset { font: font.name, reason: e.to_string() })?;
        let glyphs: Vec<u8> = u.remapper.remapped_gids().flat_map(|g| g.to_be_bytes()).collect();
        let base = format!("{}+{}", tag(&[font.name.as_bytes(), &glyphs].concat()), font.name);
        let system = SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 };

        pdf.type0_font(*type0_id)
            .base_font(Name(format!("{base}-Identity-H").as_bytes()))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(*cid_id)
            .to_unicode(*cmap_id);
        let mut cid = pdf.cid_font(*cid_id);
        cid.subtype(CidFontType::Type2)
            .base_font(Name(base.as_bytes()))
            .system_info(system)
            .font_descriptor(*descriptor_id)
            .default_width(0.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        let mut widths = cid.widths();
        for (cid, w) in &u.widths {
            widths.consecutive(*cid, [*w]);
        }
        widths.finish();
        cid.finish();

        let face = &font.face;
        let bbox = face.global_bounding_box();
        let weight = f32::from(face.weight().to_number());
        pdf.font_descriptor(*descriptor_id)
            .name(Name(base.as_bytes()))
            .flags(FontFlags::SYMBOLIC)
            .bbox(Rect::new(
                font.scale(bbox.x_min),
                font.scale(bbox.y_min),
                font.scale(bbox.x_max),
                font.scale(bbox.y_max),
            ))
            .italic_angle(face.italic_angle())
            .ascent(font.scale(face.ascender()))
            .descent(font.scale(face.descender()))
            .cap_height(font.scale(face.capital_height().unwrap_or(face.ascender())))
            .stem_v(10.0 + 0.244 * (weight - 50.0))
            .font_file2(*file_id);
        let length1 = i32::try_from(subset.len()).unwrap_or(i32::MAX);
        pdf.stream(*file_id, &deflate(&subset)).filter(Filter::FlateDecode).pair(Name(b"Length1"), length1);

        let mut cmap = UnicodeCmap::new(
            Name(b"Relance-UCS"),
            SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"UCS"), supplement: 0 },
        );
        for (cid, text) in &u.unicode {
            cmap.pair_with_multiple(*cid, text.chars());
        }
        pdf.stream(*cmap_id, &deflate(&cmap.finish())).filter(Filter::FlateDecode);
    }
    Ok(pdf.finish())
}

#[cfg(test)]
mod rtl_tests;
#[cfg(test)]
mod tests;
