//! Tokens of a text for reference reading: alphanumeric runs cut at
//! letter/digit changes, each with what separates it from the previous one.

use crate::matching::text::fold;

/// What separates a token from the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sep {
    /// Nothing: a letter/digit change inside one run (`FA2026`).
    Glue,
    /// One of `-`, `/`, `_`, `.` alone.
    Tight(u8),
    /// One space (or no-break space) alone.
    Space,
    /// Anything else: start of text, punctuation, line breaks, several spaces.
    Break,
}

/// One token of the folded (upper-case, accents removed) text.
#[derive(Debug, Clone)]
pub(crate) struct Tok {
    pub text: String,
    pub digit: bool,
    pub sep: Sep,
    /// `#` or `°` right before the token (`#4410237`, `n°412`).
    pub marked: bool,
    /// A currency sign, a currency code or decimals right after (`412 €`, `412,50`).
    pub money_after: bool,
}

impl Tok {
    pub fn is(&self, words: &[&str]) -> bool {
        words.contains(&self.text.as_str())
    }
}

/// Tokens of `text` (folded: upper case, accents removed).
pub(crate) fn tokens(text: &str) -> Vec<Tok> {
    let folded = fold(text);
    let b = folded.as_bytes();
    let mut out: Vec<Tok> = Vec::new();
    let mut i = 0;
    let mut gap_start = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let digit = b[i].is_ascii_digit();
        let start = i;
        while i < b.len() && b[i].is_ascii_alphanumeric() && b[i].is_ascii_digit() == digit {
            i += 1;
        }
        let gap = &folded[gap_start..start];
        let sep = if out.is_empty() {
            Sep::Break
        } else if gap.is_empty() {
            Sep::Glue
        } else if gap.len() == 1 && matches!(gap.as_bytes()[0], b'-' | b'/' | b'_' | b'.') {
            Sep::Tight(gap.as_bytes()[0])
        } else if gap == " " || gap == "\u{a0}" || gap == "\u{202f}" {
            Sep::Space
        } else {
            Sep::Break
        };
        let marked = gap.ends_with('#') || gap.ends_with('°') || gap.ends_with("# ") || gap.ends_with("° ");
        let rest = folded[i..].trim_start_matches([' ', '\u{a0}', '\u{202f}']);
        let money_after = digit
            && (rest.starts_with(['€', '$', '£'])
                || ["EUR", "USD", "GBP", "CHF", "EUROS"]
                    .iter()
                    .any(|c| rest.starts_with(c) && !rest[c.len()..].starts_with(|x: char| x.is_ascii_alphanumeric()))
                || ((folded[i..].starts_with(',') || folded[i..].starts_with('.'))
                    && folded[i + 1..].bytes().take_while(u8::is_ascii_digit).count() == 2
                    && !folded.as_bytes()[i + 1..].get(2).is_some_and(|c| c.is_ascii_alphanumeric())));
        out.push(Tok { text: folded[start..i].to_string(), digit, sep, marked, money_after });
        gap_start = i;
    }
    out
}

/// Words that introduce an invoice number (folded).
pub(crate) const INTRODUCERS: &[&str] = &[
    "FACTURE",
    "FACTURES",
    "FACT",
    "FACTS",
    "FAC",
    "FCT",
    "FA",
    "INVOICE",
    "INVOICES",
    "INV",
    "INVS",
    "BILL",
    "BILLS",
    "N",
    "NO",
    "NOS",
    "NR",
    "NUM",
    "NUMERO",
    "NUMEROS",
    "NUMBER",
    "NUMBERS",
    "REF",
    "REFS",
    "REFERENCE",
    "REFERENCES",
    "HONORAIRES",
    "NOTE",
    "NOTES",
    // German, Dutch, Spanish, Italian, Portuguese (bank remittances of the whole SEPA area)
    "RECHNUNG",
    "RECHNUNGEN",
    "RECHNUNGSNR",
    "RG",
    "RGNR",
    "FACTUUR",
    "FACTUREN",
    "FACTUURNR",
    "FACTUURNUMMER",
    "FACTURA",
    "FACTURAS",
    "FRA",
    "FATTURA",
    "FATTURE",
    "FATT",
    "FT",
    "FATURA",
    "FATURAS",
    "NUMMER",
    // Polish, Czech, Swedish, Danish, Norwegian
    "FAKTURA",
    "FAKTURY",
    "FAKTURE",
    "FAKTURANR",
    "FAKTURANUMMER",
];

