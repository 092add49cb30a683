//! Tests of the narrative reader, one per layout, with wrapped values and
//! IBANs cut by line breaks. The texts are written for these tests.

use super::*;

const FR_IBAN: &str = "FR7630006000011234567890189";

fn credit(raw: &str, width: Option<usize>) -> Narrative {
    read(raw, width, Direction::Credit).expect("a layout is recognised")
}

#[test]
fn french_keys_on_one_line() {
    let n = credit(
        "VIR SEPA RECU /DE ACME SARL /MOTIF FACTURE FA-2024-0012 /REF CLI778 /IBAN FR76 3000 6000 0112 3456 7890 189 /BIC BNPAFRPP",
        None,
    );
    assert_eq!(n.name.as_deref(), Some("ACME SARL"));
    assert_eq!(n.iban.as_deref(), Some(FR_IBAN));
    assert_eq!(n.bic.as_deref(), Some("BNPAFRPP"));
    assert_eq!(n.purpose.as_deref(), Some("FACTURE FA-2024-0012 CLI778"));
}

#[test]
fn french_keys_wrapped_at_65_with_a_split_iban() {
    // A bank cuts the :86: text every 65 characters, in the middle of words.
    let flat = "VIR SEPA RECU /DE SOCIETE DES TRANSPORTS DU MIDI /MOTIF REGLEMENT FACTURES FA-2024-0012 ET FA-2024-0013 /EREF E2E-99812 /IBAN FR7630006000011234567890189";
    let lines: Vec<String> =
        flat.chars().collect::<Vec<_>>().chunks(65).map(|c| c.iter().collect::<String>()).collect();
    assert!(lines.len() >= 3);
    let raw = lines.join("\n");
    // The IBAN is really cut by the break.
    assert!(!raw.contains(FR_IBAN));
    let n = credit(&raw, Some(65));
    assert_eq!(n.name.as_deref(), Some("SOCIETE DES TRANSPORTS DU MIDI"));
    assert_eq!(n.iban.as_deref(), Some(FR_IBAN));
    assert_eq!(n.end_to_end_id.as_deref(), Some("E2E-99812"));
    assert_eq!(n.purpose.as_deref(), Some("REGLEMENT FACTURES FA-2024-0012 ET FA-2024-0013"));
}

#[test]
fn soft_wrapped_lines_are_joined_with_a_space_and_the_iban_rejoined() {
    let raw =
        "VIR SEPA RECU /DE DUPONT ET FILS\n/MOTIF FACT 2024\n-118 /IBAN FR763000600001\n1234567890189 /RUM MANDAT-1";
    let n = credit(raw, Some(65));
    assert_eq!(n.name.as_deref(), Some("DUPONT ET FILS"));
    assert_eq!(n.iban.as_deref(), Some(FR_IBAN));
    assert_eq!(n.mandate.as_deref(), Some("MANDAT-1"));
    assert_eq!(n.purpose.as_deref(), Some("FACT 2024 -118"));
}

#[test]
fn an_iban_with_a_wrong_checksum_is_not_kept() {
    let n = credit("VIR SEPA RECU /DE ACME /IBAN FR7630006000011234567890188 /MOTIF F-1", None);
    assert_eq!(n.name.as_deref(), Some("ACME"));
    assert_eq!(n.iban, None);
    assert_eq!(n.purpose.as_deref(), Some("F-1"));
}

#[test]
fn nom_and_lib_keys() {
    let n = credit("PRLV SEPA /NOM MARTIN SA /LIB ACOMPTE COMMANDE 554 /ICS FR12ZZZ123456", None);
    assert_eq!(n.name.as_deref(), Some("MARTIN SA"));
    assert_eq!(n.purpose.as_deref(), Some("ACOMPTE COMMANDE 554"));
}

#[test]
fn without_a_purpose_key_the_prefix_is_the_purpose() {
    let n = credit("VIR SEPA RECU /DE ACME SARL /REF 2024-77", None);
    assert_eq!(n.name.as_deref(), Some("ACME SARL"));
    assert_eq!(n.purpose.as_deref(), Some("VIR SEPA RECU 2024-77"));
}

#[test]
fn swift_keys_with_slash_syntax() {
    let n =
        credit("/ORDP/ACME TRADING LTD/REMI/INV 20240012 AND 20240013/EREF/PAY-7/IBAN/GB82WEST12345698765432/", None);
    assert_eq!(n.name.as_deref(), Some("ACME TRADING LTD"));
    assert_eq!(n.iban.as_deref(), Some("GB82WEST12345698765432"));
    assert_eq!(n.end_to_end_id.as_deref(), Some("PAY-7"));
    assert_eq!(n.purpose.as_deref(), Some("INV 20240012 AND 20240013"));
    // For a debit the ordering party is us: no counterparty name from it.
    let d = read("/ORDP/OURSELVES/BENM/SUPPLIER GMBH/REMI/PO 9/", None, Direction::Debit).expect("layout");
    assert_eq!(d.name.as_deref(), Some("SUPPLIER GMBH"));
}

