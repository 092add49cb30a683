//! The fonts of the letters, shipped in `fonts/` (see its README for the
//! files and their licenses) and compiled into the binary: DejaVu Sans and
//! DejaVu Sans Bold (Latin, Greek, Cyrillic, Arabic, Hebrew…), then Droid
//! Sans Fallback for what DejaVu lacks (CJK ideographs, kana, hangul).
//!
//! Each character is drawn with the first font of its weight's chain that
//! has a glyph for it (bold: DejaVu Sans Bold, DejaVu Sans, Droid Sans
//! Fallback; regular: DejaVu Sans, Droid Sans Fallback). A character no
//! font has is drawn as U+FFFD `�` (never the `.notdef` glyph, which
//! PDF/A forbids); the text layer keeps the replacement character too.
//! Widths come from each font's `hmtx` advances, or from the shaped
//! advances for text that needs shaping ([`super::shape`]: Arabic forms and
//! ligatures, right-to-left runs), so that lines wrap as they print. Each
//! font is parsed twice, by `ttf-parser` (cmap, metrics, names) and by
//! `rustybuzz` (its own `ttf-parser`, for GSUB/GPOS).

use std::sync::OnceLock;

use ttf_parser::{Face, GlyphId};

use super::shape;

/// The font files, in [`FontId`] order.
const FILES: [(&str, &[u8]); 3] = [
    ("DejaVuSans", include_bytes!("fonts/DejaVuSans.ttf")),
    ("DejaVuSans-Bold", include_bytes!("fonts/DejaVuSans-Bold.ttf")),
    ("DroidSansFallbackFull", include_bytes!("fonts/DroidSansFallbackFull.ttf")),
];

/// Index of a font in [`FILES`].
pub type FontId = usize;

pub const REGULAR: FontId = 0;
pub const BOLD: FontId = 1;
pub const FALLBACK: FontId = 2;

/// The character drawn for one no font has.
pub const REPLACEMENT: char = '\u{FFFD}';

/// A parsed font file.
pub struct Font {
    /// PostScript-style name (without the subset tag).
    pub name: &'static str,
    pub data: &'static [u8],
    pub face: Face<'static>,
    /// The same font for the shaper ([`super::shape`]).
    pub shaper: rustybuzz::Face<'static>,
}

impl Font {
    /// Advance width of `glyph` in thousandths of an em (PDF glyph space).
    pub fn advance(&self, glyph: GlyphId) -> f32 {
        let units = self.face.glyph_hor_advance(glyph).unwrap_or(0);
        f32::from(units) * 1000.0 / f32::from(self.face.units_per_em().max(1))
    }

    /// Scales font units to thousandths of an em.
    pub fn scale(&self, units: i16) -> f32 {
        f32::from(units) * 1000.0 / f32::from(self.face.units_per_em().max(1))
    }
}

/// The shipped fonts, parsed once.
pub struct Fonts {
    pub fonts: Vec<Font>,
}

/// A glyph of one of the fonts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Glyph {
    pub font: FontId,
    pub id: GlyphId,
    /// Whether the glyph is from a regular font standing in for bold (drawn
    /// with a thin outline to look bold).
    pub fake_bold: bool,
}

/// Why the shipped fonts cannot be used (a broken build, not bad input).
#[derive(Debug, thiserror::Error)]
#[error("the embedded font {name} cannot be read: {reason}")]
pub struct FontError {
    pub name: &'static str,
    pub reason: String,
}

