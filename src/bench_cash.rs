//! `relance bench match` and `relance bench parse`: cash-application figures.
//!
//! `bench match` generates open invoices and credits with realistic remittance
//! noise (separators, case, missing prefixes, dropped zeros, typos, several
//! invoices, no reference, bank fees, partial payments, discounts, unknown and
//! known payers, same-amount ambiguities, unrelated credits). Every credit
//! carries the invoices it really pays, so the run prints both speed and
//! accuracy: precision of `matched`, and the share of unambiguous credits
//! matched.

use std::fmt::Write as _;
use std::time::Instant;

use chrono::{Duration, NaiveDate};

use relance_core::matching::{Credit, MatchConfig, MatchStatus, Matcher, OpenInvoice, Payer};
use relance_core::money::{Currency, Money};

/// One generated credit and the truth about it.
pub struct Labelled {
    pub credit: Credit,
    /// The invoices this credit pays (empty: pays nothing we know).
    pub truth: Vec<String>,
    /// Enough information for a careful clerk to apply it without asking.
    pub unambiguous: bool,
    pub kind: &'static str,
}

pub struct World {
    pub invoices: Vec<OpenInvoice>,
    pub payers: Vec<Payer>,
    pub credits: Vec<Labelled>,
}

fn iban(n: u64) -> String {
    let bban = format!("3000600001{n:011}89");
    let rem = format!("{bban}152700").bytes().fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
    format!("FR{:02}{bban}", 98 - rem)
}

const WORDS: &[&str] = &[
    "Boulangerie",
    "Transports",
    "Garage",
    "Hotel",
    "Clinique",
    "Editions",
    "Cabinet",
    "Atelier",
    "Menuiserie",
    "Pharmacie",
];
const TOWNS: &[&str] =
    &["Martin", "Lefevre", "Moreau", "Dubois", "Laurent", "Simon", "Michel", "Garcia", "Bernard", "Petit"];
const FORMS: &[&str] = &["SARL", "SAS", "SA", "EURL", ""];

