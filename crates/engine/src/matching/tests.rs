use super::*;

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn inv(number: &str, customer: &str, open: i64) -> OpenInvoice {
    OpenInvoice {
        number: number.into(),
        customer_id: customer.into(),
        issue_date: Some(date("2026-10-01")),
        due_date: date("2026-10-31"),
        total: eur(open),
        open: eur(open),
    }
}

fn matcher() -> Matcher {
    let invoices = vec![
        inv("FA-2026-0012", "C1", 120_000),
        inv("FA-2026-0013", "C1", 30_050),
        inv("FA-2026-0014", "C1", 9_900),
        inv("FA-2026-0101", "C2", 50_000),
        inv("FA-2026-0102", "C3", 50_000),
        inv("INV-000777", "C4", 77_700),
        {
            let mut i = inv("FA-2026-0200", "C5", 100_000);
            i.issue_date = Some(date("2026-11-15"));
            i
        },
    ];
    let payers = vec![
        Payer {
            customer_id: "C1".into(),
            name: "Boulangerie Martin SARL".into(),
            ibans: vec!["FR7630006000011234567890189".into()],
        },
        Payer { customer_id: "C2".into(), name: "Transports Lefèvre".into(), ibans: vec![] },
        Payer { customer_id: "C3".into(), name: "Hôtel du Parc".into(), ibans: vec![] },
        Payer { customer_id: "C4".into(), name: "Acme Ltd".into(), ibans: vec!["GB82WEST12345698765432".into()] },
    ];
    Matcher::new(invoices, &payers, MatchConfig::default())
}

fn credit(amount: i64, text: Option<&str>) -> BankLine {
    BankLine { remittance: text.map(str::to_string), ..BankLine::credit(date("2026-11-20"), eur(amount)) }
}

fn allocs(r: &MatchResult) -> Vec<(String, i64)> {
    r.best().map(|b| b.allocations.iter().map(|a| (a.invoice.clone(), a.amount.minor)).collect()).unwrap_or_default()
}

#[test]
fn references_in_every_common_spelling() {
    let m = matcher();
    for text in [
        "Facture FA-2026-0012",
        "fa20260012",
        "FA 2026 0012 merci",
        "paiement facture 2026-0012",
        "FA-2026-12",
        "ref:FA/2026/0012.",
        "FACTUREFA20260012",
    ] {
        let r = m.match_credit(&credit(120_000, Some(text)));
        assert_eq!(r.status, MatchStatus::Matched, "{text}: {r:?}");
        assert_eq!(allocs(&r), vec![("FA-2026-0012".to_string(), 120_000)], "{text}");
        assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("reference FA-2026-0012")), "{text}");
    }
}

#[test]
fn several_references_in_one_payment() {
    let r = matcher().match_credit(&credit(150_050, Some("Factures FA-2026-0012 et FA-2026-0013")));
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(allocs(&r), vec![("FA-2026-0012".to_string(), 120_000), ("FA-2026-0013".to_string(), 30_050)]);
}

#[test]
fn one_typo_with_the_exact_amount() {
    let r = matcher().match_credit(&credit(120_000, Some("Facture FA-2026-0021")));
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(allocs(&r)[0].0, "FA-2026-0012");
    assert!(r.best().unwrap().reasons[0].contains("one typo"));
}

#[test]
fn structured_creditor_references() {
    // ISO 11649 RF reference whose payload is the invoice number.
    let payload = "INV000777";
    let digits: String = format!("{payload}RF00").chars().map(|c| c.to_digit(36).unwrap().to_string()).collect();
    let rem = digits.bytes().fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
    let rf = format!("RF{:02}{payload}", 98 - rem);
    let mut c = credit(77_700, None);
    c.structured_ref = Some(rf);
    let r = matcher().match_credit(&c);
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert!(r.best().unwrap().reasons[0].contains("structured reference"));
}

#[test]
fn payer_iban_and_unique_amount() {
    let mut c = credit(9_900, Some("virement"));
    c.counterparty_iban = Some("FR7630006000011234567890189".into());
    let r = matcher().match_credit(&c);
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(allocs(&r), vec![("FA-2026-0014".to_string(), 9_900)]);
}

#[test]
fn payer_iban_and_a_unique_combination() {
    let mut c = credit(39_950, None);
    c.counterparty_iban = Some("FR7630006000011234567890189".into());
    let r = matcher().match_credit(&c);
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(allocs(&r), vec![("FA-2026-0013".to_string(), 30_050), ("FA-2026-0014".to_string(), 9_900)]);
}

#[test]
fn two_invoices_of_the_same_amount_without_reference_are_never_applied() {
    let r = matcher().match_credit(&credit(50_000, Some("paiement")));
    assert_eq!(r.status, MatchStatus::Suggested, "{r:?}");
    assert_eq!(r.candidates.len(), 2);
    // A payer named exactly, by a name no other customer comes close to, who has one
    // invoice of this amount: that one (the other customer's invoice is not theirs).
    let mut c = credit(50_000, None);
    c.counterparty_name = Some("TRANSPORTS LEFEVRE".into());
    let r = matcher().match_credit(&c);
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(allocs(&r)[0].0, "FA-2026-0101");
    // A name that only resembles theirs points the reviewer to the right one, no more.
    c.counterparty_name = Some("TRANSPORTS LEFEVRE ET FILS".into());
    let r = matcher().match_credit(&c);
    assert_ne!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(allocs(&r)[0].0, "FA-2026-0101");
}

#[test]
fn partial_payment_fee_and_discount() {
    let m = matcher();
    let r = m.match_credit(&credit(60_000, Some("acompte FA-2026-0012")));
    assert_eq!(r.status, MatchStatus::Suggested, "partial with a reference but an unknown payer: review {r:?}");
    assert_eq!(allocs(&r), vec![("FA-2026-0012".to_string(), 60_000)]);
    let mut c = credit(60_000, Some("acompte FA-2026-0012"));
    c.counterparty_iban = Some("FR7630006000011234567890189".into());
    let r = m.match_credit(&c);
    assert_eq!(r.status, MatchStatus::Matched, "partial confirmed by the payer's IBAN: {r:?}");
    assert_eq!(allocs(&r), vec![("FA-2026-0012".to_string(), 60_000)]);
    assert_eq!(r.best().unwrap().allocations[0].write_off, None);

    let r = m.match_credit(&credit(119_250, Some("FA-2026-0012")));
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(r.best().unwrap().allocations[0].write_off, Some(eur(750)), "7.50 of bank fees");
    assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("bank-fee tolerance")));

    let r = m.match_credit(&credit(98_000, Some("FA-2026-0200")));
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(r.best().unwrap().allocations[0].write_off, Some(eur(2_000)));
    assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("early-payment discount")));
}

