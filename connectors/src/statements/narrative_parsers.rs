//! Every parser reads a keyed free-text narrative when the structured
//! counterparty fields are missing: MT940 `:86:` wrapped at 65 characters,
//! CFONB 120 `05` complements wrapped at 70, camt `Ustrd` and
//! `AddtlNtryInf`, OFX `NAME`/`MEMO`, a CSV label column. Inputs written for
//! these tests.

use super::*;
use relance_domain::Direction;

const FR_IBAN: &str = "FR7630006000011234567890189";

/// `text` cut every `width` characters, as banks do.
fn hard_wrap(text: &str, width: usize) -> Vec<String> {
    text.chars().collect::<Vec<_>>().chunks(width).map(|c| c.iter().collect()).collect()
}

#[test]
fn mt940_french_narrative_wrapped_with_a_split_iban() {
    let info = "VIR SEPA RECU /DE SOCIETE DES TRANSPORTS DU MIDI /MOTIF REGLEMENT FACTURES FA-2024-0012 ET FA-2024-0013 /IBAN FR7630006000011234567890189";
    let lines = hard_wrap(info, 65);
    assert!(!lines.iter().any(|l| l.contains(FR_IBAN)), "the IBAN is cut by a line break");
    let text = format!(
        ":20:STMT1\r\n:25:FR7630006000011234567890189\r\n:28C:1/1\r\n:60F:C240301EUR1000,00\r\n:61:2403010301C1500,00NTRFNONREF//BR-1\r\n:86:{}\r\n:61:2403010301C20,00NTRFNONREF//BR-2\r\n:86:VIREMENT INTERNE COMPTE EPARGNE\r\n:62F:C240301EUR2520,00\r\n-",
        lines.join("\r\n")
    );
    let p = parse(text.as_bytes()).expect("parses");
    let t: Vec<&BankLine> = p.lines().collect();
    assert_eq!(t[0].counterparty_name.as_deref(), Some("SOCIETE DES TRANSPORTS DU MIDI"));
    assert_eq!(t[0].counterparty_iban.as_deref(), Some(FR_IBAN));
    assert_eq!(t[0].remittance.as_deref(), Some("REGLEMENT FACTURES FA-2024-0012 ET FA-2024-0013"));
    assert_eq!(t[0].bank_ref.as_deref(), Some("BR-1"));
    // Plain free text is kept as it was.
    assert_eq!(t[1].counterparty_name, None);
    assert_eq!(t[1].remittance.as_deref(), Some("VIREMENT INTERNE COMPTE EPARGNE"));
}

#[test]
fn mt940_swift_keys_name_the_ordering_party() {
    let text = ":20:S\n:25:GB82WEST12345698765432\n:60F:C240301GBP0,00\n:61:240301C250,00NTRFREF1\n:86:/ORDP/NORTHERN WIDGETS PLC/REMI/INV 2024 311/IBAN/GB29NWBK601613\n31926819/\n:62F:C240301GBP250,00\n";
    let p = parse(text.as_bytes()).expect("parses");
    let t = p.lines().next().expect("one line");
    assert_eq!(t.counterparty_name.as_deref(), Some("NORTHERN WIDGETS PLC"));
    assert_eq!(t.counterparty_iban.as_deref(), Some("GB29NWBK60161331926819"));
    assert_eq!(t.remittance.as_deref(), Some("INV 2024 311"));
}

#[test]
fn mt940_german_subfields_still_read() {
    let text = ":20:S\n:25:10020030/1234567\n:60F:C240301EUR0,00\n:61:2403010301CR99,00NTRFNONREF\n:86:166?00GUTSCHRIFT?20EREF+RG-17?21SVWZ+Rechnung RG-17?30COBADEFFXXX\n?31DE89370400440532013000?32MUELLER GMBH\n:62F:C240301EUR99,00\n";
    let p = parse(text.as_bytes()).expect("parses");
    let t = p.lines().next().expect("one line");
    assert_eq!(t.counterparty_name.as_deref(), Some("MUELLER GMBH"));
    assert_eq!(t.counterparty_iban.as_deref(), Some("DE89370400440532013000"));
    assert_eq!(t.end_to_end_id.as_deref(), Some("RG-17"));
    assert_eq!(t.remittance.as_deref(), Some("Rechnung RG-17"));
}