/// Generates `n_invoices` open invoices over `n_customers`, and `n_credits` labelled credits.
pub fn generate(n_invoices: usize, n_customers: usize, n_credits: usize, seed: u64) -> World {
    let mut rng = fastrand::Rng::with_seed(seed);
    let eur = |m: i64| Money::new(m, Currency::EUR);
    let base = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap_or_default();
    let payers: Vec<Payer> = (0..n_customers)
        .map(|c| Payer {
            customer_id: format!("C{c:06}"),
            name: format!(
                "{} {} {} {}",
                WORDS[c % WORDS.len()],
                TOWNS[(c / 10) % TOWNS.len()],
                c,
                FORMS[c % FORMS.len()]
            )
            .trim()
            .to_string(),
            ibans: if c % 3 == 0 { vec![] } else { vec![iban(c as u64)] },
        })
        .collect();
    let invoices: Vec<OpenInvoice> = (0..n_invoices)
        .map(|i| {
            let issue = base + Duration::days(rng.i64(0..170));
            let total = rng.i64(5_000..2_000_000);
            OpenInvoice {
                number: format!("FA-2026-{:07}", i + 1),
                customer_id: format!("C{:06}", rng.usize(0..n_customers)),
                issue_date: Some(issue),
                due_date: issue + Duration::days(30),
                total: eur(total),
                open: eur(total),
            }
        })
        .collect();
    let mut by_customer: std::collections::HashMap<&str, Vec<usize>> = Default::default();
    for (i, inv) in invoices.iter().enumerate() {
        by_customer.entry(&inv.customer_id).or_default().push(i);
    }
    let mut credits = Vec::with_capacity(n_credits);
    let mut used = vec![false; invoices.len()];
    while credits.len() < n_credits {
        let i = rng.usize(0..invoices.len());
        if used[i] {
            continue;
        }
        used[i] = true;
        let inv = &invoices[i];
        let cust: usize = inv.customer_id[1..].parse().unwrap_or(0);
        let payer = &payers[cust];
        let known_iban = !payer.ibans.is_empty();
        let booking = inv.issue_date.unwrap_or(base) + Duration::days(rng.i64(5..60));
        let mut credit = Credit {
            amount: inv.open,
            booking_date: booking,
            counterparty_name: Some(noisy_name(&payer.name, &mut rng)),
            counterparty_iban: if known_iban && rng.u8(0..10) < 8 {
                payer.ibans.first().cloned()
            } else {
                Some(iban(9_000_000 + cust as u64))
            },
            remittance: None,
            structured_ref: None,
            end_to_end_id: None,
        };
        let has_iban = credit.counterparty_iban.as_ref() == payer.ibans.first();
        let roll = rng.u8(0..100);
        let (kind, truth, unambiguous): (&'static str, Vec<String>, bool) = match roll {
            0..=39 => {
                credit.remittance = Some(format!(
                    "{} {}",
                    ["Facture", "Paiement facture", "INV", "Reglement", "fact."][rng.usize(0..5)],
                    ref_variant(&inv.number, &mut rng)
                ));
                ("reference", vec![inv.number.clone()], true)
            }
            40..=49 => {
                credit.remittance = Some(format!("Facture {}", typo(&inv.number, &mut rng)));
                ("typo", vec![inv.number.clone()], has_iban)
            }
            50..=59 => {
                // Two invoices of the same customer in one payment.
                let others: Vec<usize> =
                    by_customer[inv.customer_id.as_str()].iter().copied().filter(|j| *j != i && !used[*j]).collect();
                match others.first() {
                    Some(&j) => {
                        used[j] = true;
                        let inv2 = &invoices[j];
                        credit.amount = eur(inv.open.minor + inv2.open.minor);
                        credit.remittance = Some(format!(
                            "Factures {} et {}",
                            ref_variant(&inv.number, &mut rng),
                            ref_variant(&inv2.number, &mut rng)
                        ));
                        ("two invoices", vec![inv.number.clone(), inv2.number.clone()], true)
                    }
                    None => {
                        credit.remittance = Some(inv.number.clone());
                        ("reference", vec![inv.number.clone()], true)
                    }
                }
            }
            60..=71 => {
                credit.remittance =
                    Some(["VIREMENT", "Paiement", "", "Virement SEPA recu"][rng.usize(0..4)].to_string());
                let same_amount =
                    by_customer[inv.customer_id.as_str()].iter().filter(|j| invoices[**j].open == inv.open).count();
                ("payer only", vec![inv.number.clone()], has_iban && same_amount == 1)
            }
            72..=77 => {
                let fee = rng.i64(150..1_200).min(inv.open.minor / 100);
                credit.amount = eur(inv.open.minor - fee);
                credit.remittance = Some(ref_variant(&inv.number, &mut rng));
                ("bank fee", vec![inv.number.clone()], true)
            }
            78..=82 => {
                credit.amount = eur(inv.open.minor * rng.i64(20..80) / 100);
                credit.remittance = Some(format!("Acompte {}", ref_variant(&inv.number, &mut rng)));
                ("partial", vec![inv.number.clone()], has_iban)
            }
            83..=86 => {
                credit.amount = eur(inv.open.minor - (inv.total.minor * 200 + 5_000) / 10_000);
                credit.booking_date = inv.issue_date.unwrap_or(base) + Duration::days(rng.i64(1..10));
                credit.remittance = Some(format!("{} escompte 2%", ref_variant(&inv.number, &mut rng)));
                ("discount", vec![inv.number.clone()], true)
            }
            87..=93 => {
                // Unknown payer, no reference: not ours to apply.
                credit.counterparty_iban = Some(iban(50_000_000 + rng.u64(0..1_000_000)));
                credit.counterparty_name = Some(format!("Client inconnu {}", rng.u32(..)));
                credit.remittance = Some("Reglement".into());
                ("no information", vec![], false)
            }
            _ => {
                credit.amount = eur(rng.i64(1_000..500_000));
                credit.counterparty_iban = Some(iban(60_000_000 + rng.u64(0..1_000_000)));
                credit.counterparty_name = Some("SCI DES LILAS".into());
                credit.remittance = Some(format!("Loyer {}", rng.u32(1..12)));
                ("unrelated", vec![], false)
            }
        };
        credits.push(Labelled { credit, truth, unambiguous, kind });
    }
    World { invoices, payers, credits }
}

