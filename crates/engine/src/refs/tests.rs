use super::*;

fn common(text: &str) -> Vec<String> {
    common_refs(text)
}

#[test]
fn common_shapes_are_read_as_written() {
    for (text, want) in [
        ("Relance facture FA-2026-00412", vec!["FA-2026-00412"]),
        ("ok pour la F26-0236 et la TA26-00572", vec!["F26-0236", "TA26-00572"]),
        ("votre facture FAC/26/0166 est arrivée", vec!["FAC/26/0166"]),
        ("la facture 26080011 sera payée", vec!["26080011"]),
        ("note 2026-M-0098 reçue", vec!["2026-M-0098"]),
        ("invoice UK-INV 2026 0042 is paid", vec!["UK-INV 2026 0042"]),
        ("paid fa 2026 63 today", vec!["FA 2026 63"]),
        ("Inv 2026-1842 was approved", vec!["2026-1842"]),
        ("invoices 4410237 and 4410251 are scheduled", vec!["4410237", "4410251"]),
        ("paid, see #4410237", vec!["4410237"]),
        ("check for invoice 4410237", vec!["4410237"]),
        ("facture n°FA00031245", vec!["FA00031245"]),
        ("No.INV-001712 paid", vec!["INV-001712"]),
        ("invoice INV26-114 coming Friday", vec!["INV26-114"]),
        ("Payment for ST-2026-000317", vec!["ST-2026-000317"]),
        ("fac. 2026/01842 et 2026/01855", vec!["2026/01842", "2026/01855"]),
    ] {
        assert_eq!(common(text), want, "{text}");
    }
    assert_eq!(subject_refs("RE: 26040034"), vec!["26040034"], "a subject's digit run needs no invoice word");
    assert!(common("RE: 26040034").is_empty(), "in a body it does");
}

#[test]
fn common_reader_leaves_out_what_is_not_an_invoice() {
    for text in [
        "payé le 15/01/2026, virement du 2026-01-15",
        "on 01/22 check run, 20.02.2026",
        "appelez-moi au 04 72 00 41 12 ou 04.72.00.41.12 ou 0472004112",
        "montant 1.234,56 € soit EUR 2.340,00 ou $4,815.20",
        "IBAN FR76 3000 6000 0112 3456 7890 189, FR7630006000011234567890189",
        "BIC BNPAFRPPXXX, SIRET 123 456 789 00012, SIRET 12345678900012",
        "TVA FR12345678901, VAT GB123456789",
        "PO-2026-01234, PO 4500012345, SO-88123, BL12345678, CDE 123456",
        "commande 123456, bon de livraison 2026-0412, order 2026/01234",
        "69007 Lyon, à 15h30, 3x500, 12 rue des Artisans",
        "quote Q-5512, RMA 55120, UTR no. HDFCR52026012834771",
        "en 2026 12 factures",
        "Registered in England and Wales No. 04455123, company no. 04411873, chèque n° 0072451",
        "confirmation # A88213, Client C69302",
        "2026-10 et 12/2026",
    ] {
        assert!(common(text).is_empty(), "{text}: {:?}", common(text));
    }
    assert!(common("numéro 412").is_empty(), "too short for a bare counter without a tenant");
}

/// A numbering scheme for tests: renders `(year, month, counter)`.
struct Gen {
    name: &'static str,
    render: fn(u16, u8, u32) -> String,
}

fn schemes() -> Vec<Gen> {
    vec![
        Gen { name: "prefix-year4-counter5", render: |y, _, c| format!("FA-{y}-{c:05}") },
        Gen { name: "prefix-year2-counter4", render: |y, _, c| format!("F{}-{c:04}", y % 100) },
        Gen { name: "yymm-seq", render: |y, m, c| format!("{:02}{m:02}{c:04}", y % 100) },
        Gen { name: "slashes", render: |y, _, c| format!("FAC/{}/{c:04}", y % 100) },
        Gen { name: "sage", render: |_, _, c| format!("FA{:08}", 20_000 + c) },
        Gen { name: "year-letter-counter", render: |y, _, c| format!("{y}-M-{c:04}") },
        Gen { name: "spaces", render: |y, _, c| format!("UK-INV {y} {c:04}") },
        Gen { name: "year-slash", render: |y, _, c| format!("{y}/{c:05}") },
        Gen { name: "dots", render: |y, _, c| format!("F.{y}.{c}") },
        Gen { name: "prefix-yyyymm", render: |y, m, c| format!("FAC{}{m:02}-{c:04}", y % 100) },
        Gen { name: "glued-year4", render: |y, _, c| format!("R{y}{c:05}") },
        Gen { name: "trailing-letters-first", render: |y, _, c| format!("{:02}-FV-{c:04}", y % 100) },
        Gen { name: "underscore", render: |y, _, c| format!("INV_{y}_{c:06}") },
    ]
}

