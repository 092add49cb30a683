//! Table-driven tests on hand-written samples: the tricky part of each format.

use chrono::NaiveDate;

use super::*;
use relance_domain::Direction;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn txs(p: &ParsedFile) -> Vec<&BankLine> {
    p.lines().collect()
}

const CAMT_BATCH: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
 <BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-11-20T10:00:00</CreDtTm></GrpHdr>
  <Stmt><Id>STMT-42</Id><Acct><Id><IBAN>FR76 3000 6000 0112 3456 7890 189</IBAN></Id><Ccy>EUR</Ccy></Acct>
   <Ntry><NtryRef>E1</NtryRef><Amt Ccy="EUR">1500.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
    <BookgDt><Dt>2026-11-19</Dt></BookgDt><ValDt><DtTm>2026-11-20T00:00:00+01:00</DtTm></ValDt><AcctSvcrRef>BANK-1</AcctSvcrRef>
    <NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch>
     <TxDtls><Refs><EndToEndId>E2E-A</EndToEndId></Refs><Amt Ccy="EUR">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
      <RltdPties><Dbtr><Pty><Nm>Dupont &amp; Fils</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct></RltdPties>
      <RmtInf><Ustrd>Facture FA-2026-0012</Ustrd><Ustrd>et FA-2026-0013</Ustrd></RmtInf></TxDtls>
     <TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs><Amt Ccy="EUR">500.00</Amt>
      <RltdPties><Dbtr><Nm>Martin SARL</Nm></Dbtr></RltdPties>
      <RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>RF18539007547034</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>
    </NtryDtls></Ntry>
   <Ntry><Amt Ccy="EUR">53.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd><BookgDt><Dt>2026-11-19</Dt></BookgDt>
    <Chrgs><Rcrd><Amt Ccy="EUR">3.00</Amt><CdtDbtInd>DBIT</CdtDbtInd></Rcrd></Chrgs>
    <NtryDtls><TxDtls><RmtInf><Ustrd>Retour prelevement</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
   <Ntry><Amt Ccy="EUR">20.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><AddtlNtryInf>Interets crediteurs</AddtlNtryInf></Ntry>
  </Stmt></BkToCstmrStmt></Document>"#;

#[test]
fn camt_batch_entries_reversals_charges_and_missing_dates() {
    let p = parse(CAMT_BATCH.as_bytes()).unwrap();
    assert_eq!(p.format, Format::Camt);
    assert_eq!(p.statements[0].id.as_deref(), Some("STMT-42"));
    assert_eq!(p.statements[0].account.as_deref(), Some("FR7630006000011234567890189"));
    let t = txs(&p);
    assert_eq!(t.len(), 4, "batch of two details gives two transactions");
    assert_eq!(t[0].amount.to_decimal_string(), "1000.00");
    assert_eq!(t[0].counterparty_name.as_deref(), Some("Dupont & Fils"));
    assert_eq!(t[0].counterparty_iban.as_deref(), Some("DE89370400440532013000"));
    assert_eq!(t[0].remittance.as_deref(), Some("Facture FA-2026-0012 et FA-2026-0013"));
    assert_eq!(t[0].end_to_end_id.as_deref(), Some("E2E-A"));
    assert_eq!((t[0].booking_date, t[0].value_date), (d(2026, 11, 19), Some(d(2026, 11, 20))));
    assert_eq!(t[0].bank_ref.as_deref(), Some("BANK-1"));
    assert_eq!(t[1].counterparty_name.as_deref(), Some("Martin SARL"), "v2-style Dbtr/Nm");
    assert_eq!(t[1].structured_ref.as_deref(), Some("RF18539007547034"));
    assert_eq!(t[1].end_to_end_id, None, "NOTPROVIDED is no reference");
    assert!(t[2].reversal && t[2].direction == Direction::Debit);
    assert_eq!(p.transactions().nth(2).and_then(|t| t.charges).map(|c| c.minor), Some(300));
    assert_eq!(t[3].remittance.as_deref(), Some("Interets crediteurs"));
    assert_eq!(t[3].booking_date, d(2026, 11, 20), "no entry date: the statement's creation date");
}