#[test]
fn a_small_overpayment_of_a_confirmed_reference_is_applied_and_the_rest_left() {
    // 10.00 over 1,200.00 (within min(50.00, 5 %)), referenced in full, from the customer's account.
    let mut c = credit(121_000, Some("Facture FA-2026-0012"));
    c.counterparty_iban = Some(C1_IBAN.into());
    let r = matcher().match_credit(&c);
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(allocs(&r), vec![("FA-2026-0012".to_string(), 120_000)], "the excess is left unapplied");
    assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("small overpayment")), "{r:?}");
    // Without the payer's confirmation it is a person's call.
    let r = matcher().match_credit(&credit(121_000, Some("Facture FA-2026-0012")));
    assert_eq!(r.status, MatchStatus::Suggested, "{r:?}");
    // Two references and a small excess: which invoice takes it is a person's call.
    let mut c = credit(150_100, Some("Factures FA-2026-0012 FA-2026-0013"));
    c.counterparty_iban = Some(C1_IBAN.into());
    assert_eq!(matcher().match_credit(&c).status, MatchStatus::Suggested);
    // Disabled by configuration.
    let config = MatchConfig { overpayment_tolerance_bp: 0, ..MatchConfig::default() };
    let m = Matcher::new(vec![inv("FA-2026-0012", "C1", 120_000)], &payers_c1(), config);
    let mut c = credit(121_000, Some("Facture FA-2026-0012"));
    c.counterparty_iban = Some(C1_IBAN.into());
    assert_eq!(m.match_credit(&c).status, MatchStatus::Suggested);
}

#[test]
fn a_partial_payment_named_by_a_short_key_is_applied_only_from_the_payer_s_own_account() {
    let m = Matcher::new(
        vec![inv("2026/0438", "C1", 120_000), inv("2026/0977", "C2", 50_000)],
        &[
            Payer { customer_id: "C1".into(), name: "Boulangerie Martin".into(), ibans: vec![C1_IBAN.into()] },
            Payer { customer_id: "C2".into(), name: "Transports Lefèvre".into(), ibans: vec![] },
        ],
        MatchConfig::default(),
    );
    let mut c = credit(60_000, Some("Paiement 0438 merci"));
    c.counterparty_iban = Some(C1_IBAN.into());
    let r = m.match_credit(&c);
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(allocs(&r), vec![("2026/0438".to_string(), 60_000)]);
    // The same text from an unknown account: a person's call.
    let r = m.match_credit(&credit(60_000, Some("Paiement 0438 merci")));
    assert_ne!(r.status, MatchStatus::Matched, "{r:?}");
}

fn payers_c1() -> Vec<Payer> {
    vec![Payer { customer_id: "C1".into(), name: "Boulangerie Martin SARL".into(), ibans: vec![C1_IBAN.into()] }]
}

#[test]
fn a_payer_named_only_in_the_remittance_is_found_there() {
    let m = matcher();
    // No counterparty name: the text names the customer (legal form written with dots).
    let r = m.match_credit(&credit(
        120_000,
        Some("TRANSFERENCIA DE BOULANGERIE MARTIN S.A.R.L., CONCEPTO Pago factura FA-2026-0012"),
    ));
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("the remittance names customer C1")), "{r:?}");
    // The name alone and the customer's only invoice of that amount.
    let r = m.match_credit(&credit(9_900, Some("TRANSFERENCIA DE BOULANGERIE MARTIN SARL, CONCEPTO ACH")));
    assert_eq!(allocs(&r), vec![("FA-2026-0014".to_string(), 9_900)], "{r:?}");
    // Two customers named in one text: nobody.
    let r = m.match_credit(&credit(9_900, Some("BOULANGERIE MARTIN pour TRANSPORTS LEFEVRE")));
    assert!(r.candidates.iter().all(|c| !c.reasons.iter().any(|x| x.contains("the remittance names"))), "{r:?}");
    // A counterparty name given by the bank is what counts.
    let mut c = credit(9_900, Some("BOULANGERIE MARTIN"));
    c.counterparty_name = Some("Hotel du Parc".into());
    let r = m.match_credit(&c);
    assert!(r.candidates.iter().all(|c| !c.reasons.iter().any(|x| x.contains("the remittance names"))), "{r:?}");
}

#[test]
fn overpayment_is_allocated_up_to_the_open_amount_and_never_applied() {
    let r = matcher().match_credit(&credit(130_000, Some("FA-2026-0012")));
    assert_eq!(allocs(&r), vec![("FA-2026-0012".to_string(), 120_000)]);
    assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("overpayment")));
    assert_eq!(r.status, MatchStatus::Suggested, "{r:?}");
    // Even twice the invoice, referenced exactly and from the customer's own account.
    let mut c = credit(240_000, Some("Facture FA-2026-0012"));
    c.counterparty_iban = Some(C1_IBAN.into());
    let r = matcher().match_credit(&c);
    assert_eq!(r.status, MatchStatus::Suggested, "{r:?}");
    assert!(r.decision.iter().any(|x| x.contains("overpayment")), "{r:?}");
    assert!(r.best().unwrap().confidence < 0.9);
}

const C1_IBAN: &str = "FR7630006000011234567890189";

/// C6 owes two invoices and has an open credit note (a negative open item).
fn with_credit_note() -> Matcher {
    let mut invoices = matcher().invoices();
    invoices.push(inv("FA-2026-0300", "C6", 100_000));
    invoices.push(inv("FA-2026-0301", "C6", 50_000));
    invoices.push(inv("AV-2026-0007", "C6", -20_000));
    let payers = vec![Payer { customer_id: "C6".into(), name: "Garage Roux".into(), ibans: vec![C6_IBAN.into()] }];
    Matcher::new(invoices, &payers, MatchConfig::default())
}

const C6_IBAN: &str = "FR1420041010050500013M02606";

fn allocation_sum(c: &Candidate) -> i64 {
    c.allocations.iter().map(|a| a.amount.minor).sum()
}

