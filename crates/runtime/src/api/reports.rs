//! The reports under `/api/v1/tenants/{t}/reports/`: aged balance (per
//! customer or segment), DSO (countback), DMP, overdue over time, promises,
//! cash application rates, reminders by step and channel, replies by intent.
//! Definitions: `relance_engine::reports` and the README.
//!
//! Every report answers JSON, or CSV with `?format=csv` (a header row, RFC
//! 4180 quoting, amounts as decimal strings with a currency column,
//! `Content-Disposition: attachment; filename="<report>.csv"`); the CSV rows
//! are the JSON table's rows. Dates: `as_of` (default today in the tenant's
//! time zone), periods `from`/`to` (inclusive days, default the 90 days to
//! today). Bad parameters are a 400 naming them.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use relance_domain::money::{Currency, Money};
use relance_domain::{Channel, TenantId};
use relance_engine::replies::Intent;
use relance_engine::reports::{
    self, AgeBucket, AgedBalance, AgedGrouping, AgedRow, IntentCount, OverdueSeries, ReminderCount, bp_percent_text,
    channel_name, ratio_bp, tenths_text,
};

use super::{ApiError, ApiState, Params, authorize, blocking, openapi, params};
use crate::daemon::Runtime;

/// The reports, by the name of their route (`…/reports/<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    AgedBalance,
    Dso,
    Dmp,
    Overdue,
    Promises,
    Cash,
    Reminders,
    Replies,
}

impl Report {
    pub const ALL: [Report; 8] = [
        Report::AgedBalance,
        Report::Dso,
        Report::Dmp,
        Report::Overdue,
        Report::Promises,
        Report::Cash,
        Report::Reminders,
        Report::Replies,
    ];

    /// The route's last segment: `aged-balance`, `dso`…
    pub fn name(self) -> &'static str {
        match self {
            Report::AgedBalance => "aged-balance",
            Report::Dso => "dso",
            Report::Dmp => "dmp",
            Report::Overdue => "overdue",
            Report::Promises => "promises",
            Report::Cash => "cash",
            Report::Reminders => "reminders",
            Report::Replies => "replies",
        }
    }

    pub fn parse(name: &str) -> Option<Report> {
        Report::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// A report of `tenant` exactly as its API route answers it for the query
/// parameters `query` (JSON, or CSV with `format=csv`; a bad parameter is
/// the same 400), for a caller that has already checked who may read it:
/// the web pages show and export the API's own figures through this.
pub async fn report(rt: &Runtime, tenant: TenantId, which: Report, query: HashMap<String, String>) -> Response {
    let answer = match which {
        Report::AgedBalance => aged_balance_report(rt, tenant, query).await,
        Report::Dso => dso_report(rt, tenant, query).await,
        Report::Dmp => dmp_report(rt, tenant, query).await,
        Report::Overdue => overdue_report(rt, tenant, query).await,
        Report::Promises => promises_report(rt, tenant, query).await,
        Report::Cash => cash_report(rt, tenant, query).await,
        Report::Reminders => reminders_report(rt, tenant, query).await,
        Report::Replies => replies_report(rt, tenant, query).await,
    };
    answer.unwrap_or_else(IntoResponse::into_response)
}

/// Longest period a report reads (in days), and most months of a series.
const MAX_PERIOD_DAYS: i64 = 3660;
const MAX_MONTHS: u32 = 120;
/// Most rows per currency `top` may keep.
const MAX_TOP: u32 = 100_000;
const DEFAULT_PERIOD_DAYS: u64 = 90;

/// `?format=`: JSON by default, or CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Format {
    Json,
    Csv,
}

