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
use serde_json::json;

use relance_domain::TenantId;
use relance_domain::money::Money;
use relance_engine::replies::Intent;
use relance_engine::reports::{
    self, AgeBucket, AgedBalance, AgedGrouping, AgedRow, IntentCount, ReminderCount, bp_percent_text, channel_name,
    ratio_bp, tenths_text,
};

use super::{ApiError, ApiState, Params, authorize, blocking, params};

/// Longest period a report reads (in days), and most months of a series.
const MAX_PERIOD_DAYS: i64 = 3660;
const MAX_MONTHS: u32 = 120;
const DEFAULT_PERIOD_DAYS: u64 = 90;

/// `?format=`: JSON by default, or CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
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
fn today(st: &ApiState, tenant: &TenantId) -> NaiveDate {
    let tz = st.rt.settings.tenant(tenant.as_str()).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
    Utc::now().with_timezone(&tz).date_naive()
}

/// The `as_of` query parameter (`YYYY-MM-DD`), by default today in the
/// tenant's time zone.
fn as_of(st: &ApiState, tenant: &TenantId, p: &HashMap<String, String>) -> Result<NaiveDate, ApiError> {
    Ok(date(p, "as_of")?.unwrap_or_else(|| today(st, tenant)))
}

/// `from` and `to`, inclusive days: by default the 90 days to today.
fn period(st: &ApiState, tenant: &TenantId, p: &HashMap<String, String>) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let to = date(p, "to")?.unwrap_or_else(|| today(st, tenant));
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
fn instants(st: &ApiState, tenant: &TenantId, from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let tz = st.rt.settings.tenant(tenant.as_str()).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
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
fn aged_row_json(by: AgedGrouping, r: &AgedRow) -> serde_json::Value {
    let mut v = json!({ "currency": r.currency, "buckets": r.buckets, "total": r.total });
    if let Some(obj) = v.as_object_mut() {
        obj.insert(by.as_str().to_string(), json!(r.key));
        if by == AgedGrouping::Customer {
            obj.insert("name".to_string(), json!(r.name));
        }
    }
    v
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
pub(super) async fn aged_balance(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    known(&p, &["as_of", "by"])?;
    let fmt = format(&p)?;
    let day = as_of(&st, &tenant, &p)?;
    let by = match p.get("by") {
        None => AgedGrouping::Customer,
        Some(v) => AgedGrouping::parse(v)
            .ok_or_else(|| ApiError::bad_request(format!("query parameter `by`: `{v}` is not customer or segment")))?,
    };
    let store = st.rt.store.clone();
    let sums = blocking(move || store.aged_sums(&tenant, day, by)).await?;
    let ab = reports::aged_balance_from_sums(&sums, day, by).map_err(ApiError::internal)?;
    if fmt == Format::Csv {
        return aged_csv(&ab);
    }
    let buckets: Vec<&str> = AgeBucket::ALL.iter().map(|b| b.label()).collect();
    let keys: Vec<&str> = AgeBucket::ALL.iter().map(|b| b.as_str()).collect();
    let rows: Vec<_> = ab.rows.iter().map(|r| aged_row_json(by, r)).collect();
    let totals: Vec<_> =
        ab.totals.iter().map(|r| json!({ "currency": r.currency, "buckets": r.buckets, "total": r.total })).collect();
    Ok(Json(
        json!({ "as_of": ab.as_of, "by": by, "buckets": buckets, "bucket_keys": keys, "rows": rows, "totals": totals }),
    )
    .into_response())
}

/// DSO by the countback method on `as_of`, per currency of the receivables,
/// over the invoiced amounts of the 24 months before.
pub(super) async fn dso(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    known(&p, &["as_of"])?;
    let fmt = format(&p)?;
    let day = as_of(&st, &tenant, &p)?;
    let from = day.checked_sub_months(Months::new(24)).unwrap_or(day);
    let store = st.rt.store.clone();
    let (open, sales) =
        blocking(move || Ok((store.open_by_currency(&tenant)?, store.monthly_invoiced(&tenant, from)?))).await?;
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
    let out: Vec<_> = figures
        .iter()
        .map(|f| {
            json!({
                "currency": f.currency,
                "receivables": f.receivables,
                "days": tenths_text(f.dso.tenths_of_days),
                "history_exhausted": f.dso.history_exhausted,
            })
        })
        .collect();
    Ok(Json(json!({ "as_of": day, "method": "countback", "dso": out })).into_response())
}

/// DMP over `from`..=`to`: per currency, the average days from due date to
/// payment (bank booking date) of the money applied to invoices in the
/// period, weighted by amount.
pub(super) async fn dmp(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    known(&p, &["from", "to"])?;
    let fmt = format(&p)?;
    let (from, to) = period(&st, &tenant, &p)?;
    let store = st.rt.store.clone();
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
    let out: Vec<_> = figures
        .iter()
        .map(|f| json!({ "currency": f.currency, "paid": f.paid, "days": days(f.tenths_of_days) }))
        .collect();
    Ok(Json(json!({ "from": from, "to": to, "dmp": out })).into_response())
}

/// Overdue amount at the end of each of the last `months` months (default
/// 12) on or before `as_of`, per currency.
pub(super) async fn overdue(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    known(&p, &["as_of", "months"])?;
    let fmt = format(&p)?;
    let day = as_of(&st, &tenant, &p)?;
    let months = super::number(&p, "months", 12u32)?;
    if months == 0 || months > MAX_MONTHS {
        return Err(ApiError::bad_request(format!("query parameter `months` must be between 1 and {MAX_MONTHS}")));
    }
    let ends = reports::month_ends(day, months);
    let (Some(first), Some(last)) = (ends.first().copied(), ends.last().copied()) else {
        return Err(ApiError::bad_request("no month end before `as_of`"));
    };
    let store = st.rt.store.clone();
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
    Ok(Json(json!({ "as_of": day, "months": months, "month_ends": ends, "series": series })).into_response())
}

/// Promises whose promised date falls in `from`..=`to`, by status, and the
/// kept rate (kept / (kept + broken)).
pub(super) async fn promises(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    known(&p, &["from", "to"])?;
    let fmt = format(&p)?;
    let (from, to) = period(&st, &tenant, &p)?;
    let store = st.rt.store.clone();
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
    Ok(Json(json!({
        "from": from, "to": to, "kept": c.kept, "broken": c.broken, "pending": c.pending, "lapsed": c.lapsed,
        "cancelled": c.cancelled, "kept_rate_percent": rate,
    }))
    .into_response())
}

/// One cash application rate: `part / whole`.
#[derive(Debug, Serialize)]
struct Rate {
    rate: &'static str,
    part: u64,
    whole: u64,
    /// Percentage with two decimals, rounded once; `None` when `whole` is 0.
    percent: Option<String>,
}

/// The four cash application rates (definitions: `relance_store::rates`)
/// of the credits booked on or after `since` (all when absent).
pub(super) async fn cash(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    known(&p, &["since"])?;
    let fmt = format(&p)?;
    let since = date(&p, "since")?;
    let store = st.rt.store.clone();
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
    Ok(Json(json!({ "since": since, "rates": rates })).into_response())
}

/// Reminders sent in `from`..=`to` (days in the tenant's time zone), by
/// scenario step and channel.
pub(super) async fn reminders(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    known(&p, &["from", "to"])?;
    let fmt = format(&p)?;
    let (from, to) = period(&st, &tenant, &p)?;
    let (start, end) = instants(&st, &tenant, from, to);
    let store = st.rt.store.clone();
    let rows: Vec<ReminderCount> = blocking(move || store.reminders_sent(&tenant, start, end)).await?;
    if fmt == Format::Csv {
        let lines = rows
            .iter()
            .map(|r| vec![r.step.clone(), channel_name(r.channel).to_string(), r.sent.to_string()])
            .collect();
        return csv(&format!("reminders-{from}-{to}"), &["step", "channel", "sent"], lines);
    }
    let total: u64 = rows.iter().map(|r| r.sent).sum();
    Ok(Json(json!({ "from": from, "to": to, "rows": rows, "total": total })).into_response())
}

/// Replies received in `from`..=`to` by intent (a person's correction
/// counts under the corrected intent); `intent: null` for replies not
/// understood.
pub(super) async fn replies(
    State(st): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let tenant = authorize(&st, &headers, &tenant)?;
    let p = params(q, &[])?;
    known(&p, &["from", "to"])?;
    let fmt = format(&p)?;
    let (from, to) = period(&st, &tenant, &p)?;
    let (start, end) = instants(&st, &tenant, from, to);
    let store = st.rt.store.clone();
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
    Ok(Json(json!({ "from": from, "to": to, "rows": rows, "total": total })).into_response())
}
