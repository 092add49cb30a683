//! Arabic and Hebrew names and addresses: shaped (contextual forms,
//! ligatures), drawn in visual order next to Latin text and digits that
//! keep theirs, wrapped with the shaped widths, and extracted back by
//! `pdftotext` as their logical text.
//!
//! The glyphs drawn are read back from the content stream (the CIDs of the
//! `Tj`/`TJ` strings, mapped to the fonts' glyph ids through the subset's
//! remapper) and named with the font's own glyph names: DejaVu Sans names
//! its Arabic contextual forms after the Unicode presentation forms
//! (`uniFEDE` is lam's final form), an oracle independent of the shaper.

use rustybuzz::{Direction, UnicodeBuffer};
use unicode_bidi::{BidiClass, bidi_class};

use super::tests::{BODY, contains, letter, qpdf_check, text_of};
use super::*;
use crate::letters::fonts::{BOLD, REGULAR};

const ARABIC: [&str; 3] = ["Société الأمل للتجارة SARL", "12 شارع الحرية", "75011 Paris"];
const HEBREW: [&str; 3] = ["חברת השלום בע״מ", "רחוב הרצל 15", "6688101 תל אביב"];

/// The strings shown by a content stream, with the font resource they are
/// shown in (a small reader of what `page_content` writes: names, literal
/// and hex strings, marked-content property lists skipped).
fn shown_strings(content: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut font = String::new();
    let mut i = 0;
    while i < content.len() {
        match content[i] {
            b'/' => {
                let end = content[i + 1..]
                    .iter()
                    .position(|b| b" /[]()<>\n".contains(b))
                    .map_or(content.len(), |n| i + 1 + n);
                let name = String::from_utf8_lossy(&content[i + 1..end]).to_string();
                if name.starts_with('F') {
                    font = name;
                }
                i = end;
            }
            b'(' => {
                let mut bytes = Vec::new();
                i += 1;
                while content[i] != b')' {
                    if content[i] == b'\\' {
                        i += 1;
                        match content[i] {
                            b'n' => bytes.push(b'\n'),
                            b'r' => bytes.push(b'\r'),
                            b't' => bytes.push(b'\t'),
                            b'b' => bytes.push(8),
                            b'f' => bytes.push(12),
                            d @ b'0'..=b'7' => {
                                let mut v = u32::from(d - b'0');
                                for _ in 0..2 {
                                    if (b'0'..=b'7').contains(&content[i + 1]) {
                                        i += 1;
                                        v = v * 8 + u32::from(content[i] - b'0');
                                    }
                                }
                                bytes.push(v as u8);
                            }
                            other => bytes.push(other),
                        }
                    } else {
                        bytes.push(content[i]);
                    }
                    i += 1;
                }
                out.push((font.clone(), bytes));
                i += 1;
            }
            b'<' if content.get(i + 1) == Some(&b'<') => {
                // a marked-content property list (`ActualText`): not shown
                i += 2 + content[i + 2..].windows(2).position(|w| w == b">>").expect("dictionary end") + 2;
            }
            b'<' => {
                let end = i + content[i..].iter().position(|&b| b == b'>').expect("hex string end");
                let hex: Vec<u8> = content[i + 1..end].iter().copied().filter(u8::is_ascii_hexdigit).collect();
                let bytes = hex
                    .chunks(2)
                    .map(|p| u8::from_str_radix(std::str::from_utf8(p).expect("hex"), 16).expect("hex"))
                    .collect();
                out.push((font.clone(), bytes));
                i = end + 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// What one line draws, left to right: (font, glyph id, glyph name, the
/// text its ToUnicode entry gives).
fn drawn(text: &str, bold: bool, rtl: bool) -> Vec<(FontId, u16, String, String)> {
    let fonts = Fonts::get().expect("fonts");
    let run = Run { x: LEFT, y: 500.0, bold, size: SIZE, text: text.to_string() };
    let mut used = BTreeMap::new();
    let content = page_content(&[run], fonts, rtl, &mut used);
    let mut glyphs = Vec::new();
    for (resource, bytes) in shown_strings(&content) {
        let font: FontId = resource[1..].parse().expect("font resource");
        let u = &used[&font];
        let gids: Vec<u16> = u.remapper.remapped_gids().collect();
        for cid in bytes.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])) {
            let gid = gids[usize::from(cid)];
            let name = fonts.fonts[font].face.glyph_name(ttf_parser::GlyphId(gid)).unwrap_or("?").to_string();
            glyphs.push((font, gid, name, u.unicode.get(&cid).cloned().unwrap_or_default()));
        }
    }
    glyphs
}

/// The text `pdftotext` gives, without the embedding marks (U+202B RLE,
/// U+202C PDF) it puts around right-to-left runs.
fn extracted(pdf: &[u8]) -> Option<String> {
    Some(text_of(pdf)?.replace(['\u{202B}', '\u{202C}'], ""))
}

#[test]
fn an_arabic_word_is_drawn_shaped_and_right_to_left() {
    let fonts = Fonts::get().expect("fonts");
    let word = "الأمل";
    let glyphs = drawn(word, false, false);
    let names: Vec<&str> = glyphs.iter().map(|g| g.2.as_str()).collect();
    // visual order: lam's final form first (the last logical letter), meem
    // initial, the lam-alef-hamza ligature, alef isolated
    assert_eq!(names, ["uniFEDE", "uniFEE3", "uniFEF7", "uni0627"]);
    assert!(glyphs.iter().all(|g| g.0 == REGULAR && g.1 != 0));
    // not the isolated forms of the cmap, reversed or not
    let isolated: Vec<u16> = word.chars().map(|c| fonts.fonts[REGULAR].face.glyph_index(c).expect("cmap").0).collect();
    let ids: Vec<u16> = glyphs.iter().map(|g| g.1).collect();
    assert_ne!(ids, isolated);
    assert_ne!(ids, isolated.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(ids.len(), 4, "five letters, one ligature");
    // exactly what HarfBuzz's shaping gives with the font's GSUB
    let face = rustybuzz::Face::from_slice(fonts.fonts[REGULAR].data, 0).expect("face");
    let mut buffer = UnicodeBuffer::new();
    buffer.push_str(word);
    buffer.set_direction(Direction::RightToLeft);
    let shaped: Vec<u16> =
        rustybuzz::shape(&face, &[], buffer).glyph_infos().iter().map(|i| i.glyph_id as u16).collect();
    assert_eq!(ids, shaped);
    // the ToUnicode entries: one letter each, the ligature's two in visual
    // order (extractors turn right-to-left runs back to logical order)
    let texts: Vec<&str> = glyphs.iter().map(|g| g.3.as_str()).collect();
    assert_eq!(texts, ["ل", "م", "أل", "ا"]);
}

#[test]
fn a_hebrew_word_is_drawn_right_to_left() {
    let glyphs = drawn("שלום", true, false);
    let names: Vec<&str> = glyphs.iter().map(|g| g.2.as_str()).collect();
    // final mem (the last logical letter) drawn first, from DejaVu Sans Bold
    assert_eq!(names, ["uni05DD", "uni05D5", "uni05DC", "uni05E9"]);
    assert!(glyphs.iter().all(|g| g.0 == BOLD));
}

#[test]
fn a_mixed_line_keeps_latin_and_digits_in_order() {
    let line = "Société الأمل للتجارة SARL, 12 شارع الحرية";
    let visual: String = drawn(line, false, false).iter().map(|g| g.3.as_str()).collect();
    // left to right: the Latin words and the number as written, each Arabic
    // run reversed (its words right to left)
    assert_eq!(visual, "Société ةراجتلل لمألا SARL, 12 ةيرحلا عراش");
    // in a right-to-left paragraph the number goes to the right
    let visual: String = drawn("12 شارع الحرية", false, true).iter().map(|g| g.3.as_str()).collect();
    assert_eq!(visual, "ةيرحلا عراش 12");
    assert!(right_to_left("ar") && right_to_left("he-IL") && !right_to_left("fr"));
    // explicit bidi marks and isolates steer the order and are not drawn
    let glyphs = drawn("\u{2067}12 شارع\u{2069} \u{200E}SARL\u{200F}", false, false);
    let visual: String = glyphs.iter().map(|g| g.3.as_str()).collect();
    assert_eq!(visual, "عراش 12 SARL");
    assert_eq!(glyphs.len(), visual.chars().count(), "one glyph per letter drawn, none for the marks");
    // a line without right-to-left or complex text keeps the plain path
    assert!(shape::is_simple("Zakład Produkcyjny Łódź 华为 12") && !shape::is_simple(line));
}

#[test]
fn arabic_and_hebrew_recipients_print_in_a_formal_notice() {
    // What `pdftotext -layout` (poppler 22.12) gives back for each recipient
    // line. Poppler reads the glyphs left to right and turns each run of
    // right-to-left letters back to logical order, but it places a number
    // and the spaces around a run by their position, not by the bidi
    // algorithm:
    // - `רחוב הרצל 15`: the number ends the right-to-left run, so it is
    //   drawn at its left end (as a Hebrew reader expects); poppler reads it
    //   first;
    // - `Société الأمل للتجارة SARL`: the space between the Arabic run and
    //   `SARL` comes out at the run's start.
    let expected: [(&[&str; 3], [&str; 3]); 2] = [
        (&ARABIC, ["Société  الأمل للتجارةSARL", "12 شارع الحرية", "75011 Paris"]),
        (&HEBREW, ["חברת השלום בע״מ", "15 רחוב הרצל", "6688101 תל אביב"]),
    ];
    for (recipient, lines) in expected {
        let l = letter(recipient, BODY);
        let pdf = render(&l).expect("render");
        qpdf_check(&pdf);
        assert!(contains(&pdf, b"+DejaVuSans-Bold") && contains(&pdf, b"+DejaVuSans"));
        assert!(!contains(&pdf, b"DroidSansFallback"));
        assert!(pdf.len() < 100_000, "{} bytes", pdf.len());
        assert_eq!(pdf, render(&l).expect("render"), "deterministic");
        // no .notdef drawn (the subset's glyph 0 is kept for the format only)
        let fonts = Fonts::get().expect("fonts");
        let mut used = BTreeMap::new();
        for page in layout(&l, fonts) {
            page_content(&page, fonts, false, &mut used);
        }
        assert!(used.values().all(|u| u.remapper.remapped_gids().skip(1).all(|g| g != 0)));
        let Some(text) = extracted(&pdf) else { continue };
        for line in lines {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(text.contains("Objet : mise en demeure de payer") && text.contains("Page 1 / 1"), "{text}");
        assert!(!text.contains('\u{FFFD}'), "{text}");
    }
}

#[test]
fn arabic_lines_wrap_with_the_shaped_widths() {
    let fonts = Fonts::get().expect("fonts");
    // the shaped width: the lam-alef ligature is narrower than its letters
    let word = "الأمل";
    let shaped = fonts.width(word, false, SIZE);
    let letters: f32 = word.chars().map(|c| fonts.char_width(c, false, SIZE)).sum();
    let advances: f32 = drawn(word, false, false)
        .iter()
        .map(|g| fonts.fonts[g.0].advance(ttf_parser::GlyphId(g.1)) * SIZE / 1000.0)
        .sum();
    assert!((shaped - advances).abs() < 0.01 && (shaped - letters).abs() > 0.5, "{shaped} {advances} {letters}");
    // a long Arabic name wraps inside the window, all of it printed
    let name = "شركة الأمل للتجارة والصناعة والخدمات اللوجستية ذات المسؤولية المحدودة";
    let pages = layout(&letter(&[name, "12 شارع الحرية"], BODY), fonts);
    let lines: Vec<&Run> = pages[0].iter().filter(|r| r.x == WINDOW_X && r.bold).collect();
    assert!(lines.len() > 1, "{lines:?}");
    for r in &lines {
        assert!(fonts.width(&r.text, true, r.size) <= WINDOW_W + 0.01, "{:?}", r.text);
    }
    let joined: Vec<&str> = lines.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(joined.join(" "), name, "the logical text is broken into lines, then each is reordered");
    // a word longer than the window is cut, each piece measured shaped
    let long = "الأمل".repeat(40);
    let pages = layout(&letter(&[long.as_str(), "12 شارع الحرية"], BODY), fonts);
    let pieces: Vec<&Run> = pages[0].iter().filter(|r| r.x == WINDOW_X && r.bold).collect();
    assert!(pieces.len() > 2, "{pieces:?}");
    for r in &pieces {
        assert!(fonts.width(&r.text, true, r.size) <= WINDOW_W + 0.01, "{:?}", r.text);
    }
    assert_eq!(pieces.iter().map(|r| r.text.as_str()).collect::<String>(), long);
}

#[test]
fn the_fallback_chain_holds_per_character_on_a_shaped_line() {
    // bold: Arabic and Latin from DejaVu Sans Bold, CJK from the fallback
    // drawn fake-bold, on one reordered line
    let glyphs = drawn("华为 الأمل ABC", true, false);
    let font_of = |t: &str| glyphs.iter().find(|g| g.3 == t).map(|g| g.0);
    assert_eq!(font_of("华"), Some(crate::letters::fonts::FALLBACK));
    assert_eq!(font_of("A"), Some(BOLD));
    assert_eq!(font_of("م"), Some(BOLD));
    // a zero-width non-joiner keeps two letters from joining, and is not drawn
    let names = |t: &str| drawn(t, false, false).into_iter().map(|g| g.2).collect::<Vec<_>>();
    assert_eq!(names("بب"), ["uniFE90", "uniFE91"], "final and initial forms");
    assert_eq!(names("ب\u{200C}ب"), ["uni0628", "uni0628"], "isolated forms");
}

#[test]
fn brackets_right_to_left_are_mirrored() {
    let line = "شركة الأمل (فرع باريس)";
    let glyphs = drawn(line, false, false);
    // the closing bracket, last in logical order, is drawn first, with the
    // glyph of `(` (and the opening one with that of `)`)
    assert_eq!((glyphs[0].2.as_str(), glyphs[0].3.as_str()), ("parenleft", "("));
    let close = glyphs.iter().position(|g| g.2 == "parenright").expect("parenright");
    assert_eq!(glyphs[close + 1].3, " ");
    // each ToUnicode entry is the glyph's own character; a span's ActualText
    // says which bracket is drawn
    let fonts = Fonts::get().expect("fonts");
    let run = Run { x: LEFT, y: 500.0, bold: false, size: SIZE, text: line.to_string() };
    let content = page_content(&[run], fonts, false, &mut BTreeMap::new());
    let spans = String::from_utf8_lossy(&content).matches("/ActualText").count();
    assert_eq!(spans, 2);
    assert!(contains(&content, br"/ActualText (\))") && contains(&content, br"/ActualText (\()"));
    // poppler turns the Arabic run back to logical order but reads the
    // closing bracket at its left end as text before it (poppler 22.12)
    let pdf = render(&letter(&[line, "75011 Paris"], BODY)).expect("render");
    qpdf_check(&pdf);
    let Some(text) = extracted(&pdf) else { return };
    assert!(text.contains(")شركة الأمل (فرع باريس"), "{text}");
}

#[test]
fn arabic_marks_are_placed_by_the_fonts_gpos() {
    let fonts = Fonts::get().expect("fonts");
    let name = "مُحَمَّد";
    let glyphs: Vec<shape::Placed> =
        shape::visual(fonts, name, false, false).into_iter().flat_map(|s| s.glyphs).collect();
    // damma, fatha and shadda+fatha: no advance, moved onto their letters
    let marks: Vec<&shape::Placed> =
        glyphs.iter().filter(|g| g.text.chars().all(|c| bidi_class(c) == BidiClass::NSM)).collect();
    assert_eq!(marks.len(), 3, "{glyphs:?}");
    assert!(marks.iter().all(|m| m.advance == 0.0 && (m.dx != 0.0 || m.dy != 0.0)), "{marks:?}");
    // drawn with a text rise, the PDF still valid
    let run = Run { x: LEFT, y: 500.0, bold: false, size: SIZE, text: name.to_string() };
    let content = page_content(&[run], fonts, false, &mut BTreeMap::new());
    assert!(String::from_utf8_lossy(&content).contains(" Ts"));
    qpdf_check(&render(&letter(&[name, "75011 Paris"], BODY)).expect("render"));
}