/// The query parameters of each report, for the OpenAPI document (the
/// handlers read them with `params`, refusing any other).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AgedQuery {
    /// The day of the balance, `YYYY-MM-DD` (default today in the tenant's time zone).
    as_of: Option<NaiveDate>,
    /// Rows per `customer` (default) or per `segment`.
    #[param(inline)]
    by: Option<GroupBy>,
    /// Only the `top` rows owing the most in each currency (1 to 100000), largest first; the
    /// totals still cover every row. All rows when absent.
    top: Option<u32>,
    /// `json` (default) or `csv`.
    #[param(inline)]
    format: Option<Format>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AsOfQuery {
    /// The day of the figure, `YYYY-MM-DD` (default today in the tenant's time zone).
    as_of: Option<NaiveDate>,
    /// `json` (default) or `csv`.
    #[param(inline)]
    format: Option<Format>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct OverdueQuery {
    /// The last day of the series, `YYYY-MM-DD` (default today in the tenant's time zone).
    as_of: Option<NaiveDate>,
    /// Month ends in the series, 1 to 120 (default 12).
    months: Option<u32>,
    /// `json` (default) or `csv`.
    #[param(inline)]
    format: Option<Format>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct PeriodQuery {
    /// First day, `YYYY-MM-DD` (default 89 days before `to`).
    from: Option<NaiveDate>,
    /// Last day, inclusive, `YYYY-MM-DD` (default today in the tenant's time zone); at most 3660 days after `from`.
    to: Option<NaiveDate>,
    /// `json` (default) or `csv`.
    #[param(inline)]
    format: Option<Format>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct SinceQuery {
    /// Only the credits booked on or after this day, `YYYY-MM-DD` (all when absent).
    since: Option<NaiveDate>,
    /// `json` (default) or `csv`.
    #[param(inline)]
    format: Option<Format>,
}

/// The rows of an aged balance (`relance_engine::reports::AgedGrouping`, for the document).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum GroupBy {
    Customer,
    Segment,
}

/// The aged balance answer.
#[derive(Serialize, ToSchema)]
struct AgedBalanceReport {
    as_of: NaiveDate,
    #[schema(value_type = GroupBy)]
    by: AgedGrouping,
    /// The buckets' labels, in column order.
    buckets: Vec<String>,
    /// The buckets' keys (`not_due`, `days1_to30`…), in column order.
    bucket_keys: Vec<String>,
    rows: Vec<AgedBalanceRow>,
    /// Rows before `top` kept the largest (the number of rows when `top` is absent).
    rows_in_all: usize,
    /// Per currency (never converted).
    totals: Vec<AgedBalanceTotal>,
}

/// One customer's or segment's open amounts in one currency.
#[derive(Serialize, ToSchema)]
struct AgedBalanceRow {
    /// The customer's id (`by=customer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    customer: Option<String>,
    /// The customer's name, `null` when unknown (`by=customer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    name: Option<Option<String>>,
    /// The segment, empty for customers without one (`by=segment`).
    #[serde(skip_serializing_if = "Option::is_none")]
    segment: Option<String>,
    #[schema(value_type = String, example = "EUR")]
    currency: Currency,
    /// One amount per bucket, in column order.
    buckets: Vec<Money>,
    total: Money,
}

/// The open amounts of one currency.
#[derive(Serialize, ToSchema)]
struct AgedBalanceTotal {
    #[schema(value_type = String, example = "EUR")]
    currency: Currency,
    /// One amount per bucket, in column order.
    buckets: Vec<Money>,
    total: Money,
}

/// The DSO answer.
#[derive(Serialize, ToSchema)]
struct DsoReport {
    as_of: NaiveDate,
    /// Always `countback`.
    method: String,
    dso: Vec<DsoRow>,
}

/// The DSO of one currency.
#[derive(Serialize, ToSchema)]
struct DsoRow {
    #[schema(value_type = String, example = "EUR")]
    currency: Currency,
    receivables: Money,
    /// Days, one decimal (`"42.5"`).
    days: String,
    /// The 24 months of sales did not cover the receivables.
    history_exhausted: bool,
}

/// The DMP answer.
#[derive(Serialize, ToSchema)]
struct DmpReport {
    from: NaiveDate,
    to: NaiveDate,
    dmp: Vec<DmpRow>,
}

/// The DMP of one currency.
#[derive(Serialize, ToSchema)]
struct DmpRow {
    #[schema(value_type = String, example = "EUR")]
    currency: Currency,
    paid: Money,
    /// Days, one decimal; `null` when nothing was paid.
    days: Option<String>,
}

/// The overdue-over-time answer.
#[derive(Serialize, ToSchema)]
struct OverdueReport {
    as_of: NaiveDate,
    months: u32,
    month_ends: Vec<NaiveDate>,
    series: Vec<OverdueRow>,
}

/// The overdue amounts of one currency, oldest month end first.
#[derive(Serialize, ToSchema)]
struct OverdueRow {
    #[schema(value_type = String, example = "EUR")]
    currency: Currency,
    points: Vec<OverduePointRow>,
}

#[derive(Serialize, ToSchema)]
struct OverduePointRow {
    month_end: NaiveDate,
    overdue: Money,
}

impl From<&OverdueSeries> for OverdueRow {
    fn from(s: &OverdueSeries) -> OverdueRow {
        let points = s.points.iter().map(|p| OverduePointRow { month_end: p.month_end, overdue: p.overdue }).collect();
        OverdueRow { currency: s.currency, points }
    }
}

/// The promises answer: promises by status and the kept rate.
#[derive(Serialize, ToSchema)]
struct PromisesReport {
    from: NaiveDate,
    to: NaiveDate,
    kept: u64,
    broken: u64,
    pending: u64,
    lapsed: u64,
    cancelled: u64,
    /// kept / (kept + broken), percent with two decimals; `null` when none was decided.
    kept_rate_percent: Option<String>,
}

/// The cash application rates answer.
#[derive(Serialize, ToSchema)]
struct CashReport {
    since: Option<NaiveDate>,
    rates: Vec<Rate>,
}

/// The reminders answer.
#[derive(Serialize, ToSchema)]
struct RemindersReport {
    from: NaiveDate,
    to: NaiveDate,
    rows: Vec<ReminderRow>,
    total: u64,
}

/// Reminders sent for one scenario step and channel.
#[derive(Serialize, ToSchema)]
struct ReminderRow {
    step: String,
    channel: Channel,
    sent: u64,
}

/// The replies answer.
#[derive(Serialize, ToSchema)]
struct RepliesReport {
    from: NaiveDate,
    to: NaiveDate,
    rows: Vec<IntentRow>,
    total: u64,
}

/// Replies with one intent.
#[derive(Serialize, ToSchema)]
struct IntentRow {
    /// `promise_to_pay`, `dispute`, `already_paid`, `payment_plan_request`,
    /// `invoice_copy_request`, `auto_reply`, `other`; `null`: not understood.
    #[schema(value_type = Option<String>)]
    intent: Option<Intent>,
    count: u64,
}

fn format(p: &HashMap<String, String>) -> Result<Format, ApiError> {
    match p.get("format").map(String::as_str) {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(ApiError::bad_request(format!("query parameter `format`: `{other}` is not json or csv"))),
    }
}

/// Refuses parameters the report does not know (a typo would be silently ignored otherwise).
fn known(p: &HashMap<String, String>, names: &[&str]) -> Result<(), ApiError> {
    match p.keys().find(|k| !names.contains(&k.as_str()) && k.as_str() != "format") {
        Some(k) => Err(ApiError::bad_request(format!(
            "unknown query parameter `{k}` for this report (expected: {}, format)",
            names.join(", ")
        ))),
        None => Ok(()),
    }
}

fn date(p: &HashMap<String, String>, key: &str) -> Result<Option<NaiveDate>, ApiError> {
    p.get(key)
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                ApiError::bad_request(format!("query parameter `{key}`: `{v}` is not a date (YYYY-MM-DD)"))
            })
        })
        .transpose()
}