#[test]
fn a_net_payment_is_explained_by_the_open_credit_note() {
    let m = with_credit_note();
    // Both invoices referenced, the credit note deducted but not referenced:
    // not a partial payment of the two invoices.
    let r = m.match_credit(&credit(130_000, Some("Factures FA-2026-0300 FA-2026-0301")));
    let best = r.best().unwrap();
    assert_eq!(
        allocs(&r),
        vec![
            ("AV-2026-0007".to_string(), -20_000),
            ("FA-2026-0300".to_string(), 100_000),
            ("FA-2026-0301".to_string(), 50_000)
        ],
        "{r:#?}"
    );
    assert_eq!(allocation_sum(best), 130_000, "the allocations sum to the payment");
    assert!(best.reasons.iter().any(|x| x.contains("credit note AV-2026-0007")), "{best:?}");
    assert!(
        !r.candidates.iter().any(|c| c.reasons.iter().any(|x| x.contains("partial payment")) && c.confidence >= 0.9)
    );
    // The only open credit note of the customer that makes the amount exact, but not named:
    // ranked first, a person confirms it.
    assert_eq!(r.status, MatchStatus::Suggested, "{r:#?}");
    assert_eq!(r.best().unwrap().customer_id.as_deref(), Some("C6"));
    assert!(r.decision.iter().any(|d| d.contains("does not name")), "{r:#?}");
    assert!(!r.decision.iter().any(|d| d.starts_with("ambiguous")), "the partial is no rival: {r:#?}");

    // The credit note referenced as well: the references explain the amount.
    let r = m.match_credit(&credit(130_000, Some("FA-2026-0300 FA-2026-0301 avoir AV-2026-0007")));
    assert_eq!(allocs(&r)[0], ("AV-2026-0007".to_string(), -20_000), "{r:?}");
    assert_eq!(allocation_sum(r.best().unwrap()), 130_000);
    assert_eq!(r.status, MatchStatus::Matched, "{r:#?}");
    // One invoice referenced, its credit note too.
    let r = m.match_credit(&credit(80_000, Some("FA-2026-0300 moins avoir AV-2026-0007")));
    assert_eq!(
        allocs(&r),
        vec![("AV-2026-0007".to_string(), -20_000), ("FA-2026-0300".to_string(), 100_000)],
        "{r:#?}"
    );
    assert_eq!(r.status, MatchStatus::Matched, "{r:#?}");

    // No reference at all: the payer's account and the net amount.
    let mut c = credit(80_000, None);
    c.counterparty_iban = Some(C6_IBAN.into());
    let r = m.match_credit(&c);
    assert_eq!(
        allocs(&r),
        vec![("AV-2026-0007".to_string(), -20_000), ("FA-2026-0300".to_string(), 100_000)],
        "{r:#?}"
    );
    assert_ne!(r.status, MatchStatus::Matched);
}

#[test]
fn a_credit_note_chosen_among_several_that_fit_is_a_person_s_call() {
    let mut invoices = with_credit_note().invoices();
    invoices.push(inv("AV-2026-0008", "C6", -20_000));
    let payers = vec![Payer { customer_id: "C6".into(), name: "Garage Roux".into(), ibans: vec![C6_IBAN.into()] }];
    let m = Matcher::new(invoices, &payers, MatchConfig::default());
    let r = m.match_credit(&credit(130_000, Some("Factures FA-2026-0300 FA-2026-0301")));
    assert_eq!(r.status, MatchStatus::Suggested, "{r:#?}");
    let best = r.best().unwrap();
    assert_eq!(allocation_sum(best), 130_000);
    assert_eq!(r.candidates[1].allocations.len(), 3, "the rival is the other credit note: {r:#?}");
    let chosen = if allocs(&r).iter().any(|a| a.0 == "AV-2026-0007") { "AV-2026-0008" } else { "AV-2026-0007" };
    assert!(
        r.decision.iter().any(|d| d.starts_with("ambiguous") && d.contains(chosen)),
        "the rival credit note is named: {r:#?}"
    );
    // Referenced, the credit note is no longer a choice.
    let r = m.match_credit(&credit(130_000, Some("Factures FA-2026-0300 FA-2026-0301 avoir AV-2026-0008")));
    assert_eq!(r.status, MatchStatus::Matched, "{r:#?}");
    assert!(allocs(&r).contains(&("AV-2026-0008".to_string(), -20_000)), "{r:#?}");
}

#[test]
fn an_unreferenced_credit_note_is_not_applied_against_contrary_evidence() {
    // Another open invoice of the customer has exactly the amount: paid that one?
    let mut invoices = with_credit_note().invoices();
    invoices.push(inv("FA-2026-0302", "C6", 130_000));
    let payers = vec![Payer { customer_id: "C6".into(), name: "Garage Roux".into(), ibans: vec![C6_IBAN.into()] }];
    let m = Matcher::new(invoices, &payers, MatchConfig::default());
    let r = m.match_credit(&credit(130_000, Some("Factures FA-2026-0300 FA-2026-0301")));
    assert_eq!(r.status, MatchStatus::Suggested, "{r:#?}");
    assert!(
        r.candidates.iter().any(|c| c.reasons.iter().any(|x| x.contains("FA-2026-0302") && x.contains("exactly"))),
        "{r:#?}"
    );
    // The payer's account is another customer's.
    let payers = vec![
        Payer { customer_id: "C6".into(), name: "Garage Roux".into(), ibans: vec![C6_IBAN.into()] },
        Payer { customer_id: "C1".into(), name: "Boulangerie Martin SARL".into(), ibans: vec![C1_IBAN.into()] },
    ];
    let m = Matcher::new(with_credit_note().invoices(), &payers, MatchConfig::default());
    let mut c = credit(130_000, Some("Factures FA-2026-0300 FA-2026-0301"));
    c.counterparty_iban = Some(C1_IBAN.into());
    let r = m.match_credit(&c);
    assert_eq!(r.status, MatchStatus::Suggested, "{r:#?}");
    // A credit note of another customer never completes the references.
    let mut invoices = matcher().invoices();
    invoices.push(inv("FA-2026-0300", "C6", 100_000));
    invoices.push(inv("AV-2026-0009", "C7", -20_000));
    let m = Matcher::new(invoices, &[], MatchConfig::default());
    let r = m.match_credit(&credit(80_000, Some("Facture FA-2026-0300")));
    assert!(!r.candidates.iter().any(|c| c.allocations.iter().any(|a| a.invoice == "AV-2026-0009")), "{r:#?}");
    assert_ne!(r.status, MatchStatus::Matched);
}

#[test]
fn a_consumed_credit_note_stays_between_its_amount_and_zero() {
    let mut m = with_credit_note();
    m.consume("AV-2026-0007", eur(-20_000), None);
    let cn = m.invoices().into_iter().find(|i| i.number == "AV-2026-0007").unwrap();
    assert_eq!(cn.open.minor, 0);
    m.consume("AV-2026-0007", eur(-5_000), None);
    let cn = m.invoices().into_iter().find(|i| i.number == "AV-2026-0007").unwrap();
    assert_eq!(cn.open.minor, 0, "never beyond zero");
    // Used up, it explains nothing any more: the two references are a partial payment again.
    let r = m.match_credit(&credit(130_000, Some("Factures FA-2026-0300 FA-2026-0301")));
    assert!(!r.candidates.iter().any(|c| c.allocations.iter().any(|a| a.invoice == "AV-2026-0007")), "{r:?}");
    assert_ne!(r.status, MatchStatus::Matched, "a partial of several invoices is a person's call");
}

