//! The reports page: the API's own reports (`relance_runtime::api::report`,
//! the same code and figures as `/api/v1/tenants/{t}/reports/…`), laid out
//! for people with server-rendered SVG charts, and each table's CSV export
//! (`/t/{t}/reports/{name}/csv`, the API's `?format=csv`).
//!
//! The page has three sections, each a page of its own so that each reads
//! only its reports: the balances (DSO, aged balance), the trends (DMP,
//! overdue at month ends) and the activity (promises, cash application,
//! reminders, replies). The filter form sets the day of the balances (`as_of`), the
//! period of the flows (`from`, `to`), the aged balance's rows (`by`:
//! customer or segment) and the months of the overdue series; each report
//! gets the parameters it knows.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::WebState;
use crate::pages::{PageError, page, url_part};
use crate::session::Person;
use chrono::NaiveDate;
use relance_domain::TenantId;
use relance_domain::money::{Currency, Money};
use relance_engine::reports::svg;
use relance_runtime::api::{Report, report};

/// Largest report answer read back for the page.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// The page's parameters each report knows.
fn parameters(which: Report) -> &'static [&'static str] {
    match which {
        Report::AgedBalance => &["as_of", "by"],
        Report::Dso => &["as_of"],
        Report::Overdue => &["as_of", "months"],
        Report::Dmp | Report::Promises | Report::Reminders | Report::Replies => &["from", "to"],
        Report::Cash => &["from"],
    }
}

/// Customers listed in the aged balance per currency (the largest debtors;
/// the CSV export has them all).
const TOP_DEBTORS: &str = "100";

/// The query of `which` from the page's: blank fields are left out (the
/// report's defaults apply); the cash rates' `since` is the period's start.
fn query_of(which: Report, page: &HashMap<String, String>, period_start: NaiveDate) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for key in parameters(which) {
        if let Some(v) = page.get(*key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            let name = if which == Report::Cash { "since" } else { key };
            out.insert(name.to_string(), v.to_string());
        }
    }
    // The cash rates of the page's period (the other flows' default: the 90
    // days to today), not of all time.
    if which == Report::Cash && !out.contains_key("since") {
        out.insert("since".into(), period_start.to_string());
    }
    out
}

/// The first day of the flows' default period: the 90 days to today in the tenant's time zone.
fn default_period_start(st: &WebState, tenant: &TenantId) -> NaiveDate {
    let tz = st.rt.settings.tenant(tenant.as_str()).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    today.checked_sub_days(chrono::Days::new(89)).unwrap_or(today)
}

/// One report's JSON, or the API's refusal (a bad date…) as a 400 page.
async fn json_of(
    st: &WebState,
    tenant: &TenantId,
    which: Report,
    q: HashMap<String, String>,
) -> Result<Value, PageError> {
    let resp = report(&st.rt, tenant.clone(), which, q).await;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), MAX_BODY)
        .await
        .map_err(|e| PageError::Internal(format!("report {}: {e}", which.name())))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| PageError::Internal(format!("report {}: not JSON: {e}", which.name())))?;
    if status == StatusCode::OK {
        Ok(v)
    } else if status.is_client_error() {
        let why = v.pointer("/error/message").and_then(Value::as_str).unwrap_or("bad parameter");
        Err(PageError::BadRequest(why.to_string()))
    } else {
        Err(PageError::Internal(format!("report {}: {status}", which.name())))
    }
}

/// The minor units of a `{"amount", "currency"}` JSON amount (for charts).
fn minor(v: &Value) -> Option<(i64, Currency)> {
    let ccy = Currency::parse(v.get("currency")?.as_str()?).ok()?;
    let m = Money::parse_canonical(v.get("amount")?.as_str()?, ccy).ok()?;
    Some((m.minor, ccy))
}

/// The aged balance charts, one per currency.
fn aged_charts(aged: &Value, title: &str) -> Vec<String> {
    let buckets: Vec<String> = aged["buckets"]
        .as_array()
        .map(|b| b.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for t in aged["totals"].as_array().into_iter().flatten() {
        let Some((_, ccy)) = minor(&t["total"]) else { continue };
        let values: Vec<i64> =
            t["buckets"].as_array().into_iter().flatten().map(|b| minor(b).map_or(0, |(m, _)| m)).collect();
        let total = t["total"]["amount"].as_str().unwrap_or("");
        let caption = svg::Caption {
            title: format!("{title} ({})", ccy.code()),
            desc: format!("{title}: {total} {}", ccy.code()),
        };
        let series = [svg::Series { name: ccy.code().to_string(), values }];
        out.push(svg::stacked_bar_chart(&caption, &buckets, &series, &svg::Scale::money(ccy)));
    }
    out
}

/// The overdue series as one line chart per currency.
fn overdue_charts(overdue: &Value, title: &str) -> Vec<String> {
    let mut out = Vec::new();
    for s in overdue["series"].as_array().into_iter().flatten() {
        let Some(ccy) = s["currency"].as_str().and_then(|c| Currency::parse(c).ok()) else { continue };
        let points: Vec<&Value> = s["points"].as_array().into_iter().flatten().collect();
        let labels: Vec<String> = points.iter().map(|p| p["month_end"].as_str().unwrap_or("").to_string()).collect();
        let values: Vec<i64> = points.iter().map(|p| minor(&p["overdue"]).map_or(0, |(m, _)| m)).collect();
        let caption = svg::Caption {
            title: format!("{title} ({})", ccy.code()),
            desc: format!(
                "{title}, {} → {}",
                labels.first().map_or("", String::as_str),
                labels.last().map_or("", String::as_str)
            ),
        };
        let series = [svg::Series { name: ccy.code().to_string(), values }];
        out.push(svg::line_chart(&caption, &labels, &series, &svg::Scale::money(ccy)));
    }
    out
}

/// The part of the reports page shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// DSO and the aged balance (the default).
    Balances,
    /// DMP and overdue at month ends.
    Trends,
    /// Promises, cash application rates, reminders sent, replies by intent.
    Activity,
}