/// Today in the tenant's time zone.
fn today(rt: &Runtime, tenant: &TenantId) -> NaiveDate {
    let tz = rt.settings.tenant(tenant.as_str()).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
    Utc::now().with_timezone(&tz).date_naive()
}

/// The `as_of` query parameter (`YYYY-MM-DD`), by default today in the
/// tenant's time zone.
fn as_of(rt: &Runtime, tenant: &TenantId, p: &HashMap<String, String>) -> Result<NaiveDate, ApiError> {
    Ok(date(p, "as_of")?.unwrap_or_else(|| today(rt, tenant)))
}

/// `from` and `to`, inclusive days: by default the 90 days to today.
fn period(rt: &Runtime, tenant: &TenantId, p: &HashMap<String, String>) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let to = date(p, "to")?.unwrap_or_else(|| today(rt, tenant));
    let from = match date(p, "from")? {
        Some(f) => f,
        None => to.checked_sub_days(Days::new(DEFAULT_PERIOD_DAYS - 1)).unwrap_or(to),
    };
    if from > to {
        return Err(ApiError::bad_request(format!("`from` ({from}) is after `to` ({to})")));
    }
    if (to - from).num_days() > MAX_PERIOD_DAYS {
        return Err(ApiError::bad_request(format!("the period is longer than {MAX_PERIOD_DAYS} days")));
    }
    Ok((from, to))
}