#[test]
fn camt_errors_say_where() {
    let broken = CAMT_BATCH.replace("<CdtDbtInd>DBIT</CdtDbtInd><RvslInd>", "<RvslInd>");
    let e = parse(broken.as_bytes()).unwrap_err();
    assert_eq!(e.line, Some(15), "{e}");
    assert!(e.message.contains("CdtDbtInd"), "{e}");
    let e = parse(CAMT_BATCH.replace("camt.053.001.08", "pain.001.001.03").as_bytes()).unwrap_err();
    assert!(e.message.contains("not an ISO 20022 camt"), "{e}");
    let e = parse(&CAMT_BATCH.as_bytes()[..600]).unwrap_err();
    assert!(e.to_string().starts_with("camt: "), "{e}");
}

const MT940: &str = "{1:F01BANKFRPPAXXX0000000000}{2:I940BANKFRPPXXXXN}{4:
:20:STMT20261120
:25:FR7630006000011234567890189EUR
:28C:00012/001
:60F:C261119EUR1000,00
:61:2611201120C1250,50NTRFNONREF//B261120000001
:86:166?00GUTSCHRIFT?20EREF+E2E-77 SVWZ+Rechnung FA-2026-00?2112 danke?30BANKDEFF?31DE89370400440532013000?32Muller GmbH
:61:2611201120RD20,00NDDTREF1//B2
:86:/EREF/NOTPROVIDED/REMI/USTD//Retour domiciliation/NAME/ACME BV/IBAN/NL91ABNA0417164300/
:61:2602300230CR5,00NINT//B3
:86:Interest for the month
 of February
:62F:C261120EUR2255,50
-}";

#[test]
fn mt940_dialects_reversals_funds_codes_and_invalid_days() {
    let p = parse(MT940.as_bytes()).unwrap();
    assert_eq!(p.format, Format::Mt940);
    let s = &p.statements[0];
    assert_eq!(s.id.as_deref(), Some("STMT20261120/00012/001"));
    assert_eq!(s.account.as_deref(), Some("FR7630006000011234567890189"));
    let t = txs(&p);
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].amount.to_decimal_string(), "1250.50");
    assert_eq!(t[0].direction, Direction::Credit);
    assert_eq!(t[0].end_to_end_id.as_deref(), Some("E2E-77"));
    assert_eq!(t[0].remittance.as_deref(), Some("Rechnung FA-2026-0012 danke"), "?2x lines joined without spaces");
    assert_eq!(t[0].counterparty_name.as_deref(), Some("Muller GmbH"));
    assert_eq!(t[0].counterparty_iban.as_deref(), Some("DE89370400440532013000"));
    assert_eq!(t[0].bank_ref.as_deref(), Some("B261120000001"));
    assert!(t[1].reversal && t[1].direction == Direction::Credit, "RD: reversal of a debit");
    assert_eq!(t[1].counterparty_name.as_deref(), Some("ACME BV"));
    assert_eq!(t[1].counterparty_iban.as_deref(), Some("NL91ABNA0417164300"));
    assert_eq!(t[1].remittance.as_deref(), Some("Retour domiciliation"));
    assert_eq!(t[2].booking_date, d(2026, 2, 28), "30 February clamped");
    assert_eq!(t[2].direction, Direction::Credit, "C with funds code R");
    assert_eq!(t[2].remittance.as_deref(), Some("Interest for the month of February"));
}

#[test]
fn mt940_errors_say_where() {
    let e = parse(MT940.replace(":61:2611201120RD20,00", ":61:2611201120X20,00").as_bytes()).unwrap_err();
    assert_eq!(e.line, Some(8), "{e}");
    assert!(e.message.contains("expected C, D, RC or RD"), "{e}");
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
    String::from_utf8(r).unwrap()
}

