//! `relance bench match` and `relance bench parse`: cash-application figures.
//!
//! `bench match` generates open invoices and credits with realistic remittance
//! noise (separators, case, missing prefixes, dropped zeros, typos, several
//! invoices, no reference, bank fees, partial payments, discounts, unknown and
//! known payers, same-amount ambiguities, unrelated credits). Every credit
//! carries the invoices it really pays, so the run prints both speed and
//! accuracy: precision of `matched`, and the share of unambiguous credits
//! matched.
//!
//! `bench match --matrix` runs the scaling matrix: every cell (invoices,
//! customers, credits) in a child process of the same binary, so that the
//! peak RSS it reports (VmHWM) is the cell's own; then the growth exponents
//! between sizes. `--dump FILE` writes every credit's decision, to compare
//! two builds line by line.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, bail};

use chrono::{Duration, NaiveDate};

use relance_domain::BankLine;
use relance_domain::money::{Currency, Money};
use relance_engine::matching::{MatchConfig, MatchResult, MatchStatus, Matcher, OpenInvoice, Payer};

/// One generated credit and the truth about it.
pub struct Labelled {
    pub credit: BankLine,
    /// The invoices this credit pays (empty: pays nothing we know).
    pub truth: Vec<String>,
    /// Enough information for a careful clerk to apply it without asking.
    pub unambiguous: bool,
    pub kind: &'static str,
}

/// The generated open invoices, kept compact (number and customer id are
/// derived from indexes) so that a 4M-invoice run measures the matcher, not
/// the generator.
pub struct World {
    pub invoices: Vec<GenInvoice>,
    pub payers: Vec<Payer>,
    pub credits: Vec<Labelled>,
}

/// One generated open invoice: `FA-2026-{index + 1:07}`, open = total.
pub struct GenInvoice {
    pub customer: u32,
    pub issue: NaiveDate,
    pub total: i64,
}

impl World {
    /// The invoice number of invoice `i`.
    pub fn number(i: usize) -> String {
        format!("FA-2026-{:07}", i + 1)
    }

    /// The customer id of customer `c`.
    pub fn customer_id(c: u32) -> String {
        format!("C{c:06}")
    }

    /// Invoice `i` as the matcher sees it.
    pub fn open_invoice(&self, i: usize) -> OpenInvoice {
        let g = &self.invoices[i];
        let eur = |m: i64| Money::new(m, Currency::EUR);
        OpenInvoice {
            number: World::number(i),
            customer_id: World::customer_id(g.customer),
            issue_date: Some(g.issue),
            due_date: g.issue + Duration::days(30),
            total: eur(g.total),
            open: eur(g.total),
        }
    }