/// The instants bounding the days `from`..=`to` in the tenant's time zone.
fn instants(rt: &Runtime, tenant: &TenantId, from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let tz = rt.settings.tenant(tenant.as_str()).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
    let start = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).earliest())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| DateTime::<Utc>::from_naive_utc_and_offset(d.and_time(chrono::NaiveTime::MIN), Utc))
    };
    (start(from), start(to.succ_opt().unwrap_or(to)))
}

/// A CSV answer: `header`, then `rows`, quoted as RFC 4180 says.
fn csv(name: &str, header: &[&str], rows: Vec<Vec<String>>) -> Result<Response, ApiError> {
    let mut w = ::csv::WriterBuilder::new().terminator(::csv::Terminator::CRLF).from_writer(Vec::new());
    w.write_record(header).map_err(ApiError::internal)?;
    for row in rows {
        w.write_record(&row).map_err(ApiError::internal)?;
    }
    let body = w.into_inner().map_err(ApiError::internal)?;
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    let disposition = format!("attachment; filename=\"{name}.csv\"");
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(ApiError::internal)?);
    Ok(resp)
}

fn amount(m: &Money) -> String {
    m.to_decimal_string()
}

/// One JSON row of the aged balance, its key under `customer` or `segment`.
fn aged_row(by: AgedGrouping, r: &AgedRow) -> AgedBalanceRow {
    let customer = by == AgedGrouping::Customer;
    AgedBalanceRow {
        customer: customer.then(|| r.key.clone()),
        name: customer.then(|| r.name.clone()),
        segment: (by == AgedGrouping::Segment).then(|| r.key.clone()),
        currency: r.currency,
        buckets: r.buckets.to_vec(),
        total: r.total,
    }
}

fn aged_csv(ab: &AgedBalance) -> Result<Response, ApiError> {
    let by = ab.by.as_str();
    let mut header = vec!["kind", by];
    if ab.by == AgedGrouping::Customer {
        header.push("name");
    }
    header.push("currency");
    header.extend(AgeBucket::ALL.iter().map(|b| b.as_str()));
    header.push("total");
    let line = |kind: &str, r: &AgedRow| {
        let mut row = vec![kind.to_string(), r.key.clone()];
        if ab.by == AgedGrouping::Customer {
            row.push(r.name.clone().unwrap_or_default());
        }
        row.push(r.currency.code().to_string());
        row.extend(r.buckets.iter().map(amount));
        row.push(amount(&r.total));
        row
    };
    let rows = ab.rows.iter().map(|r| line("row", r)).chain(ab.totals.iter().map(|r| line("total", r))).collect();
    csv(&format!("aged-balance-by-{by}-{}", ab.as_of), &header, rows)
}