fn generate(g: &Gen, n: u32) -> Vec<String> {
    (0..n).map(|i| (g.render)(2024 + (i / 500) as u16, 1 + ((i / 40) % 12) as u8, 1 + i)).collect()
}

#[test]
fn every_generated_scheme_is_read_back_as_issued_and_reformatted() {
    for g in schemes() {
        let numbers = generate(&g, 1_200);
        let reader = RefReader::learn(&numbers);
        assert_eq!(reader.len(), numbers.len(), "{}", g.name);
        for n in numbers.iter().step_by(37) {
            let text = format!("Bonjour, la facture {n} sera réglée vendredi.");
            let found = reader.read(&text);
            assert_eq!(found.len(), 1, "{}: {text} → {found:?}", g.name);
            assert_eq!((found[0].number.as_str(), found[0].spelling), (n.as_str(), Spelling::Exact), "{}", g.name);
            // Lower case, no separators.
            let glued: String = n.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
            let found = reader.read(&format!("paid {glued} today"));
            assert_eq!(found.first().map(|f| f.number.as_str()), Some(n.as_str()), "{}: {glued}", g.name);
            // Separators replaced by spaces.
            let spaced: String = n.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' }).collect();
            assert_eq!(reader.resolve(&spaced).map(|f| f.number), Some(n.clone()), "{}: {spaced}", g.name);
        }
    }
}

#[test]
fn tolerant_spellings_of_one_tenant() {
    let known = ["FA-2026-00412", "FA-2026-02028", "FA-2025-01877", "FA-2026-00063", "AV-2026-00412"];
    let r = RefReader::learn(known);
    let read = |t: &str| r.read(t).into_iter().map(|f| (f.number, f.spelling)).collect::<Vec<_>>();
    let one = |n: &str, s: Spelling| vec![(n.to_string(), s)];
    assert_eq!(read("fa 2026 63"), one("FA-2026-00063", Spelling::Full), "spaces, no padding");
    assert_eq!(read("FA2026-00412"), one("FA-2026-00412", Spelling::Exact));
    assert_eq!(read("FA-26-02028"), one("FA-2026-02028", Spelling::Full), "two-digit year");
    assert_eq!(read("fa262028"), one("FA-2026-02028", Spelling::Full), "glued two-digit year");
    assert_eq!(read("la 2026-1877 ?"), vec![], "another year: 2025");
    assert_eq!(read("la 2025-1877"), one("FA-2025-01877", Spelling::Partial), "prefix missing");
    assert_eq!(read("facture 1877"), one("FA-2025-01877", Spelling::CounterOnly));
    assert_eq!(read("facture 63"), one("FA-2026-00063", Spelling::CounterOnly));
    assert_eq!(read("facture 412"), vec![], "invoice and credit note share the counter");
    assert_eq!(read("il reste 1877 à payer"), vec![], "a bare number is no counter");
    assert_eq!(read("facture 1877 €"), vec![], "an amount");
    assert_eq!(read("commande FA-2026-00412"), vec![], "an order");
    assert_eq!(
        read("FA-2026-00063 et FA 2026 412"),
        vec![("FA-2026-00063".into(), Spelling::Exact), ("FA-2026-00412".into(), Spelling::Full)],
        "FA 2026 412 is FA's, not the credit note's"
    );
    let both = read("F-2026-00063 et AV 2026 412");
    assert_eq!(
        both,
        vec![("FA-2026-00063".into(), Spelling::Partial), ("AV-2026-00412".into(), Spelling::Full)],
        "shortened prefix; the credit note by its letters"
    );
}

