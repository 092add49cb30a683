//! The letter PDFs: text extracted with `pdftotext` (poppler-utils),
//! structure checked with `qpdf --check`, layout checked on the placed
//! lines. Under scripts/test.sh (`RELANCE_TEST_SERVERS=required`) a missing
//! tool fails the tests; elsewhere the tool's checks are skipped with a note.

use std::process::Command;

use chrono::TimeZone;

use super::*;

pub(super) fn letter(recipient: &[&str], body: &str) -> Letter {
    Letter {
        sender: vec!["Démo Industries SAS".into(), "1 rue de la Paix".into(), "75002 Paris".into()],
        recipient: recipient.iter().map(|s| s.to_string()).collect(),
        place_date: "À Paris, le 28/12/2026".into(),
        mention: Some("Lettre recommandée avec accusé de réception".into()),
        subject: Some("Objet : mise en demeure de payer".into()),
        body: body.into(),
        signature: vec!["Le service comptabilité clients – Démo Industries SAS".into()],
        title: "Mise en demeure de payer – Démo Industries SAS".into(),
        language: "fr".into(),
        created: Utc.with_ymd_and_hms(2026, 12, 28, 9, 30, 0).single().expect("date"),
    }
}

pub(super) const BODY: &str = "Madame, Monsieur,\n\nMalgré nos relances, vous restez redevable des sommes suivantes :\n\n  - Facture FAC-1 du 01/10/2026, échéance 31/10/2026 : 1\u{202f}200,00\u{a0}€ (58 jours de retard)\n  Total : 1\u{202f}200,00\u{a0}€\n\nVeuillez agréer, Madame, Monsieur, nos salutations distinguées.";

const POLISH: [&str; 3] = ["Zakład Produkcyjny Łódź Sp. z o.o.", "ul. Żółkiewskiego 12", "90-001 Łódź"];

/// Runs a poppler/qpdf tool; `None` (with a note) when it is not installed
/// outside scripts/test.sh.
fn tool(name: &str, package: &str, args: &[&str], pdf: &[u8]) -> Option<(bool, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("letter.pdf");
    std::fs::write(&path, pdf).expect("write");
    let path = path.to_str().expect("utf-8 path").to_string();
    let args: Vec<&str> = args.iter().map(|a| if *a == "{}" { path.as_str() } else { a }).collect();
    match Command::new(name).args(&args).output() {
        Ok(out) => Some((
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )),
        Err(e) => {
            if std::env::var("RELANCE_TEST_SERVERS").as_deref() == Ok("required") {
                panic!("`{name}` ({package}) is required under scripts/test.sh: {e}");
            }
            eprintln!("note: `{name}` not installed ({package}): its checks are skipped");
            None
        }
    }
}

/// The text of the PDF as `pdftotext` reads it (pages separated by form feeds).
pub(super) fn text_of(pdf: &[u8]) -> Option<String> {
    let (ok, out) = tool("pdftotext", "poppler-utils", &["-enc", "UTF-8", "-layout", "{}", "-"], pdf)?;
    assert!(ok, "pdftotext failed: {out}");
    Some(out)
}

/// `qpdf --check` passes.
pub(super) fn qpdf_check(pdf: &[u8]) {
    if let Some((ok, out)) = tool("qpdf", "qpdf", &["--check", "{}"], pdf) {
        assert!(ok, "qpdf --check: {out}");
        assert!(out.contains("No syntax or stream encoding errors"), "{out}");
    }
}

pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_polish_name_and_street_print_as_written() {
    let l = letter(&POLISH, BODY);
    let pdf = render(&l).expect("render");
    qpdf_check(&pdf);
    // embedded, subsetted TrueType; no standard font
    assert!(contains(&pdf, b"/FontFile2") && contains(&pdf, b"+DejaVuSans-Bold") && contains(&pdf, b"+DejaVuSans"));
    assert!(!contains(&pdf, b"Helvetica"));
    assert!(!contains(&pdf, b"DroidSansFallback"), "no CJK, no fallback font");
    assert!(pdf.len() < 100_000, "{} bytes for one page", pdf.len());
    // deterministic
    assert_eq!(pdf, render(&l).expect("render"));
    let Some(text) = text_of(&pdf) else { return };
    for line in POLISH {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    for line in ["Démo Industries SAS", "À Paris, le 28/12/2026", "Objet : mise en demeure de payer", "Page 1 / 1"] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    assert!(text.contains("1\u{202f}200,00\u{a0}€") || text.contains("1 200,00 €"), "{text}");
    assert!(!text.contains('\u{FFFD}') && !text.contains('?'), "{text}");
}

#[test]
fn names_in_decomposed_unicode_are_composed() {
    let nfd: Vec<String> = POLISH.iter().map(|s| s.nfd().collect()).collect();
    assert_ne!(nfd[0], POLISH[0]);
    let refs: Vec<&str> = nfd.iter().map(String::as_str).collect();
    let pdf = render(&letter(&refs, BODY)).expect("render");
    assert_eq!(pdf, render(&letter(&POLISH, BODY)).expect("render"), "NFC first: the same PDF");
}

#[test]
fn greek_and_chinese_names_print_with_the_fallback_font() {
    let greek = ["Αθηναϊκή Εταιρεία Εμπορίου Α.Ε.", "Λεωφόρος Συγγρού 45", "117 43 Αθήνα"];
    let chinese = ["华为技术有限公司", "上海市浦东新区世纪大道100号", "200120 上海"];
    for recipient in [&greek[..], &chinese[..]] {
        let pdf = render(&letter(recipient, BODY)).expect("render");
        qpdf_check(&pdf);
        assert!(pdf.len() < 100_000, "{} bytes", pdf.len());
        let Some(text) = text_of(&pdf) else { continue };
        for line in recipient {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
    let pdf = render(&letter(&chinese, BODY)).expect("render");
    assert!(contains(&pdf, b"+DroidSansFallbackFull"), "CJK glyphs from the embedded fallback font");
}

#[test]
fn characters_no_font_has_print_as_the_replacement_character() {
    let pdf = render(&letter(&["Private \u{E000}\u{E001} Use SA", "1 rue X", "75001 Paris"], BODY)).expect("render");
    qpdf_check(&pdf);
    let Some(text) = text_of(&pdf) else { return };
    assert!(text.contains("Private \u{FFFD}\u{FFFD} Use SA"), "{text}");
}

#[test]
fn a_three_page_letter_is_numbered_and_keeps_its_signature_whole() {
    let items: String = (1..=95)
        .map(|i| format!("  - Facture FAC-{i:03} du 01/10/2026, échéance 31/10/2026 : 1\u{202f}200,00\u{a0}€\n"))
        .collect();
    let body = format!("Madame, Monsieur,\n\n{items}\nVeuillez agréer nos salutations distinguées.");
    let l = letter(&POLISH, &body);
    let pages = layout(&l, Fonts::get().expect("fonts"));
    assert_eq!(pages.len(), 3);
    let last = pages.last().expect("pages");
    assert!(last.iter().any(|r| r.text.starts_with("Le service comptabilité")), "signature on the last page");
    let pdf = render(&l).expect("render");
    qpdf_check(&pdf);
    assert_eq!(pdf, render(&l).expect("render"));
    let Some(text) = text_of(&pdf) else { return };
    let pages: Vec<&str> = text.split('\u{c}').filter(|p| !p.trim().is_empty()).collect();
    assert_eq!(pages.len(), 3, "{text}");
    for (i, p) in pages.iter().enumerate() {
        assert!(p.contains(&format!("Page {} / 3", i + 1)), "page {}:\n{p}", i + 1);
    }
    assert!(pages[0].contains(POLISH[0]) && !pages[1].contains(POLISH[0]), "the address on the first page only");
    // the signature (wrapped in its block) after the last invoice
    let last = pages[2];
    let (item, sig) = (last.find("FAC-095"), last.find("Le service comptabilité clients"));
    assert!(item.is_some() && sig.is_some() && item < sig && last.contains("Industries SAS"), "{last}");
}

#[test]
fn lines_wrap_with_the_fonts_widths_and_long_words_are_cut() {
    let word = "Ł".repeat(200);
    let body = format!("{} {word}\n  - {}", "mot ".repeat(150), "Żółw ".repeat(100));
    let fonts = Fonts::get().expect("fonts");
    let pages = layout(&letter(&["Long Name ".repeat(20).as_str(), "1 rue X"], &body), fonts);
    let runs: Vec<&Run> = pages.iter().flatten().collect();
    for r in &runs {
        let right = r.x + fonts.width(&r.text, r.bold, r.size);
        assert!(right <= PAGE_W - RIGHT + 0.01, "{:?} ends at {right}", r.text);
    }
    // the long word is cut over several lines, all of it printed
    let ls: usize = runs.iter().map(|r| r.text.matches('Ł').count()).sum();
    assert_eq!(ls, 200);
    assert!(runs.iter().filter(|r| r.text.chars().all(|c| c == 'Ł')).count() >= 2);
    // a `- ` item hangs: its continuation lines start after the dash
    let item: Vec<&&Run> = runs.iter().filter(|r| r.text.contains("Żółw")).collect();
    assert!(item.len() > 2);
    assert!((item[1].x - item[0].x - fonts.width("- ", false, SIZE)).abs() < 0.01);
    // the recipient's long name wraps inside the window
    let name: Vec<&&Run> = runs.iter().filter(|r| r.text.contains("Long") || r.text.contains("Name")).collect();
    assert!(name.len() > 1 && name.iter().all(|r| r.x == WINDOW_X && r.bold), "{name:?}");
}

#[test]
fn the_layout_follows_french_usage() {
    let l = letter(&POLISH, BODY);
    let pages = layout(&l, Fonts::get().expect("fonts"));
    let find = |t: &str| pages[0].iter().find(|r| r.text.starts_with(t)).unwrap_or_else(|| panic!("{t}"));
    let sender = find("Démo Industries SAS");
    assert!(sender.bold && sender.x == LEFT && (PAGE_H - sender.y - TOP).abs() < 0.01);
    // the recipient in the DL window: 100 mm from the left edge, below 45 mm from the top
    let name = find(POLISH[0]);
    assert!(name.bold && (name.x - 100.0 * MM).abs() < 0.01);
    let from_top = (PAGE_H - name.y) / MM;
    assert!((45.0..55.0).contains(&from_top), "{from_top} mm");
    let town = find(POLISH[2]);
    assert!((PAGE_H - town.y) / MM < 90.0, "the address fits the window's 45 mm");
    let date = find("À Paris, le");
    assert!(date.x == WINDOW_X && date.y < town.y);
    let mention = find("Lettre recommandée");
    let subject = find("Objet :");
    assert!(mention.x == LEFT && mention.bold && subject.bold && mention.y < date.y && subject.y < mention.y);
    let body = find("Madame, Monsieur");
    assert!(body.y < subject.y && !body.bold);
    let signature = find("Le service comptabilité");
    assert!(signature.x == WINDOW_X && signature.y < body.y);
    assert_eq!(pages[0].last().map(|r| r.text.as_str()), Some("Page 1 / 1"));
}

#[test]
fn metadata_declares_pdf_a_and_matches_the_info_dictionary() {
    let pdf = render(&letter(&POLISH, BODY)).expect("render");
    assert!(pdf.starts_with(b"%PDF-1.7\n%"));
    for needle in [
        &b"<pdfaid:part>2</pdfaid:part>"[..],
        b"<pdfaid:conformance>B</pdfaid:conformance>",
        b"<xmp:CreateDate>2026-12-28T09:30:00Z</xmp:CreateDate>",
        b"/CreationDate (D:20261228093000Z)",
        b"/Producer (Relance)",
        b"/Lang (fr)",
        b"/CalGray",
        b"/ID [",
        b"/ToUnicode",
        b"/Identity-H",
    ] {
        // whitespace between tokens is the writer's choice
        let squeeze = |b: &[u8]| b.iter().copied().filter(|c| !c.is_ascii_whitespace()).collect::<Vec<u8>>();
        assert!(contains(&squeeze(&pdf), &squeeze(needle)), "{} missing", String::from_utf8_lossy(needle));
    }
    // the title (non-ASCII) is in the metadata as UTF-8
    assert!(contains(&pdf, "Mise en demeure de payer – Démo Industries SAS".as_bytes()));
}