fn cfonb_record(code: &str, body: impl Fn(&mut Vec<u8>)) -> String {
    let mut r = vec![b' '; 120];
    r[..2].copy_from_slice(code.as_bytes());
    r[2..7].copy_from_slice(b"30006");
    r[11..16].copy_from_slice(b"00001");
    r[16..19].copy_from_slice(b"EUR");
    r[19] = b'2';
    r[21..32].copy_from_slice(b"12345678901");
    body(&mut r);
    String::from_utf8(r).expect("ascii")
}

fn complement(qualifier: &str, text: &str) -> String {
    cfonb_record("05", |r| {
        r[45..48].copy_from_slice(qualifier.as_bytes());
        r[48..48 + text.len()].copy_from_slice(text.as_bytes());
    })
}

#[test]
fn cfonb_complements_with_a_keyed_narrative_wrapped_at_70() {
    let lib = "/DE ATELIERS REUNIS DE NORMANDIE /MOTIF FACTURE FA-2024-0099 /IBAN FR7630006000011234567890189";
    let parts = hard_wrap(lib, 70);
    assert!(!parts.iter().any(|l| l.contains(FR_IBAN)));
    let mut records = vec![
        cfonb_record("01", |r| {
            r[34..40].copy_from_slice(b"010324");
            r[90..104].copy_from_slice(b"0000000010000{");
        }),
        cfonb_record("04", |r| {
            r[32..34].copy_from_slice(b"05");
            r[34..40].copy_from_slice(b"010324");
            r[48..61].copy_from_slice(b"VIR SEPA RECU");
            r[90..104].copy_from_slice(b"0000000012345E");
        }),
    ];
    records.extend(parts.iter().map(|p| complement("LIB", p)));
    records.push(complement("RCN", "CLIENT-778"));
    records.push(cfonb_record("04", |r| {
        r[34..40].copy_from_slice(b"010324");
        r[48..60].copy_from_slice(b"VIR DUPONT  ");
        r[90..104].copy_from_slice(b"0000000000100{");
    }));
    records.push(complement("NPY", "DUPONT ET FILS"));
    records.push(complement("LIB", "FACTURE FA-2024-0100"));
    records.push(cfonb_record("07", |r| {
        r[34..40].copy_from_slice(b"010324");
        r[90..104].copy_from_slice(b"0000000023445E");
    }));
    for text in [records.join("\n"), records.iter().map(|r| r.trim_end()).collect::<Vec<_>>().join("\r\n")] {
        let p = parse(text.as_bytes()).expect("parses");
        let t: Vec<&BankLine> = p.lines().collect();
        assert_eq!(t[0].counterparty_name.as_deref(), Some("ATELIERS REUNIS DE NORMANDIE"));
        assert_eq!(t[0].counterparty_iban.as_deref(), Some(FR_IBAN));
        assert_eq!(t[0].remittance.as_deref(), Some("FACTURE FA-2024-0099 CLIENT-778"));
        assert_eq!(t[1].counterparty_name.as_deref(), Some("DUPONT ET FILS"));
        assert_eq!(t[1].remittance.as_deref(), Some("VIR DUPONT FACTURE FA-2024-0100"));
    }
}

#[test]
fn cfonb_payer_identifier_that_is_an_iban() {
    let records = [
        cfonb_record("01", |r| {
            r[34..40].copy_from_slice(b"010324");
            r[90..104].copy_from_slice(b"0000000000000{");
        }),
        cfonb_record("04", |r| {
            r[34..40].copy_from_slice(b"010324");
            r[48..56].copy_from_slice(b"VIR SEPA");
            r[90..104].copy_from_slice(b"0000000000100{");
        }),
        complement("IPY", "BE68539007547034"),
        cfonb_record("07", |r| {
            r[34..40].copy_from_slice(b"010324");
            r[90..104].copy_from_slice(b"0000000000100{");
        }),
    ];
    let p = parse(records.join("\n").as_bytes()).expect("parses");
    assert_eq!(p.lines().next().and_then(|l| l.counterparty_iban.as_deref()), Some("BE68539007547034"));
}

