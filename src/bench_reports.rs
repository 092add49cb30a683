//! `relance bench reports`: server time of every report on a generated
//! world (default 1,000,000 invoices, 50,000 customers) in a temporary
//! SQLite store.
//!
//! The world comes from `Store::generate_report_world` (set-based SQL: two
//! years of invoices in three currencies, most paid, one in five through a
//! payment Relance applied; reminders, replies, promises). Each report is
//! then computed as the API does it (store query, engine figure, JSON body;
//! the SVG chart where the page draws one), `--runs` times; the median and
//! the slowest run are printed. Target: < 300 ms per report.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Days, Months, NaiveDate, TimeZone, Utc};

use relance_domain::TenantId;
use relance_engine::reports::{self, AgedGrouping, svg};
use relance_store::{ReportWorld, Store};

#[derive(clap::Args)]
pub struct ReportsBenchArgs {
    #[arg(long, default_value_t = 1_000_000)]
    invoices: u64,
    #[arg(long, default_value_t = 50_000)]
    customers: u64,
    /// Times each report is computed.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Keep the database here instead of a temporary folder.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

/// Target server time per report.
const TARGET: Duration = Duration::from_millis(300);

pub fn bench_reports(args: &ReportsBenchArgs) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let store = Store::open_sqlite(&dir.join("bench-reports.sqlite")).context("opening the store")?;
    let tenant = TenantId::new("bench").context("tenant")?;
    let as_of = NaiveDate::from_ymd_opt(2026, 3, 15).context("date")?;
    let t0 = Instant::now();
    let world = ReportWorld { invoices: args.invoices, customers: args.customers, as_of };
    let counts = store.generate_report_world(&tenant, &world)?;
    println!(
        "world: {} invoices, {} customers, {} allocations, {} reminders, {} replies, {} promises, built in {:.1} s",
        counts.invoices,
        counts.customers,
        counts.allocations,
        counts.reminders,
        counts.replies,
        counts.promises,
        t0.elapsed().as_secs_f64()
    );
    let from = as_of.checked_sub_days(Days::new(90)).context("date")?;
    let start = Utc.from_utc_datetime(&from.and_hms_opt(0, 0, 0).context("time")?);
    let end = Utc.from_utc_datetime(&as_of.and_hms_opt(0, 0, 0).context("time")?) + chrono::Duration::days(1);
    let ends = reports::month_ends(as_of, 12);
    let (first_end, last_end) = (ends.first().copied().unwrap_or(as_of), ends.last().copied().unwrap_or(as_of));

    type Case<'a> = (&'a str, Box<dyn Fn() -> anyhow::Result<usize> + 'a>);
    let s = &store;
    let t = &tenant;
    let cases: Vec<Case<'_>> = vec![
        (
            "aged balance by customer",
            Box::new(move || {
                let sums = s.aged_sums(t, as_of, AgedGrouping::Customer)?;
                let ab = reports::aged_balance_from_sums(&sums, as_of, AgedGrouping::Customer)?;
                Ok(serde_json::to_string(&ab)?.len())
            }),
        ),
        (
            "aged balance by segment + SVG",
            Box::new(move || {
                let sums = s.aged_sums(t, as_of, AgedGrouping::Segment)?;
                let ab = reports::aged_balance_from_sums(&sums, as_of, AgedGrouping::Segment)?;
                let mut n = serde_json::to_string(&ab)?.len();
                for total in &ab.totals {
                    let cats: Vec<String> = reports::AgeBucket::ALL.iter().map(|b| b.label().to_string()).collect();
                    let series: Vec<svg::Series> = ab
                        .rows
                        .iter()
                        .filter(|r| r.currency == total.currency)
                        .map(|r| svg::Series {
                            name: r.key.clone(),
                            values: r.buckets.iter().map(|m| m.minor).collect(),
                        })
                        .collect();
                    let caption = svg::Caption { title: "Aged balance".into(), desc: String::new() };
                    n += svg::stacked_bar_chart(&caption, &cats, &series, &svg::Scale::money(total.currency)).len();
                }
                Ok(n)
            }),
        ),
        (
            "DSO (countback, 24 months)",
            Box::new(move || {
                let open = s.open_by_currency(t)?;
                let sales = s.monthly_invoiced(t, as_of.checked_sub_months(Months::new(24)).unwrap_or(as_of))?;
                Ok(serde_json::to_string(&reports::dso_by_currency(&open, &sales, as_of)?)?.len())
            }),
        ),
        (
            "overdue over 12 months + SVG",
            Box::new(move || {
                let pieces = s.overdue_pieces(t, first_end, last_end)?;
                let series = reports::overdue_series(&pieces, &ends)?;
                let labels: Vec<String> = ends.iter().map(|d| d.format("%Y-%m").to_string()).collect();
                let mut n = serde_json::to_string(&series)?.len();
                for one in &series {
                    let values = svg::Series {
                        name: one.currency.code().to_string(),
                        values: one.points.iter().map(|p| p.overdue.minor).collect(),
                    };
                    let caption = svg::Caption { title: "Overdue".into(), desc: String::new() };
                    n += svg::line_chart(&caption, &labels, &[values], &svg::Scale::money(one.currency)).len();
                }
                Ok(n)
            }),
        ),
        (
            "DMP (90 days)",
            Box::new(move || {
                let settlements = s.settlements(t, from, as_of)?;
                Ok(serde_json::to_string(&reports::dmp_by_currency(&settlements)?)?.len())
            }),
        ),
        ("promises (90 days)", Box::new(move || Ok(serde_json::to_string(&s.promise_counts(t, from, as_of)?)?.len()))),
        (
            "cash rates (90 days)",
            Box::new(move || {
                let r = s.cash_rates(t, Some(from))?;
                Ok(format!("{r:?}").len())
            }),
        ),
        (
            "reminders by step and channel (90 days)",
            Box::new(move || Ok(serde_json::to_string(&s.reminders_sent(t, start, end)?)?.len())),
        ),
        (
            "replies by intent (90 days)",
            Box::new(move || {
                let table = reports::replies_by_intent(&s.replies_by_intent(t, start, end)?);
                Ok(serde_json::to_string(&table)?.len())
            }),
        ),
    ];
    let mut slowest = Duration::ZERO;
    println!("{:<42} {:>10} {:>10} {:>10}", "report", "median ms", "max ms", "bytes");
    for (name, run) in &cases {
        let mut times = Vec::with_capacity(args.runs);
        let mut bytes = 0;
        for _ in 0..args.runs.max(1) {
            let t1 = Instant::now();
            bytes = run()?;
            times.push(t1.elapsed());
        }
        times.sort();
        let median = times[times.len() / 2];
        let max = times[times.len() - 1];
        slowest = slowest.max(median);
        println!("{name:<42} {:>10.1} {:>10.1} {bytes:>10}", ms(median), ms(max));
    }
    let ok = slowest < TARGET;
    println!(
        "slowest median {:.1} ms (target < {} ms): {}",
        ms(slowest),
        TARGET.as_millis(),
        if ok { "ok" } else { "MISSED" }
    );
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