/// Introducers that say "number" without saying of what (`n°`, `no.`, `ref`):
/// the word before them decides (`company no. 04411873` is no invoice).
pub(crate) const GENERIC_INTRODUCERS: &[&str] = &[
    "NUMMER",
    "N",
    "NO",
    "NOS",
    "NR",
    "NUM",
    "NUMERO",
    "NUMEROS",
    "NUMBER",
    "NUMBERS",
    "REF",
    "REFS",
    "REFERENCE",
    "REFERENCES",
];

/// Introducers that are never an invoice prefix themselves.
pub(crate) const PURE_INTRODUCERS: &[&str] = &[
    "FACTURE",
    "FACTURES",
    "INVOICE",
    "INVOICES",
    "BILL",
    "BILLS",
    "N",
    "NO",
    "NOS",
    "NR",
    "NUM",
    "NUMERO",
    "NUMEROS",
    "NUMBER",
    "NUMBERS",
    "REF",
    "REFS",
    "REFERENCE",
    "REFERENCES",
    "HONORAIRES",
    "NOTE",
    "NOTES",
    "RECHNUNG",
    "RECHNUNGEN",
    "RECHNUNGSNR",
    "FACTUUR",
    "FACTUREN",
    "FACTUURNR",
    "FACTUURNUMMER",
    "FACTURA",
    "FACTURAS",
    "FATTURA",
    "FATTURE",
    "FATURA",
    "FATURAS",
    "NUMMER",
    "FAKTURA",
    "FAKTURY",
    "FAKTURE",
    "FAKTURANR",
    "FAKTURANUMMER",
];

/// Words allowed between an introducer and the numbers it introduces
/// (`factures 412 et 413`, `invoices #1 and #2`).
pub(crate) const CONNECTORS: &[&str] = &[
    "ET", "AND", "OU", "OR", "DE", "D", "S", "LA", "THE", "VOTRE", "YOUR", "OUR", // French, English
    "UND", "Y", "E", // German, Spanish, Italian
];

/// Words or prefixes naming documents or identifiers that are not invoices.
pub(crate) const NOT_INVOICES: &[&str] = &[
    // orders, quotes, deliveries, returns
    "PO",
    "SO",
    "BC",
    "CDE",
    "CMD",
    "COMMANDE",
    "COMMANDES",
    "ORDER",
    "ORDERS",
    "ORD",
    "BL",
    "LV",
    "DN",
    "BOL",
    "LIVRAISON",
    "DELIVERY",
    "BON",
    "DEVIS",
    "QUOTE",
    "Q",
    "RMA",
    "RETOUR",
    "RETURN",
    "TRACKING",
    "UTR",
    // company, tax and bank identifiers
    "SIRET",
    "SIREN",
    "RCS",
    "TVA",
    "VAT",
    "IBAN",
    "BIC",
    "SWIFT",
    "RIB",
    "APE",
    "NAF",
    "EIN",
    "TAX",
    "RF",
    // contact details, places, accounts
    "TEL",
    "TELEPHONE",
    "PHONE",
    "FAX",
    "MOBILE",
    "PORTABLE",
    "GSM",
    "CEDEX",
    "CS",
    "BP",
    "CP",
    "CLIENT",
    "CUSTOMER",
    "ACCOUNT",
    "COMPTE",
    "CONTRAT",
    "CONTRACT",
    "DOSSIER",
    "TICKET",
    "CASE",
    "REQUEST",
    "DEMANDE",
    "COMPANY",
    "REGISTERED",
    "REGISTRATION",
    "CHARITY",
    "CHEQUE",
    "CHEQUES",
    "CHECK",
    "CONFIRMATION",
    "TRANSACTION",
    // orders and customer numbers in German, Dutch, Spanish, Italian, Portuguese
    "BESTELLUNG",
    "BESTELLNR",
    "AUFTRAG",
    "AUFTRAGSNR",
    "LIEFERSCHEIN",
    "KUNDE",
    "KUNDENNR",
    "KD",
    "KDNR",
    "BESTELLING",
    "ORDERNR",
    "KLANT",
    "KLANTNR",
    "PEDIDO",
    "ALBARAN",
    "PRESUPUESTO",
    "CLIENTE",
    "ORDINE",
    "ORDINI",
    "BOLLA",
    "PREVENTIVO",
    "ENCOMENDA",
    // money and units
    "EUR",
    "USD",
    "GBP",
    "CHF",
    "EUROS",
    "KG",
    "KM",
    "HT",
    "TTC",
    "ACH",
    "LCR",
];

/// Two-letter country codes that start IBANs and VAT numbers.
pub(crate) const COUNTRY_CODES: &[&str] =
    &["FR", "DE", "BE", "GB", "IE", "IT", "ES", "NL", "LU", "CH", "AT", "PT", "MC", "US", "GR", "PL", "DK", "SE"];