#[test]
fn a_partial_reference_is_not_applied_when_the_amount_is_another_invoice_of_the_payer() {
    // 300.50 with "FA-2026-0012" (1,200.00): partial of 0012, or FA-2026-0013 (300.50)
    // with the wrong number typed? The amount says 0013 exactly.
    let mut c = credit(30_050, Some("acompte FA-2026-0012"));
    c.counterparty_iban = Some(C1_IBAN.into());
    let r = matcher().match_credit(&c);
    assert_eq!(r.status, MatchStatus::Suggested, "{r:#?}");
    assert!(r.candidates.iter().any(|c| c.allocations.len() == 1 && c.allocations[0].invoice == "FA-2026-0013"));
    assert!(r.candidates.iter().any(|c| c.allocations[0].invoice == "FA-2026-0012"));
    // Without the payer's account, the reference's customer is still the one whose invoices compete.
    let r = matcher().match_credit(&credit(30_050, Some("acompte FA-2026-0012")));
    assert_eq!(r.status, MatchStatus::Suggested, "{r:#?}");
    assert!(r.candidates.iter().any(|c| c.allocations[0].invoice == "FA-2026-0013"), "{r:#?}");
}

#[test]
fn one_invoice_of_the_amount_is_not_applied_when_others_of_the_payer_sum_to_it() {
    let invoices = vec![inv("F-1", "C7", 10_000), inv("F-2", "C7", 6_000), inv("F-3", "C7", 4_000)];
    let payers = [Payer { customer_id: "C7".into(), name: "Cave Morel".into(), ibans: vec![C1_IBAN.into()] }];
    let m = Matcher::new(invoices, &payers, MatchConfig::default());
    let mut c = credit(10_000, Some("virement"));
    c.counterparty_iban = Some(C1_IBAN.into());
    let r = m.match_credit(&c);
    assert_eq!(r.status, MatchStatus::Suggested, "{r:#?}");
    let sets: Vec<Vec<String>> =
        r.candidates.iter().map(|c| c.allocations.iter().map(|a| a.invoice.clone()).collect()).collect();
    assert!(sets.contains(&vec!["F-1".to_string()]) && sets.contains(&vec!["F-2".to_string(), "F-3".to_string()]));
    assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("ambiguous")), "{r:?}");
}

#[test]
fn a_shared_payer_is_neither_evidence_against_nor_for_a_customer() {
    let factor = "DE89370400440532013000";
    let mut m = matcher();
    // A factoring company paid once for C1: its account was learned for C1.
    m.learn_iban(factor, "C1");
    let mut c = credit(50_000, Some("Facture FA-2026-0101"));
    c.counterparty_iban = Some(factor.into());
    let r = m.match_credit(&c);
    assert_eq!(r.status, MatchStatus::Suggested, "an account of C1 paying C2's invoice is a conflict: {r:?}");
    assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("another customer")), "{r:?}");
    // Once it paid for a second customer it is a shared payer: the reference decides.
    m.learn_iban(factor, "C2");
    let mut c = credit(77_700, Some("INV-000777"));
    c.counterparty_iban = Some(factor.into());
    let r = m.match_credit(&c);
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(allocs(&r), vec![("INV-000777".to_string(), 77_700)]);
    // And with no reference, its account alone points at nobody.
    let mut c = credit(9_900, None);
    c.counterparty_iban = Some(factor.into());
    let r = m.match_credit(&c);
    assert_ne!(r.status, MatchStatus::Matched, "{r:?}");
    assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("shared payer")), "{r:?}");
}

#[test]
fn a_reference_to_a_closed_invoice_raises_the_question() {
    let closed =
        [ClosedInvoice { number: "FA-2026-0050".into(), customer_id: "C1".into(), status: InvoiceStatus::Paid }];
    let m = matcher().with_closed(closed);
    // The payer's account and the amount point at FA-2026-0012, but the text names a paid invoice.
    let mut c = credit(120_000, Some("Facture FA-2026-0050"));
    c.counterparty_iban = Some(C1_IBAN.into());
    let r = m.match_credit(&c);
    assert_eq!(r.status, MatchStatus::Suggested, "{r:#?}");
    assert!(r.decision.iter().any(|x| x.contains("FA-2026-0050") && x.contains("already paid")), "{r:?}");
    assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("paid twice")));
    assert_eq!(allocs(&r)[0].0, "FA-2026-0012", "the reviewer still sees the likely invoice");
    // The same payment without that reference is applied.
    c.remittance = Some("virement".into());
    assert_eq!(m.match_credit(&c).status, MatchStatus::Matched);

    // An invoice paid in this very run (consumed) is closed too.
    let mut m = matcher();
    m.consume("FA-2026-0013", eur(30_050), None);
    let mut c = credit(30_050, Some("FA-2026-0013"));
    c.counterparty_iban = Some(C1_IBAN.into());
    let r = m.match_credit(&c);
    assert_ne!(r.status, MatchStatus::Matched, "{r:?}");
    assert!(r.decision.iter().any(|x| x.contains("already paid in full")), "{r:?}");
}

#[test]
fn a_credit_in_another_currency_is_never_applied() {
    let mut invoices = matcher().invoices();
    invoices.push(OpenInvoice {
        total: Money::new(50_000, Currency::parse("GBP").unwrap()),
        open: Money::new(50_000, Currency::parse("GBP").unwrap()),
        ..inv("UK-2026-0042", "C4", 0)
    });
    let payers =
        [Payer { customer_id: "C4".into(), name: "Acme Ltd".into(), ibans: vec!["GB82WEST12345698765432".into()] }];
    let m = Matcher::new(invoices, &payers, MatchConfig::default());
    let mut c = credit(50_000, Some("Invoice UK-2026-0042"));
    c.counterparty_iban = Some("GB82WEST12345698765432".into());
    let r = m.match_credit(&c);
    assert_ne!(r.status, MatchStatus::Matched, "{r:#?}");
    assert!(r.decision.iter().any(|x| x.contains("in GBP, the credit is in EUR")), "{r:?}");
    assert!(r.candidates.iter().any(|c| c.allocations[0].invoice == "UK-2026-0042"), "the reviewer sees it");
}

