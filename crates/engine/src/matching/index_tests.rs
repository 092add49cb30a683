//! Tests of the compact index through the matcher: amount lists as invoices
//! are paid, input order, long numbers, streaming, payers by name, memory.

use super::*;

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn date(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, d).unwrap()
}

fn inv(number: &str, customer: &str, due: u32, open: i64) -> OpenInvoice {
    OpenInvoice {
        number: number.into(),
        customer_id: customer.into(),
        issue_date: Some(date(1)),
        due_date: date(due),
        total: eur(open),
        open: eur(open),
    }
}

fn credit(amount: i64, text: &str) -> BankLine {
    BankLine {
        remittance: Some(text.into()),
        ..BankLine::credit(NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(), eur(amount))
    }
}

fn invoices_of(r: &MatchResult) -> Vec<Vec<String>> {
    r.candidates.iter().map(|c| c.allocations.iter().map(|a| a.invoice.clone()).collect()).collect()
}

#[test]
fn invoices_of_an_amount_follow_payments() {
    let mut m = Matcher::new(
        vec![inv("A-0001", "C1", 20, 10_000), inv("B-0002", "C2", 10, 10_000), inv("C-0003", "C3", 5, 15_000)],
        &[],
        MatchConfig::default(),
    );
    let r = m.match_credit(&credit(10_000, "virement"));
    assert_eq!(invoices_of(&r), vec![vec!["A-0001"], vec!["B-0002"]], "input order");
    // C is paid down to 100.00: it now owes the same, and comes after the others.
    m.consume("C-0003", eur(5_000), None);
    let r = m.match_credit(&credit(10_000, "virement"));
    assert_eq!(invoices_of(&r), vec![vec!["A-0001"], vec!["B-0002"], vec!["C-0003"]]);
    assert!(r.candidates[0].reasons[0].contains("3 open invoice(s) have exactly this amount"), "{r:?}");
    assert!(m.match_credit(&credit(15_000, "virement")).candidates.is_empty(), "C no longer owes 150.00");
    // A is settled, B paid twice in part: lists keep the order of the changes.
    m.consume("A-0001", eur(10_000), None);
    m.consume("B-0002", eur(2_000), None);
    m.consume("B-0002", eur(0), Some(eur(3_000)));
    assert_eq!(invoices_of(&m.match_credit(&credit(10_000, "x"))), vec![vec!["C-0003"]]);
    assert_eq!(invoices_of(&m.match_credit(&credit(5_000, "x"))), vec![vec!["B-0002"]]);
    let open: Vec<(String, i64)> = m.invoices().into_iter().map(|i| (i.number, i.open.minor)).collect();
    assert_eq!(open, vec![("A-0001".into(), 0), ("B-0002".into(), 5_000), ("C-0003".into(), 10_000)], "input order");
}

#[test]
fn a_customers_invoices_are_taken_oldest_first_whatever_the_input_order() {
    let invoices = [
        inv("F-0003", "C1", 30, 2_500),
        inv("F-0009", "C2", 1, 1_000),
        inv("F-0001", "C1", 10, 1_000),
        inv("F-0002", "C1", 20, 2_000),
    ];
    let iban = "FR7630006000011234567890189";
    let payer = Payer { customer_id: "C1".into(), name: "Acme".into(), ibans: vec![iban.into()] };
    // Combinations are sought among the two oldest invoices only.
    let config = MatchConfig { subset_max_invoices: 2, ..MatchConfig::default() };
    let m = Matcher::from_invoices(invoices.iter().cloned(), &[payer], config);
    let mut c = credit(3_000, "virement");
    c.counterparty_iban = Some(iban.into());
    let r = m.match_credit(&c);
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(invoices_of(&r)[0], vec!["F-0001", "F-0002"]);
    assert_eq!(
        m.invoices().iter().map(|i| i.number.as_str()).collect::<Vec<_>>(),
        vec!["F-0003", "F-0009", "F-0001", "F-0002"],
        "input order"
    );
}

#[test]
fn long_invoice_numbers_are_kept_whole() {
    let long = "FA / 2026 / 000042 / ECHEANCE";
    let mut m = Matcher::new(vec![inv(long, "C1", 10, 42_000)], &[], MatchConfig::default());
    let r = m.match_credit(&credit(42_000, "paiement FA/2026/000042/ECHEANCE"));
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(invoices_of(&r), vec![vec![long.to_string()]]);
    m.consume(long, eur(42_000), None);
    assert_eq!(m.invoices()[0].open.minor, 0);
    assert_eq!(m.invoices()[0].number, long);
}

#[test]
fn payers_by_name_and_by_learned_iban() {
    let payers = vec![
        Payer { customer_id: "C1".into(), name: "Boulangerie Martin SARL".into(), ibans: vec![] },
        Payer { customer_id: "C2".into(), name: "Boulangerie Dupont".into(), ibans: vec![] },
    ];
    let mut m = Matcher::new(
        vec![inv("F-0001", "C1", 10, 1_000), inv("F-0002", "C2", 10, 2_000)],
        &payers,
        MatchConfig::default(),
    );
    let mut c = credit(1_000, "virement");
    c.counterparty_name = Some("BOULANGERIE MARTIN".into());
    c.counterparty_iban = Some("FR7630006000011234567890189".into());
    let r = m.match_credit(&c);
    assert_eq!(invoices_of(&r)[0], vec!["F-0001"]);
    assert!(r.candidates[0].reasons[0].contains("resembles customer C1 (100 %)"), "{r:?}");
    // Once the IBAN is learned for C1 it outweighs the name.
    m.learn_iban("FR7630006000011234567890189", "C1");
    c.counterparty_name = Some("BOULANGERIE DUPONT".into());
    let r = m.match_credit(&c);
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert!(r.candidates[0].reasons[0].contains("belongs to customer C1"), "{r:?}");
    // Learned for a second customer (C9, known only from the IBAN), the account is
    // a shared payer: no longer evidence for C1, and the name points elsewhere.
    m.learn_iban("FR7630006000011234567890189", "C9");
    let r = m.match_credit(&c);
    assert_ne!(r.status, MatchStatus::Matched, "{r:?}");
    assert!(r.candidates.iter().flat_map(|c| &c.reasons).any(|x| x.contains("shared payer")), "{r:?}");
}

#[test]
fn the_index_stays_under_200_bytes_per_invoice() {
    let invoices: Vec<OpenInvoice> = (0..100_000)
        .map(|i| {
            inv(&format!("FA-2026-{:07}", i + 1), &format!("C{:05}", i % 5_000), 1 + (i % 28) as u32, 1_000 + i as i64)
        })
        .collect();
    let payers: Vec<Payer> = (0..5_000)
        .map(|c| Payer {
            customer_id: format!("C{c:05}"),
            name: format!("Client {c} SARL"),
            ibans: vec![format!("FR{c:025}")],
        })
        .collect();
    let m = Matcher::new(invoices, &payers, MatchConfig::default());
    let per_invoice = m.heap_bytes() / 100_000;
    assert!((60..=200).contains(&per_invoice), "{per_invoice} bytes per invoice");
    let r = m.match_credit(&credit(1_000 + 4_242, "Facture FA-2026-0004243"));
    assert_eq!(invoices_of(&r)[0], vec!["FA-2026-0004243"]);
}