/// Aged balance on `as_of`: open amounts by days past due (not due, 1-30,
/// 31-60, 61-90, over 90), per customer (`by=customer`, default) or segment
/// (`by=segment`) and currency, with totals per currency (never converted).
/// Credit notes count negative.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/reports/aged-balance", operation_id = "report_aged_balance", tag = "reports", params(openapi::TenantPath, AgedQuery), responses((status = 200, description = "The report: JSON, or CSV with `?format=csv` (the same rows, an attachment)", content((AgedBalanceReport = "application/json"), (String = "text/csv"))), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn aged_balance(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    aged_balance_report(&st.rt, tenant, p).await
}

async fn aged_balance_report(rt: &Runtime, tenant: TenantId, p: HashMap<String, String>) -> Result<Response, ApiError> {
    known(&p, &["as_of", "by", "top"])?;
    let fmt = format(&p)?;
    let day = as_of(rt, &tenant, &p)?;
    let by = match p.get("by") {
        None => AgedGrouping::Customer,
        Some(v) => AgedGrouping::parse(v)
            .ok_or_else(|| ApiError::bad_request(format!("query parameter `by`: `{v}` is not customer or segment")))?,
    };
    let top = match p.get("top") {
        None => None,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_TOP).contains(&n) => Some(n as usize),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "query parameter `top`: `{v}` is not a number from 1 to {MAX_TOP}"
                )));
            }
        },
    };
    let (ab, rows_in_all) = match (by, top) {
        // The largest debtors only: their buckets, and the totals summed by due-date
        // ranges, without the buckets of every customer (`Store::largest_debtors`).
        (AgedGrouping::Customer, Some(n)) => {
            let (s1, t1) = (rt.store.clone(), tenant.clone());
            let totals = blocking(move || s1.aged_totals(&t1, day));
            let (s2, t2) = (rt.store.clone(), tenant.clone());
            let keep = u32::try_from(n).unwrap_or(MAX_TOP);
            let largest = blocking(move || s2.largest_debtors(&t2, day, keep));
            let (totals, largest) = tokio::try_join!(totals, largest)?;
            let totals = reports::aged_balance_from_sums(&totals.totals, day, by).map_err(ApiError::internal)?.totals;
            let mut ab = reports::aged_balance_from_sums(&largest.top, day, by).map_err(ApiError::internal)?;
            ab.totals = totals;
            ab.keep_largest(n);
            (ab, usize::try_from(largest.rows).unwrap_or(usize::MAX))
        }
        _ => {
            let store = rt.store.clone();
            let sums = blocking(move || store.aged_sums(&tenant, day, by)).await?;
            let mut ab = reports::aged_balance_from_sums(&sums, day, by).map_err(ApiError::internal)?;
            let all = match top {
                Some(n) => ab.keep_largest(n),
                None => ab.rows.len(),
            };
            (ab, all)
        }
    };
    if fmt == Format::Csv {
        return aged_csv(&ab);
    }
    let buckets: Vec<&str> = AgeBucket::ALL.iter().map(|b| b.label()).collect();
    let keys: Vec<&str> = AgeBucket::ALL.iter().map(|b| b.as_str()).collect();
    let rows = ab.rows.iter().map(|r| aged_row(by, r)).collect();
    let totals = ab
        .totals
        .iter()
        .map(|r| AgedBalanceTotal { currency: r.currency, buckets: r.buckets.to_vec(), total: r.total })
        .collect();
    let (buckets, bucket_keys) =
        (buckets.into_iter().map(String::from).collect(), keys.into_iter().map(String::from).collect());
    Ok(Json(AgedBalanceReport { as_of: ab.as_of, by, buckets, bucket_keys, rows, rows_in_all, totals }).into_response())
}

/// DSO by the countback method on `as_of`, per currency of the receivables,
/// over the invoiced amounts of the 24 months before.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/reports/dso", operation_id = "report_dso", tag = "reports", params(openapi::TenantPath, AsOfQuery), responses((status = 200, description = "The report: JSON, or CSV with `?format=csv` (the same rows, an attachment)", content((DsoReport = "application/json"), (String = "text/csv"))), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn dso(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    dso_report(&st.rt, tenant, p).await
}