impl Fonts {
    /// The shipped fonts (parsed on first use).
    pub fn get() -> Result<&'static Fonts, FontError> {
        static FONTS: OnceLock<Result<Fonts, FontError>> = OnceLock::new();
        FONTS.get_or_init(Fonts::load).as_ref().map_err(|e| FontError { name: e.name, reason: e.reason.clone() })
    }

    fn load() -> Result<Fonts, FontError> {
        let fonts = FILES
            .iter()
            .map(|(name, data)| {
                let face = Face::parse(data, 0).map_err(|e| FontError { name, reason: e.to_string() })?;
                let shaper = rustybuzz::Face::from_slice(data, 0)
                    .ok_or_else(|| FontError { name, reason: "the shaper cannot read it".into() })?;
                Ok(Font { name, data, face, shaper })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let fonts = Fonts { fonts };
        if fonts.lookup(REPLACEMENT, false).is_none() {
            return Err(FontError { name: FILES[REGULAR].0, reason: "no glyph for U+FFFD".into() });
        }
        Ok(fonts)
    }

    fn chain(bold: bool) -> &'static [FontId] {
        if bold { &[BOLD, REGULAR, FALLBACK] } else { &[REGULAR, FALLBACK] }
    }

    /// The glyph drawing `c`, from the first font of the chain that has one.
    fn lookup(&self, c: char, bold: bool) -> Option<Glyph> {
        Self::chain(bold).iter().find_map(|&font| {
            let id = self.fonts.get(font)?.face.glyph_index(c).filter(|g| g.0 != 0)?;
            Some(Glyph { font, id, fake_bold: bold && font != BOLD })
        })
    }

    /// The glyph drawing `c` (the replacement character's when no font has one)
    /// and the character it stands for in the text layer.
    pub fn glyph(&self, c: char, bold: bool) -> (Glyph, char) {
        match self.lookup(c, bold) {
            Some(g) => (g, c),
            None => {
                let g = self.lookup(REPLACEMENT, bold).or_else(|| self.lookup(REPLACEMENT, false));
                // `load` checked that the regular chain has U+FFFD
                (g.unwrap_or(Glyph { font: REGULAR, id: GlyphId(0), fake_bold: false }), REPLACEMENT)
            }
        }
    }

    /// Whether the font `font` has a glyph for `c`.
    pub fn has(&self, font: FontId, c: char) -> bool {
        self.fonts.get(font).and_then(|f| f.face.glyph_index(c)).is_some_and(|g| g.0 != 0)
    }

    /// Whether some font has a glyph for `c`.
    pub fn covers(&self, c: char) -> bool {
        self.lookup(c, false).is_some()
    }

    /// Advance of `c` in points at `size`.
    pub fn char_width(&self, c: char, bold: bool, size: f32) -> f32 {
        let (g, _) = self.glyph(c, bold);
        self.fonts.get(g.font).map_or(0.0, |f| f.advance(g.id)) * size / 1000.0
    }

    /// Width of `text` in points at `size`: the sum of the characters'
    /// advances, or the shaped advances when the text needs shaping
    /// ([`super::shape`]).
    pub fn width(&self, text: &str, bold: bool, size: f32) -> f32 {
        if shape::is_simple(text) {
            text.chars().map(|c| self.char_width(c, bold, size)).sum()
        } else {
            shape::width(self, text, bold, size)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_covers_latin_greek_cyrillic_and_cjk() {
        let f = Fonts::get().expect("fonts");
        for c in "ŁłŻżŚśĆćŹźĄąĘęÓóŃńİıŞşĞğΑθηνάЖжالعربية€\u{202f}\u{a0}".chars()
        {
            let (g, shown) = f.glyph(c, false);
            assert_eq!((g.font, shown), (REGULAR, c), "{c:?} from DejaVu Sans");
        }
        for c in "华为技术有限公司株式会社あカ".chars() {
            let (g, shown) = f.glyph(c, false);
            assert_eq!((g.font, shown), (FALLBACK, c), "{c:?} from the fallback");
        }
        // bold: DejaVu Sans Bold, CJK from the regular fallback drawn fake-bold
        assert_eq!(f.glyph('Ł', true).0.font, BOLD);
        assert!(f.glyph('华', true).0.fake_bold);
        // a private-use character no font has: the replacement glyph, never .notdef
        let (g, shown) = f.glyph('\u{E000}', false);
        assert_eq!(shown, REPLACEMENT);
        assert_ne!(g.id.0, 0);
        assert!(!f.covers('\u{E000}'));
        // Droid Sans Fallback has no hangul syllables: they print as U+FFFD
        assert_eq!(f.glyph('한', false).1, REPLACEMENT);
    }

    #[test]
    fn widths_are_the_fonts_advances() {
        let f = Fonts::get().expect("fonts");
        // DejaVu Sans: units per em 2048, `i` 569 units, `W` 2025 units
        assert!((f.width("i", false, 1000.0) - 569.0 * 1000.0 / 2048.0).abs() < 0.01);
        assert!(f.width("W", false, 10.0) > 3.0 * f.width("i", false, 10.0));
        assert!(f.width("Łódź", true, 10.0) > f.width("Łódź", false, 10.0));
        assert!(f.width("华为", false, 10.0) >= 19.0, "CJK ideographs are about one em wide");
    }
}
