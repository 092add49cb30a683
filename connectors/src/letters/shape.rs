//! Shaping and bidirectional order of the letters' lines: Arabic and Hebrew
//! names and addresses print joined and right to left, next to Latin text
//! and digits that keep their order.
//!
//! A line goes through three steps, in the order of UAX #9 (the paragraph
//! is broken into lines first, by [`super::pdf`], with the widths measured
//! here; then each line is reordered):
//!
//! 1. **Bidi**: `unicode-bidi` resolves the embedding levels of the line
//!    (paragraph direction from the letter's language: left to right for
//!    French and English) and gives its level runs in visual order.
//! 2. **Fonts**: each level run is split into runs of one font of the
//!    fallback chain ([`super::fonts`]), character by character as on the
//!    plain path; combining marks and joiners stay with their letter's
//!    font, so that a cluster is shaped with one font.
//! 3. **Shaping**: a font run that needs it (right to left, or holding
//!    characters of a complex script or combining marks) is shaped by
//!    `rustybuzz` (the HarfBuzz shaper in Rust) with the font's own
//!    GSUB/GPOS tables: Arabic initial, medial and final forms, lam-alef
//!    ligatures, marks placed on their letters. Its glyphs come in visual
//!    order. Other runs take one glyph per character from the font's
//!    `cmap` (the fast path, with the `hmtx` advances, as before).
//!
//! Every glyph keeps the characters it stands for, for the PDF's ToUnicode
//! map: a contextual form its letter, a ligature its letters (in visual
//! order on a right-to-left run, as extractors read glyphs left to right and
//! reverse right-to-left runs to get the logical text back). A bracket
//! mirrored on a right-to-left run (`(` drawn with the glyph of `)`) keeps
//! its glyph's own character and carries the one it draws in
//! [`Placed::actual`], written as an `ActualText` span. A glyph the shaper
//! cannot find (`.notdef`) is replaced by U+FFFD's, as in the fast path;
//! bidi controls are not drawn, joiners the shaper hides neither.

use rustybuzz::{BufferClusterLevel, Direction, UnicodeBuffer};
use unicode_bidi::{BidiClass, Level, ParagraphBidiInfo, bidi_class};

use super::fonts::{FontId, Fonts, Glyph, REPLACEMENT};

/// One glyph placed on a line, in thousandths of an em of its font.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub glyph: Glyph,
    /// The pen moves this much after the glyph.
    pub advance: f32,
    /// Offset of the glyph from the pen (GPOS mark positioning).
    pub dx: f32,
    pub dy: f32,
    /// The characters the glyph stands for (empty for the second and later
    /// glyphs of one character).
    pub text: String,
    /// The character drawn when it differs from what the glyph shows: a
    /// bracket right to left is drawn with its mirror's glyph (`(` with
    /// the glyph of `)`), whose ToUnicode entry is the mirror.
    pub actual: Option<char>,
}

/// A run of glyphs of one font, in visual order.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub font: FontId,
    pub fake_bold: bool,
    pub glyphs: Vec<Placed>,
}

/// Whether a character calls for the shaper or the bidi algorithm: strong
/// right-to-left and Arabic digits, combining marks, and the letters of
/// scripts whose glyphs depend on their neighbours.
pub fn is_complex(c: char) -> bool {
    matches!(
        bidi_class(c),
        BidiClass::R
            | BidiClass::AL
            | BidiClass::AN
            | BidiClass::NSM
            | BidiClass::RLE
            | BidiClass::RLO
            | BidiClass::RLI
            | BidiClass::LRE
            | BidiClass::LRO
            | BidiClass::LRI
            | BidiClass::FSI
            | BidiClass::PDF
            | BidiClass::PDI
    ) || is_bidi_control(c)
        || matches!(u32::from(c), 0x0900..=0x0DFF | 0x0E00..=0x0EFF | 0x1000..=0x109F | 0x1780..=0x17FF)
}