impl Section {
    fn parse(q: &HashMap<String, String>) -> Section {
        match q.get("section").map(String::as_str) {
            Some("trends") => Section::Trends,
            Some("activity") => Section::Activity,
            _ => Section::Balances,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Section::Balances => "balances",
            Section::Trends => "trends",
            Section::Activity => "activity",
        }
    }
}

/// `GET /t/{t}/reports?section=balances|trends|activity`.
pub(crate) async fn reports(
    State(st): State<WebState>,
    who: Person,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    use crate::i18n::text;
    let tenant = who.member_of(&tenant)?;
    // One section at a time, its reports read at once (each waits on its own
    // store reads): the balances (DSO, aged balance), the trends (DMP,
    // overdue at month ends) or the activity (promises, cash application,
    // reminders, replies).
    let section = Section::parse(&q);
    let start = default_period_start(&st, &tenant);
    let one = |which: Report| {
        let mut query = query_of(which, &q, start);
        if which == Report::AgedBalance {
            query.insert("top".into(), TOP_DEBTORS.into());
        }
        json_of(&st, &tenant, which, query)
    };
    let mut data = serde_json::Map::new();
    let mut keep = |which: Report, v: Value| {
        data.insert(which.name().replace('-', "_"), v);
    };
    match section {
        Section::Balances => {
            let (a, b) = tokio::try_join!(one(Report::AgedBalance), one(Report::Dso))?;
            keep(Report::AgedBalance, a);
            keep(Report::Dso, b);
        }
        Section::Trends => {
            let (a, b) = tokio::try_join!(one(Report::Dmp), one(Report::Overdue))?;
            keep(Report::Dmp, a);
            keep(Report::Overdue, b);
        }
        Section::Activity => {
            let (a, b, c, d) = tokio::try_join!(
                one(Report::Promises),
                one(Report::Cash),
                one(Report::Reminders),
                one(Report::Replies)
            )?;
            keep(Report::Promises, a);
            keep(Report::Cash, b);
            keep(Report::Reminders, c);
            keep(Report::Replies, d);
        }
    }
    let lang = who.language;
    let none = Value::Null;
    let aged_charts = aged_charts(data.get("aged_balance").unwrap_or(&none), text(lang, "reports.aged"));
    let overdue_charts = overdue_charts(data.get("overdue").unwrap_or(&none), text(lang, "reports.overdue"));
    let replies: Vec<(String, i64)> = data.get("replies").unwrap_or(&none)["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let key = r["intent"].as_str().map_or("intent.none".to_string(), |i| format!("intent.{i}"));
            (text(lang, &key).to_string(), r["count"].as_i64().unwrap_or(0))
        })
        .collect();
    let replies_chart = (!replies.is_empty()).then(|| {
        let title = text(lang, "reports.replies");
        svg::bar_chart(
            &svg::Caption { title: title.to_string(), desc: title.to_string() },
            &replies,
            &svg::Scale::count(),
        )
    });
    // The CSV links carry the page's filter.
    let mut csv = serde_json::Map::new();
    for which in Report::ALL {
        let query: Vec<String> =
            query_of(which, &q, start).iter().map(|(k, v)| format!("{}={}", url_part(k), url_part(v))).collect();
        let link = format!("/t/{tenant}/reports/{}/csv?{}", which.name(), query.join("&"));
        csv.insert(which.name().replace('-', "_"), json!(link));
    }
    let filter = json!({
        "section": section.as_str(),
        "as_of": q.get("as_of").cloned().unwrap_or_default(),
        "from": q.get("from").cloned().unwrap_or_default(),
        "to": q.get("to").cloned().unwrap_or_default(),
        "months": q.get("months").cloned().unwrap_or_default(),
        "by": q.get("by").cloned().unwrap_or_else(|| "customer".into()),
    });
    let mut extra = json!({
        "aged_charts": aged_charts, "overdue_charts": overdue_charts, "replies_chart": replies_chart,
        "csv": csv, "filter": filter,
    });
    if let Some(obj) = extra.as_object_mut() {
        obj.extend(data);
    }
    page(&st, &who, "reports.html", "reports", extra)
}

/// `GET /t/{t}/reports/{name}/csv`: the API's CSV of one report.
pub(crate) async fn csv(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    let which = Report::parse(&name).ok_or(PageError::NotFound)?;
    let mut query = q;
    query.insert("format".into(), "csv".into());
    let resp = report(&st.rt, tenant, which, query).await;
    if resp.status().is_client_error() {
        let bytes = axum::body::to_bytes(resp.into_body(), MAX_BODY).await.unwrap_or_default();
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let why = v.pointer("/error/message").and_then(Value::as_str).unwrap_or("bad parameter");
        return Err(PageError::BadRequest(why.to_string()));
    }
    Ok(resp.into_response())
}
