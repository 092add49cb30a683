//! Letters as PDF: a small, dependency-free PDF 1.4 writer for the formal
//! notice layout — sender block, recipient address block, then the rendered
//! text (date, subject, invoice list, penalties), on as many A4 pages as it
//! takes, numbered.
//!
//! Text uses the standard Helvetica fonts with WinAnsiEncoding, so French
//! accents and `€` print without embedding a font; characters outside
//! Windows-1252 print as `?`. Lines are wrapped with Helvetica's metrics.
//! Output is deterministic: the same letter gives the same bytes.

use std::fmt::Write as _;

/// What goes on a letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    /// Sender block, first line in bold (company name).
    pub sender: Vec<String>,
    /// Recipient block (name, then address lines).
    pub recipient: Vec<String>,
    /// Document title in the PDF metadata.
    pub title: String,
    /// The letter's text; a blank line separates paragraphs.
    pub body: String,
    /// `D:YYYYMMDDHHmmSSZ` creation date for the metadata.
    pub created: String,
}

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.0;
const SIZE: f32 = 10.5;
const LEADING: f32 = 14.0;

/// One positioned run of text.
struct Run {
    x: f32,
    y: f32,
    bold: bool,
    size: f32,
    text: String,
}

/// Renders the letter as PDF bytes.
pub fn render(letter: &Letter) -> Vec<u8> {
    let mut pages: Vec<Vec<Run>> = vec![Vec::new()];
    let mut y = PAGE_H - MARGIN;
    for (i, line) in letter.sender.iter().enumerate() {
        pages[0].push(Run { x: MARGIN, y, bold: i == 0, size: SIZE, text: line.clone() });
        y -= LEADING;
    }
    let mut ry = PAGE_H - MARGIN - 5.0 * LEADING;
    for (i, line) in letter.recipient.iter().enumerate() {
        pages[0].push(Run { x: 320.0, y: ry, bold: i == 0, size: SIZE, text: line.clone() });
        ry -= LEADING;
    }
    y = y.min(ry) - 2.0 * LEADING;
    let width = PAGE_W - 2.0 * MARGIN;
    for raw in letter.body.lines() {
        let indent = raw.len() - raw.trim_start().len();
        let x = MARGIN + indent as f32 * text_width(" ", SIZE);
        let wrapped = wrap(raw.trim_start(), width - (x - MARGIN), SIZE);
        for (k, piece) in wrapped.iter().enumerate() {
            if y < MARGIN + LEADING {
                pages.push(Vec::new());
                y = PAGE_H - MARGIN;
            }
            let hang = if k > 0 && raw.trim_start().starts_with("- ") { text_width("- ", SIZE) } else { 0.0 };
            let bold = raw.starts_with("Objet") || raw.starts_with("Subject");
            if let Some(p) = pages.last_mut() {
                p.push(Run { x: x + hang, y, bold, size: SIZE, text: piece.clone() });
            }
            y -= LEADING;
        }
        if wrapped.is_empty() {
            y -= LEADING;
        }
    }
    let count = pages.len();
    for (i, p) in pages.iter_mut().enumerate() {
        let footer = format!("{}/{}", i + 1, count);
        let x = PAGE_W - MARGIN - text_width(&footer, 8.0);
        p.push(Run { x, y: MARGIN / 2.0, bold: false, size: 8.0, text: footer });
    }
    write_pdf(letter, &pages)
}

/// Splits `text` into lines no wider than `width` points, at spaces when it can.
fn wrap(text: &str, width: f32, size: f32) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
        if text_width(&candidate, size) <= width || line.is_empty() {
            line = candidate;
        } else {
            out.push(std::mem::take(&mut line));
            line = word.to_string();
        }
    }
    if !line.trim().is_empty() {
        out.push(line);
    }
    out
}

/// Width of `text` in Helvetica at `size`, from the font's metrics (accented
/// letters measured as their base letter).
pub fn text_width(text: &str, size: f32) -> f32 {
    const ASCII: [u16; 95] = [
        278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556,
        556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667,
        556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556,
        556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722,
        500, 500, 500, 334, 260, 334, 584,
    ];
    let units: u32 = text
        .chars()
        .map(|c| {
            let base = match c {
                'à' | 'â' | 'ä' | 'á' => 'a',
                'é' | 'è' | 'ê' | 'ë' => 'e',
                'î' | 'ï' | 'í' => 'i',
                'ô' | 'ö' | 'ó' => 'o',
                'ù' | 'û' | 'ü' | 'ú' => 'u',
                'ç' => 'c',
                'À' | 'Â' => 'A',
                'É' | 'È' | 'Ê' => 'E',
                'Ç' => 'C',
                '€' | '–' => '0',
                '—' => 'M',
                '\u{a0}' | '\u{202f}' => ' ',
                other => other,
            };
            match base as u32 {
                c @ 32..=126 => ASCII[(c - 32) as usize] as u32,
                _ => 556,
            }
        })
        .sum();
    units as f32 * size / 1000.0
}

/// `text` as a PDF literal string in WinAnsiEncoding.
fn pdf_string(text: &str) -> Vec<u8> {
    let mut out = vec![b'('];
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(c.encode_utf8(&mut buf));
        match (unmappable, bytes.first()) {
            (false, Some(&b @ (b'(' | b')' | b'\\'))) => out.extend_from_slice(&[b'\\', b]),
            (false, Some(b'\r' | b'\n')) => out.push(b' '),
            (false, Some(&b)) => out.push(b),
            _ => out.push(b'?'),
        }
    }
    out.push(b')');
    out
}