fn camt(tx_details: &str, addtl: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt><Id>S1</Id><Acct><Id><IBAN>{FR_IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Ntry><Amt Ccy="EUR">120.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2024-03-01</Dt></BookgDt><BkTxCd/>
<NtryDtls><TxDtls>{tx_details}</TxDtls></NtryDtls>{addtl}</Ntry></Stmt></BkToCstmrStmt></Document>"#
    )
}

#[test]
fn camt_ustrd_with_keys() {
    let ustrd = "/DE ACME SARL /MOTIF FA-2024-0077 /IBAN FR7630006000011234567890189";
    let text = camt(&format!("<RmtInf><Ustrd>{ustrd}</Ustrd></RmtInf>"), "");
    let p = parse(text.as_bytes()).expect("parses");
    let t = p.lines().next().expect("one line");
    assert_eq!(t.counterparty_name.as_deref(), Some("ACME SARL"));
    assert_eq!(t.counterparty_iban.as_deref(), Some(FR_IBAN));
    assert_eq!(t.remittance.as_deref(), Some("FA-2024-0077"));
}

#[test]
fn camt_structured_debtor_wins_and_additional_info_fills_the_gap() {
    let details =
        "<RltdPties><Dbtr><Nm>ACME STRUCTURED</Nm></Dbtr></RltdPties><RmtInf><Ustrd>FA-2024-0078</Ustrd></RmtInf>";
    let text = camt(
        details,
        "<AddtlNtryInf>VIR SEPA RECU /DE ACME /MOTIF FA-2024-0078 /IBAN BE68 5390 0754 7034</AddtlNtryInf>",
    );
    let p = parse(text.as_bytes()).expect("parses");
    let t = p.lines().next().expect("one line");
    assert_eq!(t.counterparty_name.as_deref(), Some("ACME STRUCTURED"));
    assert_eq!(t.counterparty_iban.as_deref(), Some("BE68539007547034"));
    assert_eq!(t.remittance.as_deref(), Some("FA-2024-0078"));
}

#[test]
fn ofx_name_and_memo_as_one_narrative() {
    let sgml = "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKTRANLIST>
<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240301<TRNAMT>1250,50<FITID>F1<NAME>VIR SEPA RECU /DE LES ATELIERS D<MEMO>U MIDI /MOTIF FACTURE FA-12 /IBAN FR7630006000011234567890189</STMTTRN>
<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240301<TRNAMT>10,00<FITID>F2<NAME>VIR MME MARTIN<MEMO>loyer mars</STMTTRN>
</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>";
    let p = parse(sgml.as_bytes()).expect("parses");
    let t: Vec<&BankLine> = p.lines().collect();
    assert_eq!(t[0].counterparty_name.as_deref(), Some("LES ATELIERS DU MIDI"));
    assert_eq!(t[0].counterparty_iban.as_deref(), Some(FR_IBAN));
    assert_eq!(t[0].remittance.as_deref(), Some("FACTURE FA-12"));
    assert_eq!(t[1].counterparty_name.as_deref(), Some("VIR MME MARTIN"));
    assert_eq!(t[1].remittance.as_deref(), Some("loyer mars"));
}

#[test]
fn csv_label_column_with_a_narrative() {
    let text = "Date;Libellé;Montant\n01/03/2024;VIR SEPA RECU /DE ACME SARL /MOTIF FA-9 /IBAN FR7630006000011234567890189;100,00\n01/03/2024;VIR DUPONT FA-10;5,00\n";
    let mapping = csv::CsvMapping { decimal: relance_domain::money::DecimalStyle::Comma, ..Default::default() };
    let p = csv::parse(text.as_bytes(), &mapping).expect("parses");
    let t: Vec<&BankLine> = p.lines().collect();
    assert_eq!(t[0].direction, Direction::Credit);
    assert_eq!(t[0].counterparty_name.as_deref(), Some("ACME SARL"));
    assert_eq!(t[0].counterparty_iban.as_deref(), Some(FR_IBAN));
    assert_eq!(t[0].remittance.as_deref(), Some("FA-9"));
    assert_eq!(t[1].counterparty_name, None);
    assert_eq!(t[1].remittance.as_deref(), Some("VIR DUPONT FA-10"));
}