fn cfonb_sample() -> Vec<String> {
    vec![
        cfonb_record("01", |r| {
            r[34..40].copy_from_slice(b"191126");
            r[90..104].copy_from_slice(b"0000000010000{");
        }),
        cfonb_record("04", |r| {
            r[32..34].copy_from_slice(b"05");
            r[34..40].copy_from_slice(b"201126");
            r[42..48].copy_from_slice(b"211126");
            r[48..79].copy_from_slice(b"VIR SEPA DUPONT ET FILS        ");
            r[81..88].copy_from_slice(b"0000042");
            r[90..104].copy_from_slice(b"0000000012345E");
        }),
        cfonb_record("05", |r| {
            r[45..48].copy_from_slice(b"NPY");
            r[48..62].copy_from_slice(b"DUPONT ET FILS");
        }),
        cfonb_record("05", |r| {
            r[45..48].copy_from_slice(b"RCN");
            r[48..78].copy_from_slice(b"FA-2026-0012 FA-2026-0013     ");
        }),
        cfonb_record("04", |r| {
            r[34..40].copy_from_slice(b"201126");
            r[48..60].copy_from_slice(b"PRLV EDF    ");
            r[90..104].copy_from_slice(b"0000000000321J");
        }),
        cfonb_record("07", |r| {
            r[34..40].copy_from_slice(b"201126");
            r[90..104].copy_from_slice(b"0000000022024E");
        }),
    ]
}

#[test]
fn cfonb_sign_encoding_details_and_no_line_breaks() {
    for text in [
        cfonb_sample().join("\r\n"),
        cfonb_sample().concat(),
        cfonb_sample().iter().map(|r| r.trim_end().to_string()).collect::<Vec<_>>().join("\n"),
    ] {
        let p = parse(text.as_bytes()).unwrap();
        assert_eq!(p.format, Format::Cfonb120);
        let t = txs(&p);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].amount.minor, t[0].direction), (123_455, Direction::Credit), "`E` = +5 in the last digit");
        assert_eq!(t[0].counterparty_name.as_deref(), Some("DUPONT ET FILS"));
        assert_eq!(t[0].remittance.as_deref(), Some("VIR SEPA DUPONT ET FILS FA-2026-0012 FA-2026-0013"));
        assert_eq!(t[0].value_date, Some(d(2026, 11, 21)));
        assert_eq!((t[1].amount.minor, t[1].direction), (3_211, Direction::Debit), "`J` = -1");
    }
    assert_eq!(cfonb::amount("0000000000000}", "2", Currency::EUR).unwrap().minor, 0);
    assert_eq!(cfonb::amount("0000000000123}", "3", Currency::EUR).unwrap().minor, -123);
    assert_eq!(cfonb::amount("0000000000123R", "2", Currency::EUR).unwrap().minor, -1239);
    assert!(cfonb::amount("0000000000123Z", "2", Currency::EUR).is_err());
}

#[test]
fn cfonb_out_of_sequence_records_are_errors() {
    let mut recs = cfonb_sample();
    recs.remove(0);
    let e = parse(recs.join("\n").as_bytes()).unwrap_err();
    assert_eq!((e.line, e.message.contains("outside a statement")), (Some(1), true), "{e}");
    let mut recs = cfonb_sample();
    recs.pop();
    let e = parse(recs.join("\n").as_bytes()).unwrap_err();
    assert!(e.message.contains("without a 07 record"), "{e}");
}

#[test]
fn ofx_sgml_and_xml() {
    let sgml = "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nCHARSET:1252\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKACCTFROM><BANKID>30006<ACCTID>12345678901<ACCTTYPE>CHECKING</BANKACCTFROM>
<BANKTRANLIST><STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20261120120000[+1:CET]<TRNAMT>1250,50<FITID>F1<NAME>DUPONT &amp; FILS<MEMO>FACTURE FA-2026-0012</STMTTRN>
<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20261121<TRNAMT>-32.10<FITID>F2<NAME>EDF</STMTTRN></BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>";
    let xml = "<?xml version=\"1.0\"?><?OFX OFXHEADER=\"200\" VERSION=\"211\"?><OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD</CURDEF><BANKTRANLIST><STMTTRN><TRNTYPE>CREDIT</TRNTYPE><DTPOSTED>20261120</DTPOSTED><TRNAMT>99.00</TRNAMT><FITID>X1</FITID><MEMO>INV 7</MEMO></STMTTRN></BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>";
    let p = parse(sgml.as_bytes()).unwrap();
    let t = txs(&p);
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].amount.minor, t[0].direction), (125_050, Direction::Credit));
    assert_eq!(t[0].counterparty_name.as_deref(), Some("DUPONT & FILS"));
    assert_eq!(t[0].remittance.as_deref(), Some("FACTURE FA-2026-0012"));
    assert_eq!((t[1].amount.minor, t[1].direction, t[1].booking_date), (3_210, Direction::Debit, d(2026, 11, 21)));
    let p = parse(xml.as_bytes()).unwrap();
    assert_eq!(txs(&p)[0].amount.currency.code(), "USD");
}