#[test]
fn dutch_slash_tags_wrapped() {
    let raw = "/TRTP/SEPA OVERBOEKING/IBAN/NL91ABNA0417164300/BIC/ABNANL2A/NAME/\nJANSEN BV/REMI/FACTUUR 2024-0042/EREF/NOTPROVIDED";
    let n = credit(raw, Some(65));
    assert_eq!(n.name.as_deref(), Some("JANSEN BV"));
    assert_eq!(n.iban.as_deref(), Some("NL91ABNA0417164300"));
    assert_eq!(n.bic.as_deref(), Some("ABNANL2A"));
    assert_eq!(n.end_to_end_id, None);
    assert_eq!(n.purpose.as_deref(), Some("FACTUUR 2024-0042"));
}

#[test]
fn ing_counterparty_tag() {
    let n = credit("/CNTP/NL91ABNA0417164300/ABNANL2A/KLANT BV/AMSTERDAM/REMI/USTD//INVOICE 881/", None);
    assert_eq!(n.name.as_deref(), Some("KLANT BV"));
    assert_eq!(n.iban.as_deref(), Some("NL91ABNA0417164300"));
    assert_eq!(n.purpose.as_deref(), Some("INVOICE 881"));
}

#[test]
fn german_subfields_with_sepa_tags() {
    let raw = "166?00SEPA-GUTSCHRIFT?109310?20EREF+RG-2024-17?21SVWZ+Rechnung 2024-17 K\n?22undennr 4711?30COBADEFFXXX?31DE89370400440532013000?32MUELLER GMB\nH?33HANDWERK";
    let n = credit(raw, None);
    assert_eq!(n.name.as_deref(), Some("MUELLER GMBHHANDWERK"));
    assert_eq!(n.iban.as_deref(), Some("DE89370400440532013000"));
    assert_eq!(n.bic.as_deref(), Some("COBADEFFXXX"));
    assert_eq!(n.end_to_end_id.as_deref(), Some("RG-2024-17"));
    assert_eq!(n.purpose.as_deref(), Some("Rechnung 2024-17 Kundennr 4711"));
}

#[test]
fn german_account_that_is_not_an_iban_is_not_kept() {
    let n = credit("051?00UEBERWEISUNG?20Miete Mai?3010020030?311234567?32HANS MEIER", None);
    assert_eq!(n.name.as_deref(), Some("HANS MEIER"));
    assert_eq!(n.iban, None);
    assert_eq!(n.purpose.as_deref(), Some("Miete Mai"));
}

#[test]
fn uk_free_text_from_and_ref() {
    let n = credit("FASTER PAYMENT FROM BRIGHT SPARKS LTD REF INV-2024-311", None);
    assert_eq!(n.name.as_deref(), Some("BRIGHT SPARKS LTD"));
    assert_eq!(n.purpose.as_deref(), Some("INV-2024-311"));
    let n = credit("BGC BY ORDER OF NORTHERN WIDGETS PLC REFERENCE 000123", None);
    assert_eq!(n.name.as_deref(), Some("NORTHERN WIDGETS PLC"));
    assert_eq!(n.purpose.as_deref(), Some("000123"));
}

#[test]
fn keyed_english_lines_of_international_mt940() {
    // One key per line, as Swiss and international banks write `:86:` (lines shorter than 65).
    let raw = "CREDIT TRANSFER\nORDERING PARTY: ALPEN TECHNIK AG\nIBAN: CH93 0076 2011 6238 5295 7\nPURPOSE: Invoice RG2026-000123";
    let n = credit(raw, Some(65));
    assert_eq!(n.name.as_deref(), Some("ALPEN TECHNIK AG"));
    assert_eq!(n.iban.as_deref(), Some("CH9300762011623852957"));
    assert_eq!(n.purpose.as_deref(), Some("Invoice RG2026-000123"));
    let n = credit("GUTSCHRIFT REMITTER: NORD HANDEL GMBH REMITTANCE INFO: RE 2604-01234 DETAILS: Skonto", None);
    assert_eq!(n.name.as_deref(), Some("NORD HANDEL GMBH"));
    assert_eq!(n.purpose.as_deref(), Some("RE 2604-01234 Skonto"));
    // The beneficiary is a debit's counterparty, not a credit's.
    assert_eq!(read("BENEFICIARY: GAS SUPPLIER LTD PURPOSE: May", None, Direction::Credit), None);
}