async fn dso_report(rt: &Runtime, tenant: TenantId, p: HashMap<String, String>) -> Result<Response, ApiError> {
    known(&p, &["as_of"])?;
    let fmt = format(&p)?;
    let day = as_of(rt, &tenant, &p)?;
    let from = day.checked_sub_months(Months::new(24)).unwrap_or(day);
    let store = rt.store.clone();
    // Months of sales are read back from `as_of` only as far as the receivables need
    // (the countback's figure is the same as over the whole 24 months).
    let (open, sales) = blocking(move || {
        let open = store.open_by_currency(&tenant)?;
        let sales = store.invoiced_months_back(&tenant, day, from, &open)?;
        Ok((open, sales))
    })
    .await?;
    let figures = reports::dso_by_currency(&open, &sales, day).map_err(ApiError::internal)?;
    if fmt == Format::Csv {
        let rows = figures
            .iter()
            .map(|f| {
                vec![
                    f.currency.code().to_string(),
                    amount(&f.receivables),
                    tenths_text(f.dso.tenths_of_days),
                    f.dso.history_exhausted.to_string(),
                ]
            })
            .collect();
        return csv(&format!("dso-{day}"), &["currency", "receivables", "days", "history_exhausted"], rows);
    }
    let dso = figures
        .iter()
        .map(|f| DsoRow {
            currency: f.currency,
            receivables: f.receivables,
            days: tenths_text(f.dso.tenths_of_days),
            history_exhausted: f.dso.history_exhausted,
        })
        .collect();
    Ok(Json(DsoReport { as_of: day, method: "countback".to_string(), dso }).into_response())
}

/// DMP over `from`..=`to`: per currency, the average days from due date to
/// payment (bank booking date) of the money applied to invoices in the
/// period, weighted by amount.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/reports/dmp", operation_id = "report_dmp", tag = "reports", params(openapi::TenantPath, PeriodQuery), responses((status = 200, description = "The report: JSON, or CSV with `?format=csv` (the same rows, an attachment)", content((DmpReport = "application/json"), (String = "text/csv"))), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn dmp(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    dmp_report(&st.rt, tenant, p).await
}

async fn dmp_report(rt: &Runtime, tenant: TenantId, p: HashMap<String, String>) -> Result<Response, ApiError> {
    known(&p, &["from", "to"])?;
    let fmt = format(&p)?;
    let (from, to) = period(rt, &tenant, &p)?;
    let store = rt.store.clone();
    let settlements = blocking(move || store.settlements(&tenant, from, to)).await?;
    let figures = reports::dmp_by_currency(&settlements).map_err(ApiError::internal)?;
    let days = |t: Option<i64>| t.map(tenths_text);
    if fmt == Format::Csv {
        let rows = figures
            .iter()
            .map(|f| vec![f.currency.code().to_string(), amount(&f.paid), days(f.tenths_of_days).unwrap_or_default()])
            .collect();
        return csv(&format!("dmp-{from}-{to}"), &["currency", "paid", "days"], rows);
    }
    let dmp =
        figures.iter().map(|f| DmpRow { currency: f.currency, paid: f.paid, days: days(f.tenths_of_days) }).collect();
    Ok(Json(DmpReport { from, to, dmp }).into_response())
}

/// Overdue amount at the end of each of the last `months` months (default
/// 12) on or before `as_of`, per currency.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/reports/overdue", operation_id = "report_overdue", tag = "reports", params(openapi::TenantPath, OverdueQuery), responses((status = 200, description = "The report: JSON, or CSV with `?format=csv` (the same rows, an attachment)", content((OverdueReport = "application/json"), (String = "text/csv"))), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn overdue(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    overdue_report(&st.rt, tenant, p).await
}