fn ref_variant(number: &str, rng: &mut fastrand::Rng) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let tail = &number[8..]; // the sequence part of FA-2026-NNNNNNN
    match rng.u8(0..6) {
        0 => number.to_string(),
        1 => number.to_lowercase().replace('-', ""),
        2 => number.replace('-', " "),
        3 => format!("2026-{tail}"),
        4 => format!("FA-2026-{}", tail.trim_start_matches('0')),
        _ => format!("FA{digits}"),
    }
}

fn typo(number: &str, rng: &mut fastrand::Rng) -> String {
    let mut b: Vec<u8> = number.bytes().collect();
    let digit_pos: Vec<usize> = (8..b.len()).collect();
    let p = digit_pos[rng.usize(0..digit_pos.len() - 1)];
    if rng.bool() && b[p] != b[p + 1] {
        b.swap(p, p + 1);
    } else {
        b[p] = if b[p] == b'9' { b'8' } else { b[p] + 1 };
    }
    String::from_utf8(b).unwrap_or_default()
}

fn noisy_name(name: &str, rng: &mut fastrand::Rng) -> String {
    match rng.u8(0..3) {
        0 => name.to_uppercase(),
        1 => {
            name.split_whitespace().filter(|w| !["SARL", "SAS", "SA", "EURL"].contains(w)).collect::<Vec<_>>().join(" ")
        }
        _ => name.to_string(),
    }
}

/// Figures of one run.
pub struct Accuracy {
    pub matched: usize,
    pub matched_correct: usize,
    pub unambiguous: usize,
    pub unambiguous_matched: usize,
    pub by_kind: Vec<(&'static str, usize, usize, usize)>,
}

/// Matches every credit in order (applying what is matched) and scores against the truth.
pub fn evaluate(world: World, config: MatchConfig) -> (Accuracy, f64, f64) {
    let t0 = Instant::now();
    let mut matcher = Matcher::new(world.invoices, &world.payers, config);
    let build = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let mut acc =
        Accuracy { matched: 0, matched_correct: 0, unambiguous: 0, unambiguous_matched: 0, by_kind: Vec::new() };
    let mut kinds: std::collections::BTreeMap<&'static str, (usize, usize, usize)> = Default::default();
    for l in &world.credits {
        let r = matcher.match_credit(&l.credit);
        let k = kinds.entry(l.kind).or_default();
        k.0 += 1;
        if l.unambiguous {
            acc.unambiguous += 1;
        }
        if r.status == MatchStatus::Matched
            && let Some(best) = r.best()
        {
            acc.matched += 1;
            k.1 += 1;
            let mut got: Vec<&str> = best.allocations.iter().map(|a| a.invoice.as_str()).collect();
            let mut want: Vec<&str> = l.truth.iter().map(String::as_str).collect();
            got.sort();
            want.sort();
            if got == want {
                acc.matched_correct += 1;
                k.2 += 1;
                if l.unambiguous {
                    acc.unambiguous_matched += 1;
                }
            }
            for a in &best.allocations {
                matcher.consume(&a.invoice, a.amount, a.write_off);
            }
        }
    }
    acc.by_kind = kinds.into_iter().map(|(k, (n, m, c))| (k, n, m, c)).collect();
    (acc, build, t1.elapsed().as_secs_f64())
}

pub fn report(acc: &Accuracy) -> String {
    let mut s = String::new();
    let pct = |a: usize, b: usize| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
    let _ = writeln!(
        s,
        "accuracy: precision of `matched` {:.2} % ({} of {}), unambiguous credits matched {:.2} % ({} of {}) [targets ≥ 99.5 %, ≥ 90 %]",
        pct(acc.matched_correct, acc.matched),
        acc.matched_correct,
        acc.matched,
        pct(acc.unambiguous_matched, acc.unambiguous),
        acc.unambiguous_matched,
        acc.unambiguous
    );
    for (kind, n, m, c) in &acc.by_kind {
        let _ = writeln!(s, "  {kind:<15} {n:>7} credits, {m:>7} matched, {c:>7} correct");
    }
    s
}