#[test]
fn a_typo_that_names_another_real_invoice_does_not_win_over_the_amount() {
    // The payer C1 pays exactly FA-2026-0012 but types FA-2026-0021 (a transposition),
    // which happens to be a real invoice of another customer with another amount.
    let mut m = matcher();
    m = Matcher::new(
        m.invoices().iter().cloned().chain([inv("FA-2026-0021", "C3", 99_000)]).collect(),
        &[Payer { customer_id: "C1".into(), name: "Boulangerie Martin".into(), ibans: vec![] }],
        MatchConfig::default(),
    );
    let mut c = credit(120_000, Some("Facture FA-2026-0021"));
    c.counterparty_name = Some("BOULANGERIE MARTIN".into());
    let r = m.match_credit(&c);
    assert_eq!(allocs(&r)[0].0, "FA-2026-0012", "amount and payer beat the literal reference: {r:?}");
    assert_eq!(r.status, MatchStatus::Matched);
    assert!(
        r.candidates.iter().any(|c| c.allocations[0].invoice == "FA-2026-0021" && c.confidence < 0.85),
        "the literal one ranks below"
    );
}

#[test]
fn nothing_known_is_unmatched() {
    let r = matcher().match_credit(&credit(12_345, Some("loyer novembre")));
    assert_eq!(r.status, MatchStatus::Unmatched);
    assert!(r.candidates.is_empty());
}

#[test]
fn consuming_an_invoice_changes_later_decisions() {
    let mut m = matcher();
    let c = credit(120_000, Some("FA-2026-0012"));
    assert_eq!(m.match_credit(&c).status, MatchStatus::Matched);
    m.consume("FA-2026-0012", eur(120_000), None);
    let r = m.match_credit(&c);
    assert_ne!(r.status, MatchStatus::Matched, "the invoice is already paid: {r:?}");
}

#[test]
fn huge_open_amounts_are_summed_without_wrapping() {
    // Two invoices at i64::MAX: their sum wrapped (or panicked in debug builds) when a
    // remittance named both. It is a partial payment of an exact (i128) total.
    let invoices = vec![inv("FA-9001", "C1", i64::MAX), inv("FA-9002", "C1", i64::MAX)];
    let m = Matcher::new(invoices, &[], MatchConfig::default());
    let r = m.match_credit(&credit(100_000, Some("Factures FA-9001 et FA-9002")));
    let fit = |c: &Candidate| c.reasons.iter().any(|x| x.contains("open amounts of 2 invoices: partial payment"));
    assert!(r.candidates.iter().any(fit), "{r:#?}");
    // Consuming more than is open clamps at zero.
    let mut m = m;
    m.consume("FA-9001", eur(i64::MAX), Some(eur(i64::MAX)));
    assert_eq!(m.invoices()[0].open.minor, 0);
}

/// A result is stored as JSON and read back typed: the same decision,
/// candidates, allocations (exact money) and reasons.
#[test]
fn a_match_result_reads_back_from_its_json() {
    let m = matcher();
    let results = [
        m.match_credit(&credit(150_050, Some("Factures FA-2026-0012 et FA-2026-0013"))),
        m.match_credit(&credit(119_000, Some("FA-2026-0012"))),
        m.match_credit(&credit(50_000, Some("paiement"))),
        m.match_credit(&credit(1, Some("rien"))),
    ];
    assert!(results.iter().flat_map(|r| &r.candidates).flat_map(|c| &c.allocations).any(|a| a.write_off.is_some()));
    for r in results {
        let json = serde_json::to_string(&r).unwrap();
        let back: MatchResult = serde_json::from_str(&json).unwrap();
        assert_eq!((back.status, &back.decision), (r.status, &r.decision), "{json}");
        assert_eq!(back.candidates.len(), r.candidates.len());
        for (b, c) in back.candidates.iter().zip(&r.candidates) {
            assert_eq!((&b.customer_id, &b.allocations, &b.reasons), (&c.customer_id, &c.allocations, &c.reasons));
            assert!((b.confidence - c.confidence).abs() < 1e-12, "{json}");
        }
    }
    let bad = r#"{"status":"matched","candidates":[{"customer_id":null,"allocations":[{"invoice":"F-1","amount":{"amount":120.5,"currency":"EUR"},"write_off":null}],"confidence":1.0,"reasons":[]}],"decision":[]}"#;
    assert!(serde_json::from_str::<MatchResult>(bad).is_err(), "an amount as a float is refused");
    assert_eq!(MatchStatus::Suggested.payment_status(), relance_domain::PaymentStatus::Suggested);
}

#[test]
fn a_short_tail_does_not_collide_with_a_number_of_another_scheme() {
    let invoices = vec![inv("2026/01842", "C1", 10_000), inv("INV-001842", "C2", 10_000)];
    let m = Matcher::new(invoices, &[], MatchConfig::default());
    let r = m.match_credit(&credit(10_000, Some("Facture 2026/01842")));
    assert_eq!(r.status, MatchStatus::Matched, "{r:#?}");
    assert_eq!(allocs(&r), vec![("2026/01842".to_string(), 10_000)]);
    assert!(!r.candidates.iter().any(|c| c.allocations[0].invoice == "INV-001842"), "{r:#?}");
    // Typed alone, the tail is weak evidence, and says so.
    let r = m.match_credit(&credit(4_000, Some("acompte 1842")));
    assert_ne!(r.status, MatchStatus::Matched, "{r:#?}");
    assert!(r.candidates.iter().flat_map(|c| &c.reasons).any(|x| x.contains("short key")), "{r:#?}");
}

#[test]
fn a_belgian_communication_typed_without_plus_signs() {
    let m = Matcher::new(vec![inv("2026004034", "C1", 10_000)], &[], MatchConfig::default());
    let r = m.match_credit(&credit(10_000, Some("communication 202600403451")));
    assert_eq!(r.status, MatchStatus::Matched, "{r:#?}");
    assert!(r.best().unwrap().reasons[0].contains("structured reference"), "{r:?}");
}