#[test]
fn corpus_like_suppliers() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["26040034", "26021187", "26040035", "25120001"], "fact 26040034", "26040034"),
        (&["FA00031245", "FA00029880"], "facture 31245", "FA00031245"),
        (&["FA00031245", "FA00029880"], "FA31245", "FA00031245"),
        (&["2026-M-0087", "2025-M-0412"], "2026 M 87", "2026-M-0087"),
        (&["2026-M-0087", "2025-M-0412"], "M-0087", "2026-M-0087"),
        (&["2026-M-0087", "2025-M-0412"], "note d'honoraires 87", "2026-M-0087"),
        (&["TA26-03318", "TA25-11902"], "ta2603318", "TA26-03318"),
        (&["TA26-03318", "TA25-11902"], "TA 26 3318", "TA26-03318"),
        (&["INV-001712", "INV-001698"], "invoice 1712", "INV-001712"),
        (&["INV-001712", "INV-001698"], "INV1712", "INV-001712"),
        (&["2026/01842", "2025/11730"], "Inv 2026-1842", "2026/01842"),
        (&["INV26-0042", "INV25-1310"], "INV 26-42", "INV26-0042"),
        (&["4410237", "4410412"], "441 0237", "4410237"),
        (&["UK-INV 2026 0042", "UK-INV 2025 1310"], "ukinv 2026 0042", "UK-INV 2026 0042"),
        (&["UK-INV 2026 0042", "UK-INV 2025 1310"], "UK-INV-2026-0042", "UK-INV 2026 0042"),
        (&["ST-2026-000317", "ST-2025-000288"], "ST2026317", "ST-2026-000317"),
        (&["ST-2026-000317", "ST-2025-000288"], "payment for 000317 on Friday", "ST-2026-000317"),
        (&["FAC/26/1187", "FAC/25/0942"], "fac26/1187", "FAC/26/1187"),
        (&["F26-4412", "F25-3980"], "f264412", "F26-4412"),
    ];
    for (known, text, want) in cases {
        let r = RefReader::learn(known.iter());
        let got: Vec<String> = r.read(text).into_iter().map(|f| f.number).collect();
        assert_eq!(got, vec![want.to_string()], "{known:?} / {text}");
    }
    let stark = RefReader::learn(["ST-2026-000317", "ST-2025-000317"]);
    assert!(stark.read("ST-000317").is_empty(), "two years share the counter");
    assert_eq!(stark.read("SO-12345 and ST-2026-000317").len(), 1);
}

#[test]
fn learned_splits_of_single_digit_groups() {
    let yymm: Vec<String> = (0..50).map(|i| format!("26{:02}{:04}", 1 + i % 12, i)).collect();
    let r = RefReader::learn(&yymm);
    assert_eq!(r.schemes()[0].split, Some(Split::Yymm));
    let sage: Vec<String> = (0..50).map(|i| format!("FA{:08}", 29_000 + i * 7)).collect();
    assert_eq!(RefReader::learn(&sage).schemes()[0].split, Some(Split::Counter));
    let initech: Vec<String> = (0..50).map(|i| format!("44{:05}", 10_000 + i * 13)).collect();
    assert_eq!(RefReader::learn(&initech).schemes()[0].split, Some(Split::Counter), "44 is no year");
    let glued: Vec<String> = (0..50).map(|i| format!("R{}{:05}", 2025 + i % 2, i)).collect();
    let r = RefReader::learn(&glued);
    assert_eq!(r.schemes()[0].split, Some(Split::Yyyy));
    assert_eq!(r.read("R 2026 41").first().map(|f| f.number.as_str()), Some("R202600041"));
    let r = RefReader::learn(["FA-2026-00412", "FA-2026-00413"]);
    assert_eq!(r.schemes()[0].shape, "FA-9999-99999");
    assert_eq!(r.schemes()[0].split, None, "several digit groups");
}

#[test]
fn counter_first_and_year_last() {
    let numbers: Vec<String> = (0..40).map(|i| format!("{:05}/{}", 7_000 + i * 3, 25 + i % 2)).collect();
    let r = RefReader::learn(&numbers);
    assert_eq!(r.schemes()[0].split, Some(Split::YearLast));
    let read = |t: &str| r.read(t).into_iter().map(|f| (f.number, f.spelling)).collect::<Vec<_>>();
    assert_eq!(read("#7090"), vec![("07090/25".to_string(), Spelling::CounterOnly)], "the counter, introduced");
    assert_eq!(read("Factura n. 07090-25"), vec![("07090/25".to_string(), Spelling::Exact)]);
    assert_eq!(read("fact 7090/2025"), vec![("07090/25".to_string(), Spelling::Full)], "four-digit year");
    assert_eq!(read("7090/26"), vec![], "another year");
    assert_eq!(read("il reste 7090"), vec![], "a bare number is no counter");
    assert!(may_be_read("07090/25", &written_counters(["#7090"])), "the prefilter lets the counter through");
    // A number whose first group is a year keeps the counter last.
    let r = RefReader::learn(["2026/0412", "2026/0413", "2025/1187"]);
    assert_eq!(r.schemes()[0].split, None);
    assert_eq!(r.read("facture 412").first().map(|f| f.number.as_str()), Some("2026/0412"));
}