async fn overdue_report(rt: &Runtime, tenant: TenantId, p: HashMap<String, String>) -> Result<Response, ApiError> {
    known(&p, &["as_of", "months"])?;
    let fmt = format(&p)?;
    let day = as_of(rt, &tenant, &p)?;
    let months = super::number(&p, "months", 12u32)?;
    if months == 0 || months > MAX_MONTHS {
        return Err(ApiError::bad_request(format!("query parameter `months` must be between 1 and {MAX_MONTHS}")));
    }
    let ends = reports::month_ends(day, months);
    let (Some(first), Some(last)) = (ends.first().copied(), ends.last().copied()) else {
        return Err(ApiError::bad_request("no month end before `as_of`"));
    };
    let store = rt.store.clone();
    let pieces = blocking(move || store.overdue_pieces(&tenant, first, last)).await?;
    let series = reports::overdue_series(&pieces, &ends).map_err(ApiError::internal)?;
    if fmt == Format::Csv {
        let rows = series
            .iter()
            .flat_map(|s| {
                s.points
                    .iter()
                    .map(|pt| vec![pt.month_end.to_string(), s.currency.code().to_string(), amount(&pt.overdue)])
            })
            .collect();
        return csv(&format!("overdue-{day}"), &["month_end", "currency", "overdue"], rows);
    }
    let series = series.iter().map(OverdueRow::from).collect();
    Ok(Json(OverdueReport { as_of: day, months, month_ends: ends, series }).into_response())
}

/// Promises whose promised date falls in `from`..=`to`, by status, and the
/// kept rate (kept / (kept + broken)).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/reports/promises", operation_id = "report_promises", tag = "reports", params(openapi::TenantPath, PeriodQuery), responses((status = 200, description = "The report: JSON, or CSV with `?format=csv` (the same rows, an attachment)", content((PromisesReport = "application/json"), (String = "text/csv"))), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn promises(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    promises_report(&st.rt, tenant, p).await
}

async fn promises_report(rt: &Runtime, tenant: TenantId, p: HashMap<String, String>) -> Result<Response, ApiError> {
    known(&p, &["from", "to"])?;
    let fmt = format(&p)?;
    let (from, to) = period(rt, &tenant, &p)?;
    let store = rt.store.clone();
    let c = blocking(move || store.promise_counts(&tenant, from, to)).await?;
    let rate = c.kept_rate_bp().map(bp_percent_text);
    if fmt == Format::Csv {
        let header = ["kept", "broken", "pending", "lapsed", "cancelled", "kept_rate_percent"];
        let row = vec![
            c.kept.to_string(),
            c.broken.to_string(),
            c.pending.to_string(),
            c.lapsed.to_string(),
            c.cancelled.to_string(),
            rate.clone().unwrap_or_default(),
        ];
        return csv(&format!("promises-{from}-{to}"), &header, vec![row]);
    }
    Ok(Json(PromisesReport {
        from,
        to,
        kept: c.kept,
        broken: c.broken,
        pending: c.pending,
        lapsed: c.lapsed,
        cancelled: c.cancelled,
        kept_rate_percent: rate,
    })
    .into_response())
}

/// One cash application rate: `part / whole`.
#[derive(Debug, Serialize, ToSchema)]
struct Rate {
    /// `envelope_auto`, `line_item`, `review` or `false_match`.
    rate: &'static str,
    part: u64,
    whole: u64,
    /// Percentage with two decimals, rounded once; `None` when `whole` is 0.
    percent: Option<String>,
}

/// The four cash application rates (definitions: `relance_store::rates`)
/// of the credits booked on or after `since` (all when absent).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/reports/cash", operation_id = "report_cash", tag = "reports", params(openapi::TenantPath, SinceQuery), responses((status = 200, description = "The report: JSON, or CSV with `?format=csv` (the same rows, an attachment)", content((CashReport = "application/json"), (String = "text/csv"))), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn cash(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    cash_report(&st.rt, tenant, p).await
}