#[test]
fn csv_with_heuristic_and_explicit_mapping() {
    let text = "Date opération;Libellé;Débit;Crédit;Devise\n20/11/2026;VIR DUPONT FA-2026-0012;;1 250,50;EUR\n21/11/2026;PRLV EDF;32,10;;EUR\n";
    let mapping = csv::CsvMapping { decimal: relance_domain::money::DecimalStyle::Comma, ..Default::default() };
    let p = csv::parse(text.as_bytes(), &mapping).unwrap();
    let t = txs(&p);
    assert_eq!((t[0].amount.minor, t[0].direction), (125_050, Direction::Credit));
    assert_eq!(t[0].remittance.as_deref(), Some("VIR DUPONT FA-2026-0012"));
    assert_eq!((t[1].amount.minor, t[1].direction), (3_210, Direction::Debit));
    let e = csv::parse(b"when,what\n1,2\n", &Default::default()).unwrap_err();
    assert!(e.message.contains("no date column"), "{e}");
}

#[test]
fn detection_rejects_what_is_not_a_statement() {
    assert!(detect(b"PK\x03\x04rest").unwrap_err().message.contains("ZIP"));
    assert!(detect(b"!Type:Bank\nD11/20/2026\n").unwrap_err().message.contains("QIF"));
    assert!(detect(b"hello world").is_err());
}

#[test]
fn legacy_charsets_are_decoded() {
    // MT940 and CFONB files from older bank software are often Windows-1252 / Latin-1.
    let mt = MT940.replace("Muller GmbH", "Müller & Söhne GmbH");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&mt);
    let p = parse(&bytes).unwrap();
    assert_eq!(txs(&p)[0].counterparty_name.as_deref(), Some("Müller & Söhne GmbH"));
    let ofx = "OFXHEADER:100\nCHARSET:1252\n\n<OFX><STMTRS><CURDEF>EUR<BANKTRANLIST><STMTTRN><DTPOSTED>20261120<TRNAMT>10.00<FITID>1<NAME>Société Générale</STMTTRN></BANKTRANLIST></STMTRS></OFX>";
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(ofx);
    assert_eq!(txs(&parse(&bytes).unwrap())[0].counterparty_name.as_deref(), Some("Société Générale"));
}

#[test]
fn csv_header_after_account_details_and_english_month_dates() {
    // A UK export: account lines above the header, quoted fields, `£` amounts, `05 Apr 2026`.
    let text = "\"Account Name:\",\"Business Current ****1234\"\n\"Account Balance:\",\"£10,000.00\"\n\n\
        \"Date\",\"Transaction type\",\"Description\",\"Paid out\",\"Paid in\",\"Balance\"\n\
        \"05 Apr 2026\",\"Bank credit\",\"NORTHERN WIDGETS INV 000123\",\"\",\"£1,234.50\",\"£11,234.50\"\n\
        \"6-Apr-26\",\"Direct debit\",\"GAS SUPPLIER\",\"£32.10\",\"\",\"£11,202.40\"\n";
    let mapping = csv::CsvMapping { currency: Some(Currency::parse("GBP").unwrap()), ..Default::default() };
    let p = csv::parse(text.as_bytes(), &mapping).unwrap();
    let t = txs(&p);
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].booking_date, t[0].amount.minor, t[0].direction), (d(2026, 4, 5), 123_450, Direction::Credit));
    assert_eq!(t[0].remittance.as_deref(), Some("NORTHERN WIDGETS INV 000123"));
    assert_eq!((t[1].booking_date, t[1].amount.minor, t[1].direction), (d(2026, 4, 6), 3_210, Direction::Debit));
    // A row error gives the file's line, counting the lines above the header.
    let bad = text.replace("\"6-Apr-26\"", "\"someday\"");
    let e = csv::parse(bad.as_bytes(), &mapping).unwrap_err();
    assert_eq!(e.line, Some(6), "{e}");
}