/// A payment without reference is applied on the payer's name only when the
/// name is the customer's exactly, no other customer's name comes close, one
/// open item (or one combination) of that customer has the amount and the
/// text names no other invoice; any doubt on either side leaves it for review.
#[test]
fn a_payer_named_exactly_paying_their_only_invoice_of_that_amount_is_applied() {
    let payers = |second: &str| {
        vec![
            Payer { customer_id: "C1".into(), name: "Menuiserie Dubreuil SARL".into(), ibans: vec![] },
            Payer { customer_id: "C2".into(), name: second.into(), ibans: vec![] },
        ]
    };
    let invoices = vec![inv("F-1", "C1", 82_300), inv("F-2", "C1", 10_000), inv("F-3", "C2", 50_000)];
    let named = |name: &str| BankLine {
        counterparty_name: Some(name.into()),
        remittance: Some("VIREMENT".into()),
        ..BankLine::credit(date("2026-11-20"), eur(82_300))
    };
    let m = Matcher::new(invoices.clone(), &payers("Garage Lenoir"), MatchConfig::default());
    let r = m.match_credit(&named("MENUISERIE DUBREUIL SARL"));
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(allocs(&r), vec![("F-1".to_string(), 82_300)]);

    // A name that only resembles the customer's: review.
    let r = m.match_credit(&named("MENUISERIE DUBREUIL ET FILS"));
    assert_ne!(r.status, MatchStatus::Matched, "{r:?}");

    // Another customer with a close name: review.
    let m2 = Matcher::new(invoices.clone(), &payers("Menuiserie Dubreuil SAS"), MatchConfig::default());
    let r = m2.match_credit(&named("MENUISERIE DUBREUIL SARL"));
    assert_ne!(r.status, MatchStatus::Matched, "{r:?}");

    // Another customer's invoice of the same amount does not compete: the name says whose it is.
    let mut more = invoices.clone();
    more.push(inv("F-9", "C2", 82_300));
    let m3 = Matcher::new(more, &payers("Garage Lenoir"), MatchConfig::default());
    let r = m3.match_credit(&named("MENUISERIE DUBREUIL SARL"));
    assert_eq!(r.status, MatchStatus::Matched, "{r:?}");
    assert_eq!(allocs(&r), vec![("F-1".to_string(), 82_300)]);

    // Two invoices of this customer with the amount: review.
    let mut twice = invoices.clone();
    twice.push(inv("F-4", "C1", 82_300));
    let m4 = Matcher::new(twice, &payers("Garage Lenoir"), MatchConfig::default());
    let r = m4.match_credit(&named("MENUISERIE DUBREUIL SARL"));
    assert_ne!(r.status, MatchStatus::Matched, "{r:?}");

    // A text that names another invoice exactly, even a paid one: review.
    let mut other = invoices.clone();
    other.push(inv("FA-2026-0031", "C2", 12_000));
    let m5 = Matcher::new(other.clone(), &payers("Garage Lenoir"), MatchConfig::default());
    other.pop();
    let m6 = Matcher::new(other, &payers("Garage Lenoir"), MatchConfig::default());
    let mut c = named("MENUISERIE DUBREUIL SARL");
    c.remittance = Some("FACTURE FA-2026-0031".into());
    for m in [
        &m5,
        &m6.with_closed([ClosedInvoice {
            number: "FA-2026-0031".into(),
            customer_id: "C2".into(),
            status: InvoiceStatus::Paid,
        }]),
    ] {
        let r = m.match_credit(&c);
        assert_ne!(r.status, MatchStatus::Matched, "{r:?}");
        assert!(
            r.candidates.iter().any(|c| c.reasons.iter().any(|r| r.contains("names invoice FA-2026-0031"))),
            "{r:?}"
        );
    }
}

#[test]
fn the_payers_invoices_are_read_in_the_tenants_numbering() {
    let iban = "FR7630006000011234567890189";
    let payer = |id: &str| Payer { customer_id: id.into(), name: format!("Client {id}"), ibans: vec![iban.into()] };
    let m = Matcher::new(
        vec![inv("F25-0868", "C1", 30_000), inv("F26-0869", "C1", 30_000), inv("2026/0452", "C2", 6_852)],
        &[payer("C1")],
        MatchConfig::default(),
    );
    let from_payer =
        |amount: i64, text: &str| BankLine { counterparty_iban: Some(iban.into()), ..credit(amount, Some(text)) };
    // The counter alone, one invoice of the payer has it: the reference is read (weakly) and
    // tells the two invoices of the same amount apart.
    let r = m.match_credit(&from_payer(30_000, "SOLDE FACTURE 0869"));
    assert_eq!(allocs(&r), vec![("F26-0869".to_string(), 30_000)], "{r:?}");
    assert!(r.best().is_some_and(|b| b.reasons.iter().any(|x| x.contains("F26-0869"))), "{r:?}");
    // Two invoices of the payer share the counter: nothing is read from the text.
    let m2 = Matcher::new(
        vec![inv("F25-0869", "C1", 50_000), inv("F26-0869", "C1", 50_000)],
        &[payer("C1")],
        MatchConfig::default(),
    );
    let r = m2.match_credit(&from_payer(50_000, "SOLDE FACTURE 0869"));
    assert!(!r.best().is_some_and(|b| b.reasons.iter().any(|x| x.contains("reference"))), "{r:?}");
    assert_ne!(r.status, MatchStatus::Matched, "{r:?}");
}

/// Several invoices paid at once, some written in full and some in a spelling
/// only the customer's numbering explains (the counter alone, the year
/// shortened): when together they account for the whole amount, they are
/// applied; when two completions do, or none does, a person decides.
#[test]
fn references_written_in_full_are_completed_by_the_customers_other_spellings() {
    let payers = [Payer { customer_id: "C1".into(), name: "Handel Lopez SA".into(), ibans: vec![] }];
    let invoices = vec![
        inv("F26-0509", "C1", 12_200),
        inv("F26-0512", "C1", 12_200),
        inv("F26-0600", "C1", 5_000),
        inv("FAC202603-0696", "C1", 36_233),
        inv("FAC202603-0695", "C1", 210_600),
        inv("F26-0509-X", "C2", 99_999),
    ];
    let m = Matcher::new(invoices.clone(), &payers, MatchConfig::default());
    let line = |amount: i64, text: &str| BankLine {
        counterparty_name: Some("SA HANDEL LOPEZ".into()),
        ..credit(amount, Some(text))
    };
    // `26-0512` is read without prefix; `0509` is the counter of one of the customer's invoices.
    let r = m.match_credit(&line(24_400, "PAIEMENT 0509, 26-0512 MERCI"));
    assert_eq!(r.status, MatchStatus::Matched, "{r:#?}");
    let mut got = allocs(&r);
    got.sort();
    assert_eq!(got, vec![("F26-0509".to_string(), 12_200), ("F26-0512".to_string(), 12_200)]);
    assert!(r.best().unwrap().reasons.iter().any(|r| r.contains("account for it")), "{r:?}");

    // The year shortened next to a number written in full.
    let r = m.match_credit(&line(246_833, "VIR FAC202603-0695 FAC2603-0696"));
    assert_eq!(r.status, MatchStatus::Matched, "{r:#?}");
    assert_eq!(allocs(&r).len(), 2);

    // The extra spelling does not close the amount: overpayment, for review.
    let r = m.match_credit(&line(30_000, "PAIEMENT 0509, 26-0512 MERCI"));
    assert_ne!(r.status, MatchStatus::Matched, "{r:#?}");

    // Two counters that could each complete it (same amounts): a person decides.
    let mut twins = invoices.clone();
    twins.push(inv("F26-0777", "C1", 12_200));
    let m2 = Matcher::new(twins, &payers, MatchConfig::default());
    let r = m2.match_credit(&line(24_400, "PAIEMENT 0509 0777, 26-0512"));
    assert_ne!(r.status, MatchStatus::Matched, "{r:#?}");
}