fn write_pdf(letter: &Letter, pages: &[Vec<Run>]) -> Vec<u8> {
    let mut objects: Vec<Vec<u8>> = Vec::new();
    let n = pages.len();
    // 1 catalog, 2 pages, 3 Helvetica, 4 Helvetica-Bold, 5 info, then page i: 6+2i, content 7+2i
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 6 + 2 * i)).collect();
    objects.push(format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes());
    for font in ["Helvetica", "Helvetica-Bold"] {
        objects.push(
            format!("<< /Type /Font /Subtype /Type1 /BaseFont /{font} /Encoding /WinAnsiEncoding >>").into_bytes(),
        );
    }
    let mut info = b"<< /Title ".to_vec();
    info.extend(pdf_string(&letter.title));
    info.extend_from_slice(b" /Producer (Relance) /CreationDate ");
    info.extend(pdf_string(&letter.created));
    info.extend_from_slice(b" >>");
    objects.push(info);
    for (i, runs) in pages.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                7 + 2 * i
            )
            .into_bytes(),
        );
        let mut content = Vec::new();
        for r in runs {
            let mut head = String::new();
            let _ = write!(head, "BT /{} {} Tf {:.2} {:.2} Td ", if r.bold { "F2" } else { "F1" }, r.size, r.x, r.y);
            content.extend_from_slice(head.as_bytes());
            content.extend(pdf_string(&r.text));
            content.extend_from_slice(b" Tj ET\n");
        }
        let mut obj = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        obj.extend(content);
        obj.extend_from_slice(b"\nendstream");
        objects.push(obj);
    }
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).into_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for o in offsets {
        // each entry is exactly 20 bytes, the space before the newline included
        let _ = writeln!(table, "{o:010} 00000 n ");
    }
    let _ =
        write!(table, "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1);
    out.extend(table.into_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(body: &str) -> Letter {
        Letter {
            sender: vec!["Démo Industries SAS".into(), "1 rue de la Paix".into(), "75002 Paris".into()],
            recipient: vec!["Client (Test) SARL".into(), "3 av. Foch".into(), "69006 Lyon".into()],
            title: "Mise en demeure".into(),
            body: body.into(),
            created: "D:20261124093000Z".into(),
        }
    }

    /// Checks the cross-reference table and stream lengths; returns the text runs.
    pub(crate) fn check_structure(pdf: &[u8]) -> Vec<String> {
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let sx = rfind(pdf, b"startxref\n").expect("startxref");
        let tail = String::from_utf8_lossy(&pdf[sx + 10..]).to_string();
        let xref: usize = tail.lines().next().unwrap().parse().unwrap();
        // everything from xref on is ASCII
        let table = std::str::from_utf8(&pdf[xref..]).expect("ASCII xref");
        assert!(table.starts_with("xref\n"));
        let mut lines = table.lines().skip(1);
        let count: usize = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        lines.next();
        for i in 1..count {
            let off: usize = lines.next().unwrap()[..10].parse().unwrap();
            assert!(pdf[off..].starts_with(format!("{i} 0 obj").as_bytes()), "object {i} not at {off}");
        }
        let mut runs = Vec::new();
        let mut rest = pdf;
        while let Some(p) = find(rest, b"/Length ") {
            let after = &rest[p + 8..];
            let end = after.iter().position(|b| *b == b' ').unwrap();
            let len: usize = std::str::from_utf8(&after[..end]).unwrap().parse().unwrap();
            let s = find(after, b"stream\n").unwrap() + 7;
            assert!(after[s + len..].starts_with(b"\nendstream"), "stream length");
            let content = String::from_utf8_lossy(&after[s..s + len]).to_string();
            for seg in content.split(" Tj") {
                if let Some(o) = seg.find('(') {
                    runs.push(seg[o + 1..seg.len().saturating_sub(1)].replace("\\(", "(").replace("\\)", ")"));
                }
            }
            rest = &after[s + len..];
        }
        runs
    }

    fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).rposition(|w| w == needle)
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn one_page_letter_is_well_formed() {
        let pdf = render(&letter("Objet : mise en demeure\n\n  - Facture FAC-1 : 1 200,00 €\nTotal : 1 200,00 €"));
        let runs = check_structure(&pdf);
        assert!(runs.iter().any(|r| r == "Client (Test) SARL"), "{runs:?}");
        assert!(runs.iter().any(|r| r.starts_with("- Facture FAC-1")), "{runs:?}");
        assert!(runs.contains(&"1/1".to_string()));
        // WinAnsi: é is one byte 0xE9, € is 0x80
        assert!(pdf.windows(2).any(|w| w == b"D\xe9"));
        assert!(pdf.contains(&0x80));
        assert_eq!(
            pdf,
            render(&letter("Objet : mise en demeure\n\n  - Facture FAC-1 : 1 200,00 €\nTotal : 1 200,00 €"))
        );
    }

    #[test]
    fn long_letters_wrap_and_break_pages() {
        let long = "mot ".repeat(60);
        let body: String = (0..80).map(|i| format!("  - Facture F-{i} {long}\n")).collect();
        let pdf = render(&letter(&body));
        let runs = check_structure(&pdf);
        let pages =
            runs.iter().filter(|r| r.contains('/') && r.chars().all(|c| c.is_ascii_digit() || c == '/')).count();
        assert!(pages > 2, "{pages} pages");
        assert!(runs.iter().all(|r| text_width(r, SIZE) <= PAGE_W - 2.0 * MARGIN + 0.01), "a line overflows");
        assert!(runs.iter().any(|r| r.starts_with("- Facture F-79")));
    }
}