#[test]
fn reading_is_deterministic_and_ignores_junk() {
    let numbers: Vec<String> = generate(&schemes()[0], 500);
    let r = RefReader::learn(&numbers);
    let text = "Factures FA-2024-00012, fa 2024 13 et facture 14 (montant 1 200,00 €, tel 04 72 00 41 12) \u{1F600} ß";
    let a = r.read(text);
    assert_eq!(a, r.read(text));
    let got: Vec<&str> = a.iter().map(|f| f.number.as_str()).collect();
    assert_eq!(got, ["FA-2024-00012", "FA-2024-00013", "FA-2024-00014"]);
    for junk in ["", "   ", "\u{0}\u{1}", "ééé", "99999999999999999999999999", "-/-/-", "0", "FA-"] {
        assert!(r.read(junk).is_empty(), "{junk:?}");
        assert!(r.resolve(junk).is_none(), "{junk:?}");
    }
    assert!(RefReader::learn(Vec::<String>::new()).read("facture 12").is_empty());
}

#[test]
fn a_hundred_thousand_numbers_are_learned_and_read_quickly() {
    let mut numbers = Vec::new();
    for g in schemes().iter().take(5) {
        numbers.extend(generate(g, 20_000));
    }
    let t = std::time::Instant::now();
    let r = RefReader::learn(&numbers);
    let learned = t.elapsed();
    let t = std::time::Instant::now();
    let mut hits = 0;
    for n in numbers.iter().step_by(100) {
        hits += r.read(&format!("Bonjour, nous réglerons la facture {n} et la {n} vendredi.")).len();
    }
    let read = t.elapsed();
    assert_eq!(hits, 1_000);
    // Generous bounds (debug build, shared machine): learning is linear, reading a few lookups.
    assert!(learned.as_secs() < 20, "learn {learned:?}");
    assert!(read.as_secs() < 5, "read {read:?}");
}

#[test]
fn suffixes_for_the_store() {
    assert_eq!(counter_suffixes("FA-2026-00412"), vec!["412"]);
    assert_eq!(counter_suffixes("ta2603318"), vec!["2603318", "3318", "318"]);
    assert!(counter_suffixes("FA").is_empty());
}

/// `may_be_read` is a filter before learning a reader: it may say yes for
/// nothing, never no for a number the reader finds.
#[test]
fn the_counter_filter_never_hides_a_number_the_reader_finds() {
    let mut checked = 0;
    let mut check = |known: &[String], text: &str| {
        let counters = written_counters([text]);
        for f in RefReader::learn(known).read(text) {
            assert!(may_be_read(&f.number, &counters), "{text} finds {} but the filter says no", f.number);
            checked += 1;
        }
    };
    for g in schemes() {
        let numbers = generate(&g, 600);
        for n in numbers.iter().step_by(23) {
            let glued: String = n.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
            let spaced: String = n.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' }).collect();
            let digits: Vec<&str> = n.split(|c: char| !c.is_ascii_digit()).filter(|d| !d.is_empty()).collect();
            let counter = digits.last().map(|d| d.trim_start_matches('0')).unwrap_or_default();
            for text in [
                format!("facture {n}"),
                format!("paid {glued} today"),
                spaced,
                format!("facture {counter}"),
                format!("invoice #{counter}"),
                format!("solde {}", &n[n.len().saturating_sub(6)..]),
            ] {
                check(&numbers, &text);
            }
        }
    }
    let known: Vec<String> =
        ["FA-2026-00412", "FA-2026-02028", "FA-2025-01877", "FA-2026-00063", "R202600041"].map(String::from).to_vec();
    for text in ["fa 2026 63", "FA-26-02028", "fa262028", "la 2025-1877", "facture 1877", "R 2026 41", "F-2026-00063"] {
        check(&known, text);
    }
    assert!(checked > 300, "{checked} numbers found");
}

