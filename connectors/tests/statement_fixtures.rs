//! Walks every bank statement in `../shared/fixtures/external/`: each one must
//! parse, or be rejected with an error that says where and why. Skips with a
//! note when `../shared` is absent (a plain clone).

use std::path::{Path, PathBuf};

use relance_connectors::statements::{self, ParsedFile};

fn fixtures() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/external");
    p.is_dir().then_some(p)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let skip = name.starts_with("LICENSE")
                || name.starts_with("LICENCE")
                || name.starts_with("README")
                || [".json", ".yml", ".yaml", ".pydata", ".md", ".py", ".php", ".txt.json"]
                    .iter()
                    .any(|x| name.ends_with(x));
            if !skip {
                out.push(p);
            }
        }
    }
}

#[test]
fn every_shared_statement_parses_or_fails_clearly() {
    let Some(root) = fixtures() else {
        eprintln!("note: ../shared/fixtures/external is absent; statement fixture walk skipped");
        return;
    };
    let mut files = Vec::new();
    for dir in ["camt", "mt940", "cfonb120", "ofx", "csv", "qif"] {
        walk(&root.join(dir), &mut files);
    }
    files.sort();
    assert!(files.len() > 300, "expected the shared statements, found {}", files.len());
    let (mut ok, mut rejected, mut transactions) = (0, 0, 0);
    let mut report = String::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let result = std::panic::catch_unwind(|| statements::parse(&bytes));
        let rel = f.strip_prefix(&root).unwrap().display().to_string();
        match result {
            Err(_) => panic!("{rel}: the parser panicked"),
            Ok(Ok(ParsedFile { statements, .. })) => {
                ok += 1;
                for s in &statements {
                    for t in &s.transactions {
                        assert!(t.line.amount.minor >= 0, "{rel}: negative amount");
                        transactions += 1;
                    }
                }
            }
            Ok(Err(e)) => {
                rejected += 1;
                assert!(e.message.len() > 10, "{rel}: error too vague: {e}");
                report.push_str(&format!("  {rel}: {e}\n"));
            }
        }
    }
    eprintln!("{} files: {ok} parsed ({transactions} transactions), {rejected} rejected:\n{report}", files.len());
    // Most real statements must parse; rejections are listed above for review.
    assert!(ok * 10 >= files.len() * 7, "too many rejections: {rejected} of {}", files.len());
}

/// Counterparties read from narratives on the shared statements: names carry
/// no narrative keys or sub-field codes, and the credits with a payer are
/// counted.
#[test]
fn shared_statements_counterparties_are_valid() {
    let Some(root) = fixtures() else {
        eprintln!("note: ../shared/fixtures/external is absent; counterparty check skipped");
        return;
    };
    let mut files = Vec::new();
    for dir in ["camt", "mt940", "cfonb120", "ofx", "csv"] {
        walk(&root.join(dir), &mut files);
    }
    files.sort();
    let (mut credits, mut named, mut with_iban) = (0usize, 0usize, 0usize);
    for f in &files {
        let Ok(bytes) = std::fs::read(f) else { continue };
        let Ok(parsed) = statements::parse(&bytes) else { continue };
        let rel = f.strip_prefix(&root).map(|p| p.display().to_string()).unwrap_or_default();
        for l in parsed.lines().filter(|l| l.direction == relance_domain::Direction::Credit) {
            credits += 1;
            named += usize::from(l.counterparty_name.is_some());
            if let Some(iban) = l.counterparty_iban.as_deref() {
                let b = iban.as_bytes();
                let iban_like = b.len() >= 15
                    && b[..2].iter().all(u8::is_ascii_uppercase)
                    && b[2..4].iter().all(u8::is_ascii_digit)
                    && b.iter().all(u8::is_ascii_alphanumeric);
                with_iban += usize::from(iban_like);
            }
            if let Some(name) = l.counterparty_name.as_deref() {
                for key in ["/MOTIF", "/IBAN", "/REMI/", "/EREF", "?20", "?32"] {
                    assert!(!name.contains(key), "{rel}: name with `{key}`: {name}");
                }
            }
        }
    }
    eprintln!("{credits} credits: {named} with a counterparty name, {with_iban} with an IBAN");
    assert!(credits > 500, "expected the shared statements' credits, found {credits}");
}