/// Counters written alone with no invoice word before them (`PMT 26ZK03902 ET
/// 3899 ET 3897`) complete a reference written in full when the customer's
/// invoices with those counters account for the rest exactly; not otherwise.
#[test]
fn bare_counters_complete_a_reference_written_in_full() {
    let payers = [Payer { customer_id: "C1".into(), name: "Maes Logistik SA".into(), ibans: vec![] }];
    let invoices = vec![
        inv("26ZK03902", "C1", 100_000),
        inv("26ZK03899", "C1", 20_000),
        inv("26ZK03897", "C1", 30_000),
        inv("26ZK03890", "C1", 50_000),
        inv("26ZK03899-B", "C2", 20_000),
    ];
    let m = Matcher::new(invoices, &payers, MatchConfig::default());
    let line = |amount: i64, text: &str| BankLine {
        counterparty_name: Some("MAES LOGISTIK SA".into()),
        ..credit(amount, Some(text))
    };
    let r = m.match_credit(&line(150_000, "PMT 26ZK03902 - 3899 - 3897"));
    assert_eq!(r.status, MatchStatus::Matched, "{r:#?}");
    let mut got: Vec<String> = allocs(&r).into_iter().map(|a| a.0).collect();
    got.sort();
    assert_eq!(got, ["26ZK03897", "26ZK03899", "26ZK03902"]);
    // The counters leave part of the amount unexplained: for review.
    let r = m.match_credit(&line(170_000, "PMT 26ZK03902 - 3899 - 3897"));
    assert_ne!(r.status, MatchStatus::Matched, "{r:#?}");
    // A bare number alone, with nothing written in full, is no reference.
    let r = m.match_credit(&line(20_000, "PMT 3899"));
    assert!(!r.best().is_some_and(|b| b.reasons.iter().any(|x| x.contains("26ZK03899"))), "{r:#?}");
}

/// A factor pays for several customers: the invoices it names in full, plus
/// one whose counter alone is written and whose open amount is exactly what
/// they leave, whoever its customer.
#[test]
fn a_factor_naming_a_counter_alone_completes_the_amount_across_customers() {
    let invoices = vec![
        inv("FA-2026-02048", "C1", 500_000),
        inv("FA-2026-02092", "C2", 753_319),
        inv("FA-2026-02153", "C3", 193_700),
        inv("FA-2025-02153", "C4", 10_000),
        inv("FA-2026-03000", "C5", 193_700),
    ];
    let m = Matcher::new(invoices.clone(), &[], MatchConfig::default());
    let line = |amount: i64, text: &str| BankLine {
        counterparty_name: Some("NATIXIS FACTOR".into()),
        ..credit(amount, Some(text))
    };
    let r = m.match_credit(&line(1_447_019, "REF CESSION 02153, FA202602048, FA-2026-02092"));
    assert_eq!(r.status, MatchStatus::Matched, "{r:#?}");
    let mut got: Vec<String> = allocs(&r).into_iter().map(|a| a.0).collect();
    got.sort();
    assert_eq!(got, ["FA-2026-02048", "FA-2026-02092", "FA-2026-02153"]);

    // The amount picks which of two invoices with that counter (another year, another customer).
    let r = m.match_credit(&line(1_263_319, "REF CESSION 02153, FA202602048, FA-2026-02092"));
    assert_eq!(r.status, MatchStatus::Matched, "{r:#?}");
    assert!(allocs(&r).iter().any(|a| a.0 == "FA-2025-02153"), "{r:#?}");

    // No invoice with that counter closes the sum: review.
    let r = m.match_credit(&line(1_300_000, "REF CESSION 02153, FA202602048, FA-2026-02092"));
    assert_ne!(r.status, MatchStatus::Matched, "{r:#?}");

    // Two invoices with that counter and that amount: review.
    let mut twins = invoices.clone();
    twins.push(inv("FB-2026-02153", "C6", 193_700));
    let m2 = Matcher::new(twins, &[], MatchConfig::default());
    let r = m2.match_credit(&line(1_447_019, "REF CESSION 02153, FA202602048, FA-2026-02092"));
    assert_ne!(r.status, MatchStatus::Matched, "{r:#?}");
}

#[test]
fn a_customer_number_that_is_also_an_invoice_counter_is_a_rival_reference() {
    let invoices = vec![inv("FF26040226", "K1", 50_000), inv("FF26040231", "K1", 70_000)];
    let payers = vec![Payer { customer_id: "K1".into(), name: "Alpen Technik AG".into(), ibans: vec![] }];
    let m = Matcher::new(invoices, &payers, MatchConfig::default());
    let mut c = credit(70_000, Some("Kundennr KN00226 Rechnung FF26040231"));
    c.counterparty_name = Some("ALPEN TECHNIK AG".into());
    let r = m.match_credit(&c);
    assert_ne!(r.status, MatchStatus::Matched, "{r:?}");
    assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("also the counter of invoice FF26040226")), "{r:?}");
    // A customer number that is no invoice's counter changes nothing.
    let mut c = credit(70_000, Some("Kundennr KN00999 Rechnung FF26040231"));
    c.counterparty_name = Some("ALPEN TECHNIK AG".into());
    assert_eq!(m.match_credit(&c).status, MatchStatus::Matched);
}

#[test]
fn a_partial_payment_needs_its_reference_written_with_its_digits() {
    let invoices = vec![inv("FF26020255", "K1", 100_000), inv("FF26020260", "K1", 40_000)];
    let payers = vec![Payer {
        customer_id: "K1".into(),
        name: "Alpen Technik AG".into(),
        ibans: vec!["CH9300762011623852957".into()],
    }];
    let m = Matcher::new(invoices, &payers, MatchConfig::default());
    let partial = |text: &str| {
        let mut c = credit(60_000, Some(text));
        c.counterparty_iban = Some("CH9300762011623852957".into());
        m.match_credit(&c)
    };
    // Written in full (or without its prefix): the payer confirms it, applied as a partial payment.
    assert_eq!(partial("Rechnung FF26020255").status, MatchStatus::Matched);
    assert_eq!(allocs(&partial("26020255")), vec![("FF26020255".to_string(), 60_000)]);
    // Zeros put back inside a glued run to read it: a person decides.
    let r = partial("FF2602255 Teilzahlung");
    assert_ne!(r.status, MatchStatus::Matched, "{r:?}");
}

