//! `relance bench match --store sqlite|postgres://…`: cash application end to
//! end through the store (issue #17's "match 100k × 1M ≤ 10 s end to end").
//!
//! The same generated world as `bench match` is written to a fresh store
//! (the invoices through the importer, the credits as one stored statement),
//! then the daemon's own pass runs on it (`cash::apply_pending`: read the
//! open invoices and payers, build the matcher, match every credit and
//! apply the sure ones). The figures are that pass's, split in reading,
//! matching and writing; then the stored result is checked against the
//! in-memory matcher on the same world (the same credits must be matched,
//! to the same invoices).

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};

use relance_domain::{CustomerRecord, InvoiceRecord, PaymentStatus, TenantId};
use relance_engine::matching::{MatchConfig, MatchStatus, Matcher};
use relance_store::{DatabaseUrl, ImportKey, InvoiceBatch, NewPayment, Store};

use crate::bench::{ScratchSchema, cpu_model, peak_rss_kb};
use crate::bench_cash::{World, generate};

/// Invoices per import batch (as the CSV connector does).
const BATCH: usize = 20_000;

/// Runs the end-to-end cash bench on `store` (`sqlite` or a `postgres://…` URL
/// of a role that may create schemas).
pub fn bench_match_store(
    invoices: usize,
    customers: usize,
    credits: usize,
    seed: u64,
    store: &str,
) -> anyhow::Result<ExitCode> {
    let t0 = Instant::now();
    let world = generate(invoices, customers, credits, seed);
    println!(
        "generated {invoices} open invoices ({customers} customers) and {credits} credits in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    let (backend, result) = if store == "sqlite" {
        let dir = tempfile::tempdir()?;
        let s = Store::open(&DatabaseUrl::Sqlite(dir.path().join("relance.db")))?;
        ("SQLite", run(&world, &s))
    } else {
        let scratch = ScratchSchema::create(store, "match")?;
        let r = Store::open_postgres(&scratch.url).map_err(anyhow::Error::from).and_then(|s| run(&world, &s));
        scratch.drop()?;
        ("PostgreSQL", r)
    };
    let f = result?;
    println!(
        "load into {backend}: {invoices} invoices in {:.2} s, {credits} credits stored in {:.2} s",
        f.load_invoices, f.load_credits
    );
    println!(
        "cash pass on {backend}: {credits} credits in {:.2} s = {:.0} credits/s end to end (matched {}, suggested {}, unmatched {}); peak RSS {:.0} MB [target ≤ 10 s]",
        f.pass,
        credits as f64 / f.pass,
        f.matched,
        f.suggested,
        f.unmatched,
        peak_rss_kb().unwrap_or(0) as f64 / 1024.0
    );
    println!("check: the store applied the same {} credits to the same invoices as the matcher alone", f.matched);
    println!("machine: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), cpu_model());
    Ok(ExitCode::SUCCESS)
}

/// What one run measured.
struct Figures {
    load_invoices: f64,
    load_credits: f64,
    pass: f64,
    matched: u64,
    suggested: u64,
    unmatched: u64,
}

fn run(world: &World, store: &Store) -> anyhow::Result<Figures> {
    let tenant = TenantId::new("bench")?;
    let t0 = Instant::now();
    load_invoices(world, store, &tenant)?;
    let load_invoices = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let payments: Vec<NewPayment> = world
        .credits
        .iter()
        .enumerate()
        .map(|(n, l)| NewPayment { dedupe_key: format!("bench:{n}"), account: None, line: l.credit.clone() })
        .collect();
    store.store_statement(&tenant, "bank", "sha256:bench", "bench statement", None, "generated", &payments)?;
    let load_credits = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let summary = relance_runtime::cash::apply_pending(store, &tenant, &MatchConfig::default(), &|| false)?;
    let pass = t2.elapsed().as_secs_f64();
    check(world, store, &tenant)?;
    Ok(Figures {
        load_invoices,
        load_credits,
        pass,
        matched: summary.matched,
        suggested: summary.suggested,
        unmatched: summary.unmatched,
    })
}

/// The world's invoices through the importer, in batches, as one import.
fn load_invoices(world: &World, store: &Store, tenant: &TenantId) -> anyhow::Result<()> {
    let key = ImportKey { tenant, source: "erp", unit: "bench", label: "bench world", full_export: false };
    let mut state = store.begin_import(&key)?;
    state.expect_rows(world.invoices.len() as u64);
    let customers: Vec<CustomerRecord> = world
        .payers
        .iter()
        .map(|p| CustomerRecord {
            id: p.customer_id.clone(),
            name: p.name.clone(),
            emails: vec![],
            phones: vec![],
            ibans: p.ibans.clone(),
            segment: None,
            language: None,
            address: None,
        })
        .collect();
    for start in (0..world.invoices.len()).step_by(BATCH) {
        let end = (start + BATCH).min(world.invoices.len());
        let records = (start..end)
            .map(|i| {
                let o = world.open_invoice(i);
                InvoiceRecord {
                    number: o.number,
                    customer: customers[world.invoices[i].customer as usize].clone(),
                    issue_date: o.issue_date,
                    due_date: o.due_date,
                    total: o.total,
                    open: o.open,
                    status: None,
                }
            })
            .collect();
        let batch = InvoiceBatch { records, position_after: end as u64, ..Default::default() };
        store.apply_invoice_batch(&mut state, &batch)?;
    }
    store.finish_import(&mut state, "bench world")?;
    Ok(())
}

/// The store's result equals the in-memory matcher's on the same world: the
/// same credits matched, each to the same invoices and amounts.
fn check(world: &World, store: &Store, tenant: &TenantId) -> anyhow::Result<()> {
    let mut matcher = Matcher::from_invoices(world.open_invoices(), &world.payers, MatchConfig::default());
    let mut expected: HashMap<usize, Vec<(String, i64)>> = HashMap::new();
    for (n, l) in world.credits.iter().enumerate() {
        let r = matcher.match_credit(&l.credit);
        if r.status == MatchStatus::Matched
            && let Some(best) = r.best()
        {
            let mut got: Vec<(String, i64)> =
                best.allocations.iter().map(|a| (a.invoice.clone(), a.amount.minor)).collect();
            got.sort();
            expected.insert(n, got);
            for a in &best.allocations {
                matcher.consume(&a.invoice, a.amount, a.write_off);
            }
            if let (Some(iban), Some(c)) = (&l.credit.counterparty_iban, &best.customer_id) {
                matcher.learn_iban(iban, c);
            }
        }
    }
    // One statement in a fresh store: the payments' ids follow the credits' order.
    let limit = u32::try_from(world.credits.len()).context("too many credits")?;
    let stored = store.payments_with_status(tenant, &[], limit)?.items;
    if stored.len() != world.credits.len() {
        bail!("{} payments stored for {} credits", stored.len(), world.credits.len());
    }
    let mut matched = 0;
    for (n, p) in stored.iter().enumerate() {
        let want = expected.get(&n);
        if p.status != PaymentStatus::Matched {
            if want.is_some() {
                bail!("credit {n}: matched by the matcher alone, {} in the store", p.status);
            }
            continue;
        }
        matched += 1;
        let want = want.with_context(|| format!("credit {n}: matched by the store only"))?;
        let mut got: Vec<(String, i64)> =
            store.allocations(tenant, p.id)?.into_iter().map(|a| (a.invoice, a.amount.minor)).collect();
        got.sort();
        if &got != want {
            bail!("credit {n}: the store applied {got:?}, the matcher alone {want:?}");
        }
    }
    if matched != expected.len() {
        bail!("the store matched {matched} credits, the matcher alone {}", expected.len());
    }
    Ok(())
}