/// Whether `text` can be drawn one glyph per character, left to right.
pub fn is_simple(text: &str) -> bool {
    !text.chars().any(is_complex)
}

/// Explicit bidi formatting characters (and marks like LRM): they steer the
/// order and are not drawn.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Splits `text` into runs of one font, each character from the first font
/// of the chain that has it (a combining mark stays with the font of its
/// letter when that font has it, a joiner always: the shaper hides it);
/// characters no font has make runs of their own (`None`).
fn font_runs(fonts: &Fonts, text: &str, bold: bool) -> Vec<(Option<Glyph>, std::ops::Range<usize>)> {
    let mut runs: Vec<(Option<Glyph>, std::ops::Range<usize>)> = Vec::new();
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        if is_bidi_control(c) {
            if let Some(last) = runs.last_mut() {
                last.1.end = end;
            } else {
                runs.push((None, i..end));
            }
            continue;
        }
        // a combining mark or a joiner stays with the letter before it
        let sticky = matches!(bidi_class(c), BidiClass::NSM | BidiClass::BN);
        if sticky
            && let Some((Some(g), range)) = runs.last_mut()
            && (fonts.has(g.font, c) || bidi_class(c) == BidiClass::BN)
        {
            range.end = end;
            continue;
        }
        let (g, shown) = fonts.glyph(c, bold);
        let font = (shown == c).then_some(g);
        match runs.last_mut() {
            Some((last, range)) if last.map(|l| l.font) == font.map(|f| f.font) && font.is_some() => {
                range.end = end;
            }
            _ => runs.push((font, i..end)),
        }
    }
    runs
}

/// One glyph per character, from the `cmap` (the fast path).
fn simple_glyphs(fonts: &Fonts, text: &str, bold: bool) -> Vec<(FontId, bool, Placed)> {
    text.chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| {
            let (g, shown) = fonts.glyph(c, bold);
            let advance = fonts.fonts.get(g.font).map_or(0.0, |f| f.advance(g.id));
            (g.font, g.fake_bold, Placed { glyph: g, advance, dx: 0.0, dy: 0.0, text: shown.to_string(), actual: None })
        })
        .collect()
}