/// A remittance cut at the bank's field width (32 characters: a US bank's OFX
/// memo) that kept one reference of two: the rest is the customer's only other
/// open invoice that accounts for it, and nothing else of the customer sums to
/// the amount. Not when the text is not cut, nor when two sets would do.
#[test]
fn a_remittance_cut_at_the_bank_width_is_completed_by_the_only_set_left() {
    let payers = [Payer { customer_id: "C1".into(), name: "Logistik Rhein Corp".into(), ibans: vec![] }];
    let invoices = vec![
        inv("FV/2026/01/0317", "C1", 42_800),
        inv("FV/2026/02/0320", "C1", 22_764),
        inv("FV/2026/02/0321", "C1", 90_000),
        inv("FV/2026/02/0330", "C2", 22_764),
    ];
    let m = Matcher::new(invoices.clone(), &payers, MatchConfig::default());
    let line = |amount: i64, text: &str| BankLine {
        counterparty_name: Some("LOGISTIK RHEIN CORP".into()),
        ..credit(amount, Some(text))
    };
    let cut = "Splata faktury FV/2026/01/0317 i";
    assert_eq!(cut.chars().count(), 32);
    let r = m.match_credit(&line(65_564, cut));
    assert_eq!(r.status, MatchStatus::Matched, "{r:#?}");
    let mut got: Vec<String> = allocs(&r).into_iter().map(|a| a.0).collect();
    got.sort();
    assert_eq!(got, ["FV/2026/01/0317", "FV/2026/02/0320"]);
    // Not cut at a bank width: the rest is left for a person.
    let r = m.match_credit(&line(65_564, "Splata faktury FV/2026/01/0317"));
    assert_ne!(r.status, MatchStatus::Matched, "{r:#?}");
    // Two sets of the customer's other invoices account for the rest: for review.
    let mut more = invoices;
    more.push(inv("FV/2026/02/0322", "C1", 22_764));
    let m = Matcher::new(more, &payers, MatchConfig::default());
    let r = m.match_credit(&line(65_564, cut));
    assert_ne!(r.status, MatchStatus::Matched, "{r:#?}");
}

#[test]
fn the_year_written_apart_after_the_number() {
    // `FR 072009 '26` is FR-2026-072009 with the year written apart after the
    // counter; without reading it, the credit matches nothing by reference.
    let m = Matcher::new(
        vec![inv("FR-2026-072009", "C1", 36_000), inv("FR-2026-072016", "C2", 51_000)],
        &[],
        MatchConfig::default(),
    );
    let r = m.match_credit(&credit(36_000, Some("Uhrada faktury FR 072009 '26")));
    assert_eq!(allocs(&r), vec![("FR-2026-072009".to_string(), 36_000)], "{r:?}");
    assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("reference FR-2026-072009")), "{r:?}");
}

#[test]
fn a_nordic_ocr_reference_holding_the_invoice_number() {
    // `202604180127`: the digits of INV-2026-0418-01, the length digit 2 and the Luhn digit 7.
    let m = Matcher::new(
        vec![inv("INV-2026-0418-01", "C1", 72_100), inv("INV-2026-0417-01", "C2", 51_000)],
        &[],
        MatchConfig::default(),
    );
    let mut c = credit(72_100, None);
    c.structured_ref = Some("202604180127".into());
    let r = m.match_credit(&c);
    assert_eq!(allocs(&r), vec![("INV-2026-0418-01".to_string(), 72_100)], "{r:?}");
    assert!(r.best().unwrap().reasons.iter().any(|x| x.contains("reference INV-2026-0418-01")), "{r:?}");
    // One check digit wrong: no reference is read (the amount alone remains).
    c.structured_ref = Some("202604180128".into());
    let r = m.match_credit(&c);
    assert!(r.candidates.iter().all(|k| k.reasons.iter().all(|x| !x.contains("reference INV"))), "{r:?}");
}

#[test]
fn a_century_glued_to_the_counter_is_read_without_it() {
    // `VF26000345` written with its century (`VF2026000345`): one run of
    // digits, no year group to drop it from.
    let invoices = vec![
        inv("VF26000345", "C2", 10_000),
        inv("VF26000346", "C2", 20_000),
        inv("VF26000347", "C2", 40_000),
        inv("SI/2026/00871", "C1", 10_000),
        inv("SI/2026/00872", "C1", 20_000),
    ];
    let m = Matcher::new(invoices, &[], MatchConfig::default());
    for (text, want) in [
        ("VF2026000345 & VF2026000346", ["VF26000345", "VF26000346"]),
        ("RECHNUNG 202600871 UND 202600872", ["SI/2026/00871", "SI/2026/00872"]),
    ] {
        let r = m.match_credit(&credit(30_000, Some(text)));
        assert_eq!(r.status, MatchStatus::Matched, "{text}: {r:#?}");
        let got: Vec<String> = allocs(&r).into_iter().map(|(n, _)| n).collect();
        assert_eq!(got, want, "{text}");
    }
    // A run that only looks like one names nothing.
    let r = m.match_credit(&credit(30_000, Some("Auftrag 2099000345")));
    assert_ne!(r.status, MatchStatus::Matched, "{r:#?}");
}

#[test]
fn a_year_glued_to_its_counter_is_found_shortened() {
    // `R202600451`: letters, then the year and the counter in one run of
    // digits; people write the year with two digits (`R2600451`, `R26-00451`).
    let invoices = vec![inv("R202600451", "C1", 10_000), inv("R202600452", "C1", 10_000), inv("X1", "C2", 10_000)];
    let m = Matcher::new(invoices, &[], MatchConfig::default());
    for text in ["R2600451", "R26-00451", "Rechnung r26 00451"] {
        let r = m.match_credit(&credit(10_000, Some(text)));
        assert_eq!(r.status, MatchStatus::Matched, "{text}: {r:#?}");
        assert_eq!(allocs(&r), [("R202600451".to_string(), 10_000)], "{text}");
    }
    assert!(text::index_keys("R202600451").contains(&"R2600451".to_string()));
    // A run of digits alone, or one too short to hold a year and a counter, is not split.
    assert!(!text::index_keys("2026004511").contains(&"26004511".to_string()));
    assert!(!text::index_keys("R2026045").contains(&"R26045".to_string()));
}