#[test]
fn csv_swiss_export_with_apostrophe_thousands_and_german_columns() {
    let text = "Kontonummer;IBAN;Von;Bis\n0235 00123456.01;CH9300762011623852957;01.04.2026;\n\n\
        Abschlussdatum;Buchungsdatum;Valutadatum;Währung;Belastung;Gutschrift;Saldo;Transaktions-Nr.;Beschreibung1;Beschreibung2;Beschreibung3\n\
        01.04.2026;01.04.2026;02.04.2026;CHF;;1'251.60;11'251.60;TX-77;ALPEN TECHNIK AG;Hauptgasse 5, 3011 Bern;Zahlungsgrund: Rechnung 2026-0042\n\
        02.04.2026;02.04.2026;02.04.2026;CHF;12'000.00;;-748.40;TX-78;Miete;;\n";
    let p = csv::parse(text.as_bytes(), &Default::default()).unwrap();
    let t = txs(&p);
    assert_eq!(
        (t[0].amount.minor, t[0].amount.currency, t[0].direction),
        (125_160, Currency::parse("CHF").unwrap(), Direction::Credit)
    );
    assert_eq!(t[0].counterparty_name.as_deref(), Some("ALPEN TECHNIK AG"));
    assert_eq!(t[0].bank_ref.as_deref(), Some("TX-77"));
    assert_eq!(t[0].value_date, Some(d(2026, 4, 2)));
    assert_eq!(t[0].remittance.as_deref(), Some("Zahlungsgrund: Rechnung 2026-0042"));
    assert_eq!((t[1].amount.minor, t[1].direction), (1_200_000, Direction::Debit));
}

#[test]
fn csv_belgian_export_with_structured_communication_column() {
    let text = "Rekeningnummer;Naam;Munt;Datum;Omschrijving;Valuta;Bedrag;rekeningnummer tegenpartij;Naam tegenpartij;gestructureerde mededeling;Vrije mededeling\n\
        BE68539007547034;Onze firma;EUR;03/06/2026;OVERSCHRIJVING VAN PEETERS NV;03/06/2026;1376,98;BE71096123456769;Peeters NV;090933755493;\n\
        BE68539007547034;Onze firma;EUR;04/06/2026;OVERSCHRIJVING VAN MAES BV;04/06/2026;182,00;;Maes BV;;Factuur 2026-0412\n";
    let p = csv::parse(text.as_bytes(), &Default::default()).unwrap();
    let t = txs(&p);
    assert_eq!(t[0].counterparty_name.as_deref(), Some("Peeters NV"), "the counterparty's, not the account holder's");
    assert_eq!(t[0].counterparty_iban.as_deref(), Some("BE71096123456769"));
    assert_eq!(t[0].structured_ref.as_deref(), Some("090933755493"));
    assert_eq!(t[1].structured_ref, None);
    assert_eq!(t[1].remittance.as_deref(), Some("Factuur 2026-0412 OVERSCHRIJVING VAN MAES BV"));
}

#[test]
fn csv_numbered_description_columns_payment_reference_and_end_to_end() {
    // A Rabobank export: the counterparty's IBAN under `Tegenrekening IBAN/BBAN`, the
    // description in `Omschrijving-1`..`3` (35 characters each, cut anywhere), the payment
    // reference (`Betalingskenmerk`) and the end-to-end id (`Transactiereferentie`).
    let text = "\"Datum\",\"Bedrag\",\"Tegenrekening IBAN/BBAN\",\"Naam tegenpartij\",\"Transactiereferentie\",\
                \"Betalingskenmerk\",\"Omschrijving-1\",\"Omschrijving-2\",\"Omschrijving-3\"\n\
                \"2026-05-01\",\"+402,88\",\"NL91ABNA0417164300\",\"Acme BV\",\"E2E-7\",\"1234567890123456\",\
                \"Betaling factuur 2026-INV-0412 en 2\",\"026-INV-0413\",\"dank u\"\n";
    let p = csv::parse(text.as_bytes(), &csv::CsvMapping::default()).unwrap();
    let t = txs(&p);
    assert_eq!(t[0].counterparty_iban.as_deref(), Some("NL91ABNA0417164300"));
    assert_eq!(t[0].remittance.as_deref(), Some("Betaling factuur 2026-INV-0412 en 2026-INV-0413 dank u"));
    assert_eq!(t[0].structured_ref.as_deref(), Some("1234567890123456"));
    assert_eq!(t[0].end_to_end_id.as_deref(), Some("E2E-7"));
    assert_eq!(t[0].amount.minor, 40288);
}

