//! A first pass over a file's rows, before anything of it is applied: how
//! many data rows it has, which invoice numbers it lists, which numbers
//! appear on several rows (with their lines), and whether some row has no
//! readable invoice number. It reads only the number column.
//!
//! Listed numbers are kept as 64-bit keyed hashes (a few bytes a row, so a
//! 1M-row export costs tens of MB, not hundreds). A repeated hash is
//! confirmed exactly by a second pass over the rows that carry it, so two
//! different numbers are never taken for duplicates. The only approximation
//! is in [`Scan::lists`], used to *count* what a full export would close: a
//! collision (probability ~10⁻⁷ for a million numbers) could under-count by
//! one. Which invoices are actually closed is decided exactly by the store.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};

use csv::StringRecord;

use super::parse::{Layout, is_blank};

/// Lines listed in a duplicate's quarantine reason (the count is always given).
const LINES_LISTED: usize = 20;

/// What the first pass found.
#[derive(Debug)]
pub struct Scan {
    /// Data rows that are not blank.
    pub rows: u64,
    /// A row had no readable invoice number, or the CSV is unreadable from
    /// some line on: a full export cannot close anything.
    pub unreadable: bool,
    /// Invoice numbers found on more than one row, with the lines of those rows.
    pub duplicates: HashMap<String, Vec<u64>>,
    listed: HashSet<u64>,
    keys: RandomState,
}

impl Scan {
    /// Reads every data row of `text` (whose header gave `layout`).
    pub fn run(text: &str, delimiter: u8, layout: &Layout) -> Scan {
        let keys = RandomState::new();
        let mut listed = HashSet::new();
        let mut repeated = HashSet::new();
        let mut rows = 0u64;
        let mut unreadable = false;
        each_row(text, delimiter, |_, rec| match rec {
            None => unreadable = true,
            Some(rec) => {
                rows += 1;
                match layout.invoice_number(rec) {
                    Some(n) => {
                        let h = keys.hash_one(n);
                        if !listed.insert(h) {
                            repeated.insert(h);
                        }
                    }
                    None => unreadable = true,
                }
            }
        });
        let mut duplicates: HashMap<String, Vec<u64>> = HashMap::new();
        if !repeated.is_empty() {
            // Confirm exactly, on the few rows whose hash repeats.
            each_row(text, delimiter, |line, rec| {
                if let Some(n) = rec.and_then(|r| layout.invoice_number(r))
                    && repeated.contains(&keys.hash_one(n))
                {
                    duplicates.entry(n.to_string()).or_default().push(line);
                }
            });
            duplicates.retain(|_, lines| lines.len() > 1);
        }
        Scan { rows, unreadable, duplicates, listed, keys }
    }

    /// Whether the file lists invoice `number` (see the module note on hashes).
    pub fn lists(&self, number: &str) -> bool {
        self.listed.contains(&self.keys.hash_one(number))
    }

    /// Why a row whose number appears on several rows is quarantined, when it is one.
    pub fn duplicate_reason(&self, number: &str) -> Option<String> {
        let lines = self.duplicates.get(number)?;
        let shown: Vec<String> = lines.iter().take(LINES_LISTED).map(u64::to_string).collect();
        let more = if lines.len() > LINES_LISTED { format!("… ({} rows)", lines.len()) } else { String::new() };
        Some(format!(
            "invoice number `{number}` appears on several rows of this file (lines {}{more}): \
             all of them are quarantined and the invoice keeps its previous state",
            shown.join(", ")
        ))
    }
}

/// Calls `f(line, Some(row))` for every non-blank data row, or `f(line, None)`
/// once when the CSV cannot be read further (the reader cannot go on then).
fn each_row(text: &str, delimiter: u8, mut f: impl FnMut(u64, Option<&StringRecord>)) {
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(true).from_reader(text.as_bytes());
    // Read the header first, so that positions are those of the data rows.
    if reader.headers().is_err() {
        f(1, None);
        return;
    }
    let mut rec = StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut rec) {
            Ok(true) if is_blank(&rec) => {}
            Ok(true) => f(line, Some(&rec)),
            Ok(false) => return,
            Err(e) => {
                f(e.position().map_or(line, |p| p.line()), None);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv_invoices::parse::{ColumnMap, read_layout};

    fn scan(text: &str) -> Scan {
        let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let layout = read_layout(r.headers().unwrap(), &ColumnMap::default()).unwrap();
        Scan::run(text, b',', &layout)
    }

    #[test]
    fn counts_rows_lists_numbers_and_finds_duplicates_with_their_lines() {
        let s = scan(
            "invoice_number,customer_id,due_date,amount_total\nA,C,2026-01-01,1\nB,C,2026-01-01,1\n,,,\nA,C,x,1\nC,C,2026-01-01,1\nA ,C,2026-01-01,1\n",
        );
        assert_eq!(s.rows, 5, "the blank row is not a row");
        assert!(!s.unreadable);
        assert!(s.lists("A") && s.lists("B") && s.lists("C") && !s.lists("D"));
        assert_eq!(s.duplicates.len(), 1);
        assert_eq!(s.duplicates["A"], vec![2, 5, 7], "numbers are trimmed like the import trims them");
        let why = s.duplicate_reason("A").unwrap();
        assert!(why.contains("lines 2, 5, 7"), "{why}");
        assert!(s.duplicate_reason("B").is_none());
    }

    #[test]
    fn a_row_without_number_and_a_header_only_file() {
        let s = scan("invoice_number,customer_id,due_date,amount_total\n,C,2026-01-01,1\n");
        assert!(s.unreadable);
        let s = scan("invoice_number,customer_id,due_date,amount_total\n");
        assert_eq!((s.rows, s.unreadable, s.duplicates.len()), (0, false, 0));
    }
}