#[test]
fn belgian_free_text_with_a_grouped_iban_after_the_name() {
    let n = credit(
        "VIREMENT EUROPEEN DE LA PART DE DELHAIZE FOURNIS SA BE68 5390 0754 7034 BIC GKCCBEBB COMMUNICATION: FACT 2024/118",
        None,
    );
    assert_eq!(n.name.as_deref(), Some("DELHAIZE FOURNIS SA"));
    assert_eq!(n.iban.as_deref(), Some("BE68539007547034"));
    assert_eq!(n.bic.as_deref(), Some("GKCCBEBB"));
    assert_eq!(n.purpose.as_deref(), Some("FACT 2024/118"));
}

#[test]
fn camt_unstructured_text_with_keys() {
    // A French bank's camt puts the whole narrative in <Ustrd>, 140 characters each.
    let n = credit("/DE ACME SARL /MOTIF FA-77 FA-78 /IBAN BE68539007547034", Some(140));
    assert_eq!(n.name.as_deref(), Some("ACME SARL"));
    assert_eq!(n.iban.as_deref(), Some("BE68539007547034"));
    assert_eq!(n.purpose.as_deref(), Some("FA-77 FA-78"));
}

#[test]
fn plain_text_is_not_a_layout() {
    for t in [
        "FACTURE 2024-0012",
        "PAIEMENT 12/DEC",
        "Rechnung 4711",
        "payment from march invoice",
        "TX 12/REF",
        "",
        "/",
        "é/DE",
    ] {
        assert_eq!(read(t, Some(65), Direction::Credit), None, "{t}");
    }
}

#[test]
fn fill_keeps_structured_values_and_replaces_the_remittance() {
    let date = chrono::NaiveDate::from_ymd_opt(2024, 3, 1).expect("date");
    let mut line = BankLine::credit(date, relance_domain::money::Money::new(100, relance_domain::money::Currency::EUR));
    line.counterparty_name = Some("ACME STRUCTURED".into());
    line.remittance = Some("VIR SEPA RECU /DE ACME /MOTIF F-9 /IBAN FR7630006000011234567890189".into());
    let raw = line.remittance.clone().unwrap_or_default();
    assert!(fill(&mut line, &raw, None));
    assert_eq!(line.counterparty_name.as_deref(), Some("ACME STRUCTURED"));
    assert_eq!(line.counterparty_iban.as_deref(), Some(FR_IBAN));
    assert_eq!(line.remittance.as_deref(), Some("F-9"));
    let mut plain =
        BankLine::credit(date, relance_domain::money::Money::new(100, relance_domain::money::Currency::EUR));
    plain.remittance = Some("FACTURE 12".into());
    assert!(!fill(&mut plain, "FACTURE 12", None));
    assert_eq!(plain.remittance.as_deref(), Some("FACTURE 12"));
}

#[test]
fn take_iban_reads_groups_and_leaves_the_rest() {
    assert_eq!(
        take_iban("DE89 3704 0044 0532 0130 00 HANS"),
        Some(("DE89370400440532013000".to_string(), "HANS".to_string()))
    );
    assert_eq!(take_iban("DE89 3704 0044 0532 0130 0"), None);
    assert_eq!(take_iban("hello world this is text"), None);
}

#[test]
fn hostile_inputs_do_not_panic() {
    let long = "/DE ".repeat(5000);
    let _ = read(&long, Some(65), Direction::Credit);
    let _ = read("/IBAN ÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉ /DE é", Some(3), Direction::Credit);
    let _ = read("FROM é REF ü IBAN ÖÖ", None, Direction::Credit);
    let _ = read("166?", None, Direction::Credit);
    let _ = read("?20", None, Direction::Credit);
}

#[test]
fn slash_party_value_with_account_name_and_texts() {
    let raw = "/ORDP/300000000460495\n/IVOTEHNA DOOEL\n/747//747\n/Uplata po faktura 747";
    let n = credit(raw, Some(65));
    assert_eq!(n.name.as_deref(), Some("IVOTEHNA DOOEL"));
    assert_eq!(n.iban, None);
    assert_eq!(n.purpose.as_deref(), Some("747 747 Uplata po faktura 747"));
    let n = credit("/ORDP/GB29NWBK60161331926819/NORTHERN WIDGETS PLC/REMI/INV 9/", None);
    assert_eq!(n.name.as_deref(), Some("NORTHERN WIDGETS PLC"));
    assert_eq!(n.iban.as_deref(), Some("GB29NWBK60161331926819"));
    assert_eq!(n.purpose.as_deref(), Some("INV 9"));
}

#[test]
fn a_dutch_name_keeps_its_slash() {
    let n = credit("/IBAN/NL91ABNA0417164300/NAME/J JANSEN EN/OF M JANSEN/REMI/HUUR/", None);
    assert_eq!(n.name.as_deref(), Some("J JANSEN EN/OF M JANSEN"));
    assert_eq!(n.purpose.as_deref(), Some("HUUR"));
}