#[test]
fn the_counter_filter_rules_out_numbers_without_the_texts_counters() {
    assert!(written_counters(["VIREMENT SEPA recu", ""]).is_empty(), "no digit, no counter");
    let counters = written_counters(["Facture FA-2026-0012346"]);
    assert_eq!(
        counters,
        vec![26, 346, 2026, 12346, 2026_0012346],
        "every group, its tails after a glued year (and month), groups joined"
    );
    assert!(may_be_read("FA-2026-0012346", &counters));
    assert!(!may_be_read("FA-2026-0012345", &counters), "another counter");
    assert!(!may_be_read("FA-2026-0000999", &counters));
    assert!(may_be_read("FA-0346", &counters), "a counter the text has");
    assert!(may_be_read("FA20260000346", &counters), "one digit group: its glued-year tail may be the counter");
    assert!(!may_be_read("AVOIR", &counters), "no digit: never read");
    assert!(may_be_read("FA-2026-ÉTÉ-7", &[]), "not ASCII: always maybe");
}

#[test]
fn invoice_words_of_the_sepa_area_introduce_counters() {
    let r =
        RefReader::learn(["26FA02730", "26FA02728", "FT/05236/2026", "FT/05243/2026", "RE-26-10234", "RE-26-10240"]);
    let read = |t: &str| r.read(t).into_iter().map(|f| (f.number, f.spelling)).collect::<Vec<_>>();
    assert_eq!(read("Saldo fattura 5236"), vec![("FT/05236/2026".to_string(), Spelling::CounterOnly)]);
    assert_eq!(read("Pago factura 2730"), vec![("26FA02730".to_string(), Spelling::CounterOnly)]);
    assert_eq!(read("Rechnung 10240 und 10234").len(), 2);
    assert_eq!(read("Betaling factuur 2728"), vec![("26FA02728".to_string(), Spelling::CounterOnly)]);
    // Still no counter without an invoice word, nor after an order word.
    assert_eq!(read("2730"), vec![]);
    assert_eq!(read("factura 2730 pedido 2728"), vec![("26FA02730".to_string(), Spelling::CounterOnly)]);
    assert_eq!(read("Rechnung 10234 Kd.Nr. 10240"), vec![("RE-26-10234".to_string(), Spelling::CounterOnly)]);
}

#[test]
fn identifiers_given_for_customers_and_orders() {
    assert_eq!(other_identifiers("RE FF25120323 Kundennr KN00256"), vec!["256"]);
    assert_eq!(other_identifiers("order no 4700123 invoice FA-2026-0412"), vec!["4700123"]);
    assert_eq!(other_identifiers("PO/2026-0412 thanks"), vec!["2026", "412"]);
    // Short groups, and invoice numbers not introduced by such a word, are none.
    assert!(other_identifiers("client C12 facture FA-2026-0412").is_empty());
    assert!(other_identifiers("Rechnung 2604-01234").is_empty());
}

#[test]
fn digit_groups_of_a_number_and_their_tails() {
    assert_eq!(number_groups("FF26040226"), vec!["26040226", "40226", "226"]);
    assert_eq!(number_groups("NO.001234.26"), vec!["1234", "34", "26"]);
    assert!(number_groups("ABC").is_empty());
}

/// A number glued to the invoice word before it (`Fatura0476-2025`,
/// `faktura2026INV0412`, Polish and Swedish `faktura`) is read after the word:
/// the word is no prefix of the number. A word that is not an invoice word
/// glued to digits stays part of them.
#[test]
fn a_number_glued_to_the_invoice_word_before_it() {
    let known = ["2025-INV-0476", "2026-INV-0412", "26.0442", "26.0441"];
    let r = RefReader::learn(known);
    let read = |t: &str| r.read(t).into_iter().map(|f| f.number).collect::<Vec<_>>();
    assert_eq!(read("Fatura0476-2025 escompte"), ["2025-INV-0476"]);
    assert_eq!(read("Przelew faktura2026INV0412"), ["2026-INV-0412"]);
    assert_eq!(read("Faktura0442-26 i 26.0441"), ["26.0442", "26.0441"]);
    assert_eq!(read("Bestnr0442-26"), Vec::<String>::new(), "not an invoice word");
}