#[test]
fn csv_snake_case_columns_and_timestamps() {
    // An API-style export (Qonto): `settled_at` timestamps, `counterparty_name`, `reference`.
    let text = "transaction_id,emitted_at,settled_at,counterparty_name,label,amount,currency,reference\n\
                t-1,2026-04-14T09:00:00.000Z,2026-04-15T10:22:01.000Z,Acme SAS,Acme SAS,1250.00,EUR,FV/2026/04/0012\n\
                t-2,2026-04-15T11:00:00.000Z,2026-04-16T08:00:00.000Z,Fees,Fees,-3.50,EUR,\n";
    let p = csv::parse(text.as_bytes(), &csv::CsvMapping::default()).unwrap();
    let t = txs(&p);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].booking_date, d(2026, 4, 15));
    assert_eq!(t[0].counterparty_name.as_deref(), Some("Acme SAS"));
    assert!(t[0].remittance.as_deref().unwrap_or("").contains("FV/2026/04/0012"));
    assert_eq!(t[1].direction, Direction::Debit);
}

#[test]
fn csv_payer_name_column() {
    // A Wise statement: the payer in `Payer Name`, the reference in `Payment Reference`.
    let text = "TransferWise ID,Date,Amount,Currency,Description,Payment Reference,Payer Name\n\
                TRANSFER-1,15-04-2026,99.00,GBP,Received money from Acme Ltd with reference SLS000412,SLS000412,Acme Ltd\n";
    let p = csv::parse(text.as_bytes(), &csv::CsvMapping::default()).unwrap();
    let t = txs(&p);
    assert_eq!(t[0].counterparty_name.as_deref(), Some("Acme Ltd"));
    assert!(t[0].remittance.as_deref().unwrap_or("").starts_with("SLS000412"));
}

#[test]
fn mt942_keyed_86_is_not_hidden_by_supplementary_details() {
    // MT942 with `:61:` supplementary details on their own line and a `:86:` of SWIFT keys
    // one a line (`/ORDP/`, `/ORDPIBAN/`, `/RMTINF/`, `/EREF/`).
    let text = ":20:IR1\r\n:25:CH9300762011623852957\r\n:28C:7/1\r\n:34F:CHF0,\r\n:13D:2606281830+0100\r\n\
                :61:260601C1431,00NTRFNONREF//W260601-07-001\r\n/SEPA INSTANT\r\n\
                :86:/ORDP/GARAGE MOREAU GMBH\r\n/ORDPIBAN/CH9300762011623852957\r\n/RMTINF/Faktura 0939-2026\r\n\
                /EREF/E2E-42\r\n:90C:1CHF1431,00\r\n-\r\n";
    let p = parse(text.as_bytes()).unwrap();
    let t = txs(&p);
    assert_eq!(t[0].counterparty_name.as_deref(), Some("GARAGE MOREAU GMBH"));
    assert_eq!(t[0].counterparty_iban.as_deref(), Some("CH9300762011623852957"));
    assert_eq!(t[0].end_to_end_id.as_deref(), Some("E2E-42"));
    assert!(t[0].remittance.as_deref().unwrap_or("").starts_with("Faktura 0939-2026"), "{:?}", t[0].remittance);
}