async fn cash_report(rt: &Runtime, tenant: TenantId, p: HashMap<String, String>) -> Result<Response, ApiError> {
    known(&p, &["since"])?;
    let fmt = format(&p)?;
    let since = date(&p, "since")?;
    let store = rt.store.clone();
    let r = blocking(move || store.cash_rates(&tenant, since)).await?;
    let rate = |rate, part, whole| Rate { rate, part, whole, percent: ratio_bp(part, whole).map(bp_percent_text) };
    let rates = [
        rate("envelope_auto", r.auto_matched, r.credits),
        rate("line_item", r.invoices_settled_auto, r.invoices_settled),
        rate("review", r.reviewed, r.credits),
        rate("false_match", r.auto_undone, r.auto_matched),
    ];
    if fmt == Format::Csv {
        let rows = rates
            .iter()
            .map(|r| {
                vec![r.rate.to_string(), r.part.to_string(), r.whole.to_string(), r.percent.clone().unwrap_or_default()]
            })
            .collect();
        let name = since.map_or("cash-rates".to_string(), |s| format!("cash-rates-since-{s}"));
        return csv(&name, &["rate", "part", "whole", "percent"], rows);
    }
    Ok(Json(CashReport { since, rates: rates.into() }).into_response())
}

/// Reminders sent in `from`..=`to` (days in the tenant's time zone), by
/// scenario step and channel.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/reports/reminders", operation_id = "report_reminders", tag = "reports", params(openapi::TenantPath, PeriodQuery), responses((status = 200, description = "The report: JSON, or CSV with `?format=csv` (the same rows, an attachment)", content((RemindersReport = "application/json"), (String = "text/csv"))), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn reminders(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    reminders_report(&st.rt, tenant, p).await
}

async fn reminders_report(rt: &Runtime, tenant: TenantId, p: HashMap<String, String>) -> Result<Response, ApiError> {
    known(&p, &["from", "to"])?;
    let fmt = format(&p)?;
    let (from, to) = period(rt, &tenant, &p)?;
    let (start, end) = instants(rt, &tenant, from, to);
    let store = rt.store.clone();
    let rows: Vec<ReminderCount> = blocking(move || store.reminders_sent(&tenant, start, end)).await?;
    if fmt == Format::Csv {
        let lines = rows
            .iter()
            .map(|r| vec![r.step.clone(), channel_name(r.channel).to_string(), r.sent.to_string()])
            .collect();
        return csv(&format!("reminders-{from}-{to}"), &["step", "channel", "sent"], lines);
    }
    let total: u64 = rows.iter().map(|r| r.sent).sum();
    let rows = rows.into_iter().map(|r| ReminderRow { step: r.step, channel: r.channel, sent: r.sent }).collect();
    Ok(Json(RemindersReport { from, to, rows, total }).into_response())
}

/// Replies received in `from`..=`to` by intent (a person's correction
/// counts under the corrected intent); `intent: null` for replies not
/// understood.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/reports/replies", operation_id = "report_replies", tag = "reports", params(openapi::TenantPath, PeriodQuery), responses((status = 200, description = "The report: JSON, or CSV with `?format=csv` (the same rows, an attachment)", content((RepliesReport = "application/json"), (String = "text/csv"))), openapi::Errors), security(("bearer" = [])))]
pub(super) async fn replies(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    replies_report(&st.rt, tenant, p).await
}

async fn replies_report(rt: &Runtime, tenant: TenantId, p: HashMap<String, String>) -> Result<Response, ApiError> {
    known(&p, &["from", "to"])?;
    let fmt = format(&p)?;
    let (from, to) = period(rt, &tenant, &p)?;
    let (start, end) = instants(rt, &tenant, from, to);
    let store = rt.store.clone();
    let counts = blocking(move || store.replies_by_intent(&tenant, start, end)).await?;
    let rows: Vec<IntentCount> = reports::replies_by_intent(&counts);
    if fmt == Format::Csv {
        let lines = rows
            .iter()
            .map(|r| vec![r.intent.as_ref().map(Intent::as_str).unwrap_or_default().to_string(), r.count.to_string()])
            .collect();
        return csv(&format!("replies-{from}-{to}"), &["intent", "count"], lines);
    }
    let total: u64 = rows.iter().map(|r| r.count).sum();
    let rows = rows.into_iter().map(|r| IntentRow { intent: r.intent, count: r.count }).collect();
    Ok(Json(RepliesReport { from, to, rows, total }).into_response())
}