/// Shapes `text` with `glyph`'s font, right to left when `rtl`; the glyphs
/// come in visual order.
fn shaped(fonts: &Fonts, text: &str, font: Glyph, bold: bool, rtl: bool) -> Vec<Placed> {
    let Some(f) = fonts.fonts.get(font.font) else { return Vec::new() };
    // the bidi controls did their work on the line: not shaped, not drawn
    let text: String = text.chars().filter(|c| !is_bidi_control(*c)).collect();
    let text = text.as_str();
    let mut buffer = UnicodeBuffer::new();
    buffer.push_str(text);
    buffer.guess_segment_properties();
    buffer.set_direction(if rtl { Direction::RightToLeft } else { Direction::LeftToRight });
    buffer.set_cluster_level(BufferClusterLevel::MonotoneCharacters);
    let out = rustybuzz::shape(&f.shaper, &[], buffer);
    let infos = out.glyph_infos();
    let positions = out.glyph_positions();
    // cluster starts in logical order, to find the characters of each glyph
    let mut starts: Vec<usize> = infos.iter().map(|i| i.cluster as usize).collect();
    starts.sort_unstable();
    starts.dedup();
    let mut seen = std::collections::BTreeSet::new();
    let mut glyphs = Vec::with_capacity(infos.len());
    for (info, pos) in infos.iter().zip(positions) {
        let start = info.cluster as usize;
        let end = starts.iter().copied().find(|&s| s > start).unwrap_or(text.len());
        let cluster = text.get(start..end).unwrap_or_default();
        // a joiner the shaper hid (as a space of no width): not drawn
        if !cluster.is_empty() && cluster.chars().all(|c| bidi_class(c) == BidiClass::BN) && pos.x_advance == 0 {
            continue;
        }
        let chars = cluster.chars();
        // right to left, a ligature's characters are given in visual order too
        let chars: String = if rtl { chars.rev().collect() } else { chars.collect() };
        let mut text_of = if seen.insert(start) { chars } else { String::new() };
        // a bracket mirrored right to left: the glyph shows the mirror
        let mut actual = None;
        let mut one = cluster.chars();
        if let (Some(c), None) = (one.next(), one.next())
            && rtl
            && let Some(m) = unicode_bidi_mirroring::get_mirrored(c)
            && f.face.glyph_index(m).is_some_and(|g| u32::from(g.0) == info.glyph_id)
            && !text_of.is_empty()
        {
            text_of = m.to_string();
            actual = Some(c);
        }
        let id = u16::try_from(info.glyph_id).unwrap_or(0);
        let placed = if id == 0 {
            // never .notdef: the replacement character's glyph
            let (g, shown) = fonts.glyph(REPLACEMENT, bold);
            let advance = fonts.fonts.get(g.font).map_or(0.0, |f| f.advance(g.id));
            Placed {
                glyph: g,
                advance,
                dx: 0.0,
                dy: 0.0,
                text: if text_of.is_empty() { String::new() } else { shown.to_string() },
                actual: None,
            }
        } else {
            let scale = |v: i32| v as f32 * 1000.0 / f32::from(f.face.units_per_em().max(1));
            Placed {
                glyph: Glyph { font: font.font, id: ttf_parser::GlyphId(id), fake_bold: font.fake_bold },
                advance: scale(pos.x_advance),
                dx: scale(pos.x_offset),
                dy: scale(pos.y_offset),
                text: text_of,
                actual,
            }
        };
        glyphs.push(placed);
    }
    glyphs
}

/// The glyphs of `text` in the order they are drawn, left to right, in runs
/// of one font. `rtl` is the paragraph's direction.
pub fn visual(fonts: &Fonts, text: &str, bold: bool, rtl: bool) -> Vec<Segment> {
    let mut segments: Vec<Segment> = Vec::new();
    let mut push = |font: FontId, fake_bold: bool, placed: Placed| match segments.last_mut() {
        Some(s) if s.font == font && s.fake_bold == fake_bold => s.glyphs.push(placed),
        _ => segments.push(Segment { font, fake_bold, glyphs: vec![placed] }),
    };
    if is_simple(text) && !rtl {
        for (font, fake_bold, placed) in simple_glyphs(fonts, text, bold) {
            push(font, fake_bold, placed);
        }
        return segments;
    }
    let info = ParagraphBidiInfo::new(text, Some(if rtl { Level::rtl() } else { Level::ltr() }));
    let (levels, runs) = info.visual_runs(0..text.len());
    for run in runs {
        let run_rtl = levels.get(run.start).is_some_and(|l| l.is_rtl());
        let Some(run_text) = text.get(run.clone()) else { continue };
        let mut pieces = font_runs(fonts, run_text, bold);
        if run_rtl {
            pieces.reverse();
        }
        for (font, range) in pieces {
            let Some(piece) = run_text.get(range) else { continue };
            match font {
                Some(g) if run_rtl || !is_simple(piece) => {
                    for placed in shaped(fonts, piece, g, bold, run_rtl) {
                        push(placed.glyph.font, placed.glyph.fake_bold, placed);
                    }
                }
                _ => {
                    for (font, fake_bold, placed) in simple_glyphs(fonts, piece, bold) {
                        push(font, fake_bold, placed);
                    }
                }
            }
        }
    }
    segments
}

/// Width of `text` in points at `size`, from the shaped advances.
pub fn width(fonts: &Fonts, text: &str, bold: bool, size: f32) -> f32 {
    visual(fonts, text, bold, false).iter().flat_map(|s| &s.glyphs).map(|g| g.advance).sum::<f32>() * size / 1000.0
}