    /// Every invoice as the matcher sees it, built one at a time.
    pub fn open_invoices(&self) -> impl Iterator<Item = OpenInvoice> + '_ {
        (0..self.invoices.len()).map(|i| self.open_invoice(i))
    }
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
/// Each credit uses one or two invoices of its own: `n_credits` must stay well below `n_invoices`.
pub fn generate(n_invoices: usize, n_customers: usize, n_credits: usize, seed: u64) -> World {
    let mut rng = fastrand::Rng::with_seed(seed);
    let eur = |m: i64| Money::new(m, Currency::EUR);
    let base = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap_or_default();
    let payers: Vec<Payer> = (0..n_customers)
        .map(|c| Payer {
            customer_id: World::customer_id(c as u32),
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
    let invoices: Vec<GenInvoice> = (0..n_invoices)
        .map(|_| {
            let issue = base + Duration::days(rng.i64(0..170));
            let total = rng.i64(5_000..2_000_000);
            GenInvoice { customer: rng.usize(0..n_customers) as u32, issue, total }
        })
        .collect();
    let mut by_customer: Vec<Vec<usize>> = vec![Vec::new(); n_customers];
    for (i, inv) in invoices.iter().enumerate() {
        by_customer[inv.customer as usize].push(i);
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
        let number = World::number(i);
        let open = eur(inv.total);
        let cust = inv.customer as usize;
        let payer = &payers[cust];
        let known_iban = !payer.ibans.is_empty();
        let booking = inv.issue + Duration::days(rng.i64(5..60));
        let mut credit = BankLine {
            counterparty_name: Some(noisy_name(&payer.name, &mut rng)),
            counterparty_iban: if known_iban && rng.u8(0..10) < 8 {
                payer.ibans.first().cloned()
            } else {
                Some(iban(9_000_000 + cust as u64))
            },
            ..BankLine::credit(booking, open)
        };
        let has_iban = credit.counterparty_iban.as_ref() == payer.ibans.first();
        let roll = rng.u8(0..100);
        let (kind, truth, unambiguous): (&'static str, Vec<String>, bool) = match roll {
            0..=39 => {
                credit.remittance = Some(format!(
                    "{} {}",
                    ["Facture", "Paiement facture", "INV", "Reglement", "fact."][rng.usize(0..5)],
                    ref_variant(&number, &mut rng)
                ));
                ("reference", vec![number.clone()], true)
            }
            40..=49 => {
                credit.remittance = Some(format!("Facture {}", typo(&number, &mut rng)));
                ("typo", vec![number.clone()], has_iban)
            }
            50..=59 => {
                // Two invoices of the same customer in one payment.
                let others: Vec<usize> = by_customer[cust].iter().copied().filter(|j| *j != i && !used[*j]).collect();
                match others.first() {
                    Some(&j) => {
                        used[j] = true;
                        let inv2 = &invoices[j];
                        let number2 = World::number(j);
                        credit.amount = eur(inv.total + inv2.total);
                        credit.remittance = Some(format!(
                            "Factures {} et {}",
                            ref_variant(&number, &mut rng),
                            ref_variant(&number2, &mut rng)
                        ));
                        ("two invoices", vec![number.clone(), number2], true)
                    }
                    None => {
                        credit.remittance = Some(number.clone());
                        ("reference", vec![number.clone()], true)
                    }
                }
            }
            60..=71 => {
                credit.remittance =
                    Some(["VIREMENT", "Paiement", "", "Virement SEPA recu"][rng.usize(0..4)].to_string());
                let same_amount = by_customer[cust].iter().filter(|j| invoices[**j].total == inv.total).count();
                ("payer only", vec![number.clone()], has_iban && same_amount == 1)
            }
            72..=77 => {
                let fee = rng.i64(150..1_200).min(inv.total / 100);
                credit.amount = eur(inv.total - fee);
                credit.remittance = Some(ref_variant(&number, &mut rng));
                ("bank fee", vec![number.clone()], true)
            }
            78..=82 => {
                credit.amount = eur(inv.total * rng.i64(20..80) / 100);
                credit.remittance = Some(format!("Acompte {}", ref_variant(&number, &mut rng)));
                ("partial", vec![number.clone()], has_iban)
            }
            83..=86 => {
                credit.amount = eur(inv.total - (inv.total * 200 + 5_000) / 10_000);
                credit.booking_date = inv.issue + Duration::days(rng.i64(1..10));
                credit.remittance = Some(format!("{} escompte 2%", ref_variant(&number, &mut rng)));
                ("discount", vec![number.clone()], true)
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

/// Times of one run, in seconds, and the size of the matcher's index.
pub struct Timing {
    /// Building the matcher, producing its input invoices included.
    pub build: f64,
    pub matching: f64,
    /// CPU time of the same two phases (on a shared machine, less sensitive to other load).
    pub build_cpu: f64,
    pub matching_cpu: f64,
    /// Heap bytes held by the matcher after the build.
    pub index_bytes: usize,
}

/// Matches every credit in order (applying what is matched) and scores against the truth.
/// With `dump`, writes one line per credit (status, allocations, confidence, reasons) to compare runs.
pub fn evaluate(
    world: &World,
    config: MatchConfig,
    mut dump: Option<&mut dyn Write>,
) -> io::Result<(Accuracy, Timing)> {
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let mut matcher = Matcher::from_invoices(world.open_invoices(), &world.payers, config);
    let (build, build_cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let index_bytes = matcher.heap_bytes();
    let (t1, c1) = (Instant::now(), cpu_seconds());
    let mut acc =
        Accuracy { matched: 0, matched_correct: 0, unambiguous: 0, unambiguous_matched: 0, by_kind: Vec::new() };
    let mut kinds: std::collections::BTreeMap<&'static str, (usize, usize, usize)> = Default::default();
    for (n, l) in world.credits.iter().enumerate() {
        let r = matcher.match_credit(&l.credit);
        if let Some(out) = dump.as_mut() {
            dump_line(&mut **out, n, l, &r)?;
        }
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
    let (matching, matching_cpu) = (t1.elapsed().as_secs_f64(), cpu_seconds() - c1);
    Ok((acc, Timing { build, matching, build_cpu, matching_cpu, index_bytes }))
}

/// CPU time of this thread (user + system), in seconds, from /proc (0 when unavailable).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else { return 0.0 };
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Linux reports these in USER_HZ, 100 per second.
    (ticks(11) + ticks(12)) / 100.0
}

/// One credit's decision as a tab-separated line: index, kind, status, best allocations,
/// confidence, candidate count, best reasons.
fn dump_line(out: &mut dyn Write, n: usize, l: &Labelled, r: &MatchResult) -> io::Result<()> {
    let status = match r.status {
        MatchStatus::Matched => "matched",
        MatchStatus::Suggested => "suggested",
        MatchStatus::Unmatched => "unmatched",
    };
    let (allocations, confidence, reasons) = match r.best() {
        Some(b) => (
            b.allocations
                .iter()
                .map(|a| {
                    format!(
                        "{}:{}:{}",
                        a.invoice,
                        a.amount.to_decimal_string(),
                        a.write_off.map(|w| w.to_decimal_string()).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join(","),
            b.confidence,
            b.reasons.join(" | "),
        ),
        None => (String::new(), 0.0, String::new()),
    };
    writeln!(out, "{n}\t{}\t{status}\t{allocations}\t{confidence:.3}\t{}\t{reasons}", l.kind, r.candidates.len())
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

/// `relance bench match` options.
#[derive(clap::Args)]
pub struct MatchBenchArgs {
    #[arg(long, default_value_t = 1_000_000)]
    invoices: usize,
    #[arg(long, default_value_t = 50_000)]
    customers: usize,
    #[arg(long, default_value_t = 100_000)]
    credits: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Run the scaling matrix instead (customers, invoices and credits axes), each cell in
    /// a child process so that its peak RSS is its own; prints growth exponents.
    #[arg(long)]
    matrix: bool,
    /// With `--matrix`: runs of each cell; the fastest is reported (the machine may be shared).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Write one line per credit (status, allocations, confidence, reasons) to this file.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// End to end through a store instead of the matcher alone: `sqlite` (a
    /// scratch database) or `postgres://…` (a role that may create schemas; a
    /// scratch schema, dropped afterwards). Loads the world, then times the
    /// daemon's cash pass (read, match, apply) and checks it against the matcher.
    #[arg(long)]
    store: Option<String>,
    /// Print the machine-readable `cell` line (used by `--matrix`).
    #[arg(long, hide = true)]
    cell: bool,
}

/// One cell of the matrix: invoices, customers, credits.
type Cell = (usize, usize, usize);

/// The scaling matrix. Customers axis: 1M invoices and 100k credits at 2k to 500k
/// customers. Size axis: invoices, customers (1 per 20 invoices) and credits (1 per 10)
/// grow together. Credits axis: 1M invoices, 50k customers, 25k to 400k credits.
/// Invoices axis: 50k customers and 100k credits against 1M and 4M invoices.
const CUSTOMERS_AXIS: &[Cell] = &[
    (1_000_000, 2_000, 100_000),
    (1_000_000, 20_000, 100_000),
    (1_000_000, 50_000, 100_000),
    (1_000_000, 500_000, 100_000),
];
const SIZE_AXIS: &[Cell] = &[(100_000, 5_000, 10_000), (1_000_000, 50_000, 100_000), (4_000_000, 200_000, 400_000)];
const CREDITS_AXIS: &[Cell] =
    &[(1_000_000, 50_000, 25_000), (1_000_000, 50_000, 100_000), (1_000_000, 50_000, 400_000)];
const INVOICES_AXIS: &[Cell] = &[(1_000_000, 50_000, 100_000), (4_000_000, 50_000, 100_000)];

pub fn bench_match(args: &MatchBenchArgs) -> anyhow::Result<ExitCode> {
    if args.matrix {
        return matrix(args.seed, args.repeat.max(1));
    }
    if args.credits * 2 > args.invoices {
        bail!("--credits must be at most half of --invoices (each credit pays one or two invoices of its own)");
    }
    let (invoices, customers, credits) = (args.invoices, args.customers.max(1), args.credits);
    if let Some(store) = &args.store {
        return crate::bench_match_store::bench_match_store(invoices, customers, credits, args.seed, store);
    }
    let t0 = Instant::now();
    let world = generate(invoices, customers, credits, args.seed);
    let generated = t0.elapsed().as_secs_f64();
    println!("generated {invoices} open invoices ({customers} customers) and {credits} credits in {generated:.2} s");
    let mut dump = match &args.dump {
        Some(p) => Some(io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };
    let (acc, t) = evaluate(&world, MatchConfig::default(), dump.as_mut().map(|d| d as &mut dyn Write))?;
    if let Some(mut d) = dump {
        d.flush()?;
    }
    let rss_kb = crate::bench::peak_rss_kb().unwrap_or(0);
    println!(
        "match: index built in {:.2} s (CPU {:.2} s; {:.0} bytes per invoice), {credits} credits matched in {:.2} s (CPU {:.2} s; {:.0} credits/s); total {:.2} s; peak RSS {:.0} MB [targets ≤ 3 s, ≤ 1 GB]",
        t.build,
        t.build_cpu,
        t.index_bytes as f64 / invoices.max(1) as f64,
        t.matching,
        t.matching_cpu,
        credits as f64 / t.matching,
        t.build + t.matching,
        rss_kb as f64 / 1024.0
    );
    print!("{}", report(&acc));
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::bench::cpu_model()
    );
    if args.cell {
        println!(
            "cell {invoices} {customers} {credits} {generated:.4} {:.4} {:.4} {rss_kb} {} {} {} {} {} {:.2} {:.2}",
            t.build,
            t.matching,
            t.index_bytes,
            acc.matched,
            acc.matched_correct,
            acc.unambiguous,
            acc.unambiguous_matched,
            t.build_cpu,
            t.matching_cpu
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Figures of one cell, read back from its child process.
struct CellResult {
    cell: Cell,
    build: f64,
    matching: f64,
    cpu: f64,
    rss_kb: u64,
    index_bytes: u64,
    precision: f64,
    recall: f64,
}

impl CellResult {
    fn total(&self) -> f64 {
        self.build + self.matching
    }
}

fn run_cell(cell: Cell, seed: u64) -> anyhow::Result<CellResult> {
    let (invoices, customers, credits) = cell;
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args(["bench", "match", "--cell", "--seed", &seed.to_string()])
        .args(["--invoices", &invoices.to_string(), "--customers", &customers.to_string()])
        .args(["--credits", &credits.to_string()])
        .output()
        .context("cannot start the cell's child process")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("cell {cell:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let line = stdout.lines().find_map(|l| l.strip_prefix("cell ")).context("the cell printed no figures")?;
    let f: Vec<f64> = line.split(' ').map(|x| x.parse::<f64>()).collect::<Result<_, _>>().context("bad cell line")?;
    let [
        _,
        _,
        _,
        _,
        build,
        matching,
        rss_kb,
        index_bytes,
        matched,
        correct,
        unambiguous,
        unambiguous_matched,
        build_cpu,
        matching_cpu,
    ] = f[..]
    else {
        bail!("bad cell line: {line}");
    };
    let pct = |a: f64, b: f64| if b > 0.0 { 100.0 * a / b } else { 0.0 };
    Ok(CellResult {
        cell,
        build,
        matching,
        cpu: build_cpu + matching_cpu,
        rss_kb: rss_kb as u64,
        index_bytes: index_bytes as u64,
        precision: pct(correct, matched),
        recall: pct(unambiguous_matched, unambiguous),
    })
}

/// Growth exponent of `t` between sizes `n1` and `n2`: log(t2/t1) / log(n2/n1).
fn exponent(t1: f64, t2: f64, n1: usize, n2: usize) -> f64 {
    (t2 / t1).ln() / (n2 as f64 / n1 as f64).ln()
}

fn matrix(seed: u64, repeat: usize) -> anyhow::Result<ExitCode> {
    println!("each cell run {repeat} time(s) in a child process; figures of the fastest run");
    let mut results: Vec<CellResult> = Vec::new();
    println!(
        "{:>9} {:>9} {:>8} | {:>7} {:>7} {:>7} {:>7} {:>10} {:>8} {:>8} | {:>9} {:>9}",
        "invoices",
        "customers",
        "credits",
        "build s",
        "match s",
        "total s",
        "CPU s",
        "credits/s",
        "RSS MB",
        "B/inv",
        "precision",
        "unambig."
    );
    for axis in [CUSTOMERS_AXIS, SIZE_AXIS, CREDITS_AXIS, INVOICES_AXIS] {
        for &cell in axis {
            if results.iter().any(|r| r.cell == cell) {
                continue;
            }
            let mut r = run_cell(cell, seed)?;
            for _ in 1..repeat {
                let again = run_cell(cell, seed)?;
                if again.total() < r.total() {
                    r = again;
                }
            }
            println!(
                "{:>9} {:>9} {:>8} | {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>10.0} {:>8.0} {:>8.0} | {:>8.2}% {:>8.2}%",
                cell.0,
                cell.1,
                cell.2,
                r.build,
                r.matching,
                r.total(),
                r.cpu,
                cell.2 as f64 / r.matching,
                r.rss_kb as f64 / 1024.0,
                r.index_bytes as f64 / cell.0 as f64,
                r.precision,
                r.recall
            );
            results.push(r);
        }
    }
    let get = |c: Cell| results.iter().find(|r| r.cell == c);
    println!("growth exponents (log(t2/t1) / log(n2/n1)) [target ≤ 1.1]:");
    for pair in SIZE_AXIS.windows(2) {
        if let (Some(a), Some(b)) = (get(pair[0]), get(pair[1])) {
            println!(
                "  size {} → {} invoices (customers and credits alike): total {:.2}, index build {:.2}, matching {:.2}",
                pair[0].0,
                pair[1].0,
                exponent(a.total(), b.total(), pair[0].0, pair[1].0),
                exponent(a.build, b.build, pair[0].0, pair[1].0),
                exponent(a.matching, b.matching, pair[0].2, pair[1].2)
            );
        }
    }
    for pair in INVOICES_AXIS.windows(2) {
        if let (Some(a), Some(b)) = (get(pair[0]), get(pair[1])) {
            println!(
                "  invoices {} → {} (50k customers, 100k credits): index build {:.2}, total {:.2}",
                pair[0].0,
                pair[1].0,
                exponent(a.build, b.build, pair[0].0, pair[1].0),
                exponent(a.total(), b.total(), pair[0].0, pair[1].0)
            );
        }
    }
    for pair in CREDITS_AXIS.windows(2) {
        if let (Some(a), Some(b)) = (get(pair[0]), get(pair[1])) {
            println!(
                "  credits {} → {} (1M invoices, 50k customers): matching {:.2}",
                pair[0].2,
                pair[1].2,
                exponent(a.matching, b.matching, pair[0].2, pair[1].2)
            );
        }
    }
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::bench::cpu_model()
    );
    Ok(ExitCode::SUCCESS)
}