#[test]
fn mt940_polish_tilde_subfields_name_and_iban() {
    // A Polish MT940 (PKO BP / mBank style): `~20`-`~25` purpose, `~27`/`~28` the payer's name,
    // `~29` its address, `~30`/`~31` its bank and account, `~38` its IBAN; wrapped at 65 anywhere.
    let text = ":20:MT940\r\n:25:/PL61109010140000071219812874\r\n:28C:00001\r\n:60F:C260401EUR10000,00\r\n\
                :61:2604020402C1250,00S034NONREF//K01.092.003\r\n\
                :86:034~00VE02PRZELEW SEPA~20Zaplata za fakture INV-2026~21-0412-01~27SERVICES DE VRIES S\r\n\
                P. Z O.O.~28 WARSZAWA~29UL. PRZYKLADOWA 1~3010901014~310000071219812874~38PL6110901014000007121\r\n\
                9812874\r\n:62F:C260428EUR11250,00\r\n-\r\n";
    let p = parse(text.as_bytes()).unwrap();
    let t = txs(&p);
    assert_eq!(t[0].counterparty_name.as_deref(), Some("SERVICES DE VRIES SP. Z O.O. WARSZAWA"));
    assert_eq!(t[0].counterparty_iban.as_deref(), Some("PL61109010140000071219812874"));
    assert_eq!(t[0].remittance.as_deref(), Some("Zaplata za fakture INV-2026-0412-01"));
}

#[test]
fn csv_label_column_naming_the_payer_then_a_remittance_column() {
    // A French bank export: `VIR SEPA RECU DE <payer>` in `Libellé`, the payer's remittance in
    // `Libellé complémentaire`, the bank's reference, a signed `+1 234,56` amount.
    let text = "Date de comptabilisation;Date de valeur;Libellé;Libellé complémentaire;Référence de l'opération;Montant\r\n\
                02/04/2026;02/04/2026;VIR SEPA RECU DE BOUW RHEIN SARL;FACT 26/FAC/0412;K05.092.003;+5 838,69\r\n";
    let p = csv::parse(text.as_bytes(), &csv::CsvMapping::default()).unwrap();
    let t = txs(&p);
    assert_eq!(t[0].counterparty_name.as_deref(), Some("BOUW RHEIN SARL"));
    assert_eq!(t[0].remittance.as_deref(), Some("FACT 26/FAC/0412"));
    assert_eq!(t[0].bank_ref.as_deref(), Some("K05.092.003"));
    assert_eq!(t[0].amount.minor, 583869);
}

#[test]
fn csv_italian_and_swedish_exports() {
    // Italian (CBI movements): `Data contabile`, `Entrate`/`Uscite`, the payer inside
    // `Descrizione operazione` (`BONIFICO A VOSTRO FAVORE DA … CAUSALE …`).
    let text = "Data contabile;Data valuta;Entrate;Uscite;Descrizione operazione;Causale\r\n\
                01/04/2026;01/04/2026;1.510,27;;BONIFICO A VOSTRO FAVORE DA METALL VISSER S.P.A. CAUSALE Fattura FCT-0412-26;48\r\n\
                02/04/2026;02/04/2026;;-36,16;ADDEBITO SDD MOREAU;50\r\n";
    let p = csv::parse(text.as_bytes(), &csv::CsvMapping::default()).unwrap();
    let t = txs(&p);
    assert_eq!(t[0].counterparty_name.as_deref(), Some("METALL VISSER S.P.A."));
    assert_eq!(t[0].remittance.as_deref(), Some("Fattura FCT-0412-26"));
    assert_eq!(t[0].amount.minor, 151027);
    assert_eq!(t[1].direction, Direction::Debit);
    // Swedish: `Bokföringsdatum`, the counterparty in `Text`, `Meddelande`, the OCR reference.
    let text = "Bokföringsdatum;Valutadatum;Text;Meddelande;OCR-nummer;Belopp;Saldo\r\n\
                2026-03-02;2026-03-02;Becker Technik AB;Faktura E2026.412;;1250,00;11250,00\r\n\
                2026-03-03;2026-03-03;Brunner AB;;2026412794;-20,00;11230,00\r\n";
    let p = csv::parse(text.as_bytes(), &csv::CsvMapping::default()).unwrap();
    let t = txs(&p);
    assert_eq!(t[0].booking_date, d(2026, 3, 2));
    assert_eq!(t[0].counterparty_name.as_deref(), Some("Becker Technik AB"));
    assert_eq!(t[0].remittance.as_deref(), Some("Faktura E2026.412"));
    assert_eq!(t[0].amount.minor, 125000);
    assert_eq!(t[1].structured_ref.as_deref(), Some("2026412794"));
    assert_eq!(t[1].direction, Direction::Debit);
}
