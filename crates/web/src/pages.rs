//! Page and form handlers. Reads go through the store on the blocking pool;
//! actions call the same store and service functions as the JSON API, with
//! the person's name as the audit actor, then redirect (post/redirect/get).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use minijinja::Value;
use serde::Deserialize;
use serde_json::json;

use crate::WebState;
use crate::auth::{self, LOGIN_COOKIE, SESSION_COOKIE};
use crate::session::{MaybePerson, Person};
use relance_domain::replies::{MessageStatus, PromiseStatus, TaskStatus};
use relance_domain::{Language, PaymentStatus, TenantId};
use relance_engine::reports::svg::escape;
use relance_store::{NewSession, StoreError, Window};

/// Items per page of a list.
const PAGE: u32 = 50;

/// Why a page cannot be shown. Each answers a small page of its own (in both
/// languages: the person may not be known), never a stack trace.
#[derive(Debug)]
pub(crate) enum PageError {
    /// No (valid) session: to the login page.
    Login,
    NotFound,
    Forbidden,
    Csrf,
    BadRequest(String),
    Internal(String),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(why) => PageError::BadRequest(why),
            other => PageError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        use crate::i18n::text;
        let words = |key: &str| (text(Language::Fr, key).to_string(), text(Language::En, key).to_string());
        let (status, (fr, en)) = match &self {
            PageError::Login => return Redirect::to("/login").into_response(),
            PageError::NotFound => (StatusCode::NOT_FOUND, words("error.not_found")),
            PageError::Forbidden => (StatusCode::FORBIDDEN, words("error.forbidden")),
            PageError::Csrf => (StatusCode::FORBIDDEN, words("error.csrf")),
            PageError::BadRequest(why) => (StatusCode::BAD_REQUEST, (why.clone(), why.clone())),
            PageError::Internal(e) => {
                tracing::error!(error = %e, "web page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, words("error.internal"))
            }
        };
        let body = format!(
            "<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{code}</title>\
             <link rel=\"stylesheet\" href=\"/assets/style.css\"></head><body><main class=\"error\">\
             <h1>{code}</h1><p>{fr}</p><p lang=\"en\">{en}</p><p><a href=\"/\">Relance</a></p></main></body></html>",
            code = status.as_u16(),
            fr = escape(&fr),
            en = escape(&en),
        );
        (status, Html(body)).into_response()
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| PageError::Internal(e.to_string()))?.map_err(PageError::from)
}

/// Renders a page with the context every page has (language, tenant,
/// person, CSRF token, the active menu entry).
pub(crate) fn page(
    st: &WebState,
    who: &Person,
    name: &str,
    active: &str,
    extra: serde_json::Value,
) -> Result<Response, PageError> {
    let tenant_name = st.rt.settings.tenant(who.tenant.as_str()).map(|t| t.name.clone()).unwrap_or_default();
    let mut ctx = json!({
        "lang": who.language.as_str(),
        "tenant": who.tenant.as_str(),
        "tenant_name": tenant_name,
        "user": who.name,
        "role": who.role.as_str(),
        "can_act": who.role.can_act(),
        "csrf": who.csrf,
        "active": active,
    });
    if let (Some(c), serde_json::Value::Object(more)) = (ctx.as_object_mut(), extra) {
        c.extend(more);
    }
    let html = st
        .views
        .render(name, Value::from(minijinja::value::Serde(&ctx)))
        .map_err(|e| PageError::Internal(format!("template {name}: {e}")))?;
    Ok(Html(html).into_response())
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, PageError> {
    serde_json::to_value(v).map_err(|e| PageError::Internal(e.to_string()))
}

/// `/`: the person's Today page, or the login form.
pub(crate) async fn home(MaybePerson(who): MaybePerson) -> Response {
    match who {
        Some(p) => Redirect::to(&format!("/t/{}/", p.tenant)).into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

pub(crate) async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("assets/style.css")).into_response()
}

/// The language of a page for someone not logged in: `?lang=`, else the
/// browser's first choice among ours, else French.
fn guest_language(headers: &HeaderMap, q: &HashMap<String, String>) -> Language {
    if let Some(l) = q.get("lang").and_then(|l| l.parse().ok()) {
        return l;
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    for part in accept.split(',') {
        let tag = part.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if tag.starts_with("fr") {
            return Language::Fr;
        }
        if tag.starts_with("en") {
            return Language::En;
        }
    }
    Language::Fr
}

pub(crate) async fn login_form(
    State(st): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let token = auth::random_token().map_err(|e| PageError::Internal(e.to_string()))?;
    let lang = guest_language(&headers, &q);
    let single = match st.rt.settings.tenants.as_slice() {
        [one] => Some(one.id.to_string()),
        _ => None,
    };
    let ctx = json!({
        "lang": lang.as_str(),
        "csrf": token,
        "failed": q.contains_key("failed"),
        "expired": q.contains_key("expired"),
        "tenant": q.get("tenant").cloned().or(single).unwrap_or_default(),
        "name": q.get("name").cloned().unwrap_or_default(),
    });
    let html = st
        .views
        .render("login.html", Value::from(minijinja::value::Serde(&ctx)))
        .map_err(|e| PageError::Internal(format!("template login.html: {e}")))?;
    let cookie = auth::set_cookie(LOGIN_COOKIE, &token, 3600, auth::over_tls(&headers));
    Ok(([(header::SET_COOKIE, cookie)], Html(html)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    tenant: String,
    name: String,
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    lang: Option<String>,
}

fn client(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or("").trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "direct".to_string())
}

pub(crate) async fn login(
    State(st): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    let lang_q = f.lang.as_deref().map(|l| format!("&lang={l}")).unwrap_or_default();
    let again = |what: &str| {
        Redirect::to(&format!("/login?{what}=1&tenant={}&name={}{lang_q}", url_part(&f.tenant), url_part(&f.name)))
            .into_response()
    };
    let double_submit = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !auth::same_token(double_submit, &f.csrf) {
        return Ok(again("expired"));
    }
    let Some(tenant) = st.rt.settings.tenant(f.tenant.trim()).cloned() else {
        // Same work and answer as a wrong password: nothing tells which tenants exist.
        let pw = f.password.clone();
        let _ = tokio::task::spawn_blocking(move || auth::verify_password(&pw, auth::DUMMY_HASH)).await;
        return Ok(again("failed"));
    };
    let (store, name, password, from) =
        (st.rt.store.clone(), f.name.trim().to_string(), f.password.clone(), client(&headers));
    let tid = tenant.id.clone();
    let now = Utc::now();
    let outcome = blocking(move || {
        let user = store.user(&tid, &name)?;
        let locked = user.as_ref().and_then(|u| u.locked_until).is_some_and(|until| until > now);
        let hash = user.as_ref().map(|u| u.password_hash.as_str()).unwrap_or(auth::DUMMY_HASH);
        let ok = auth::verify_password(&password, hash) && user.is_some() && !locked;
        if !ok {
            if user.is_some() && !locked {
                store.record_login_failure(
                    &tid,
                    &name,
                    now,
                    auth::MAX_FAILURES,
                    chrono::Duration::minutes(auth::LOCK_FOR_MINUTES),
                    &from,
                )?;
            }
            return Ok(None);
        }
        let Some(user) = user else { return Ok(None) };
        let secret = auth::random_token().map_err(|e| StoreError::Rejected(e.to_string()))?;
        let csrf = auth::random_token().map_err(|e| StoreError::Rejected(e.to_string()))?;
        let session = NewSession {
            id_hash: auth::secret_hash(&secret),
            tenant: tid.clone(),
            user: user.name.clone(),
            csrf,
            language: user.language.unwrap_or(tenant.language),
            expires_at: now + chrono::Duration::hours(auth::SESSION_HOURS),
        };
        store.open_session(&session, &from)?;
        Ok(Some(secret))
    })
    .await?;
    let Some(secret) = outcome else { return Ok(again("failed")) };
    let secure = auth::over_tls(&headers);
    let cookie = auth::set_cookie(SESSION_COOKIE, &secret, auth::SESSION_HOURS * 3600, secure);
    let clear = auth::set_cookie(LOGIN_COOKIE, "", 0, secure);
    let mut resp = Redirect::to(&format!("/t/{}/", tenant.id)).into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie.parse().map_err(|_| PageError::Internal("cookie".into()))?);
    resp.headers_mut().append(header::SET_COOKIE, clear.parse().map_err(|_| PageError::Internal("cookie".into()))?);
    Ok(resp)
}

/// Percent-encodes a query value (only what a login name or tenant id may hold passes as is).
pub(crate) fn url_part(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

pub(crate) async fn logout(
    State(st): State<WebState>,
    who: Person,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !auth::same_token(&who.csrf, &f.csrf) {
        return Err(PageError::Csrf);
    }
    let store = st.rt.store.clone();
    let h = who.id_hash.clone();
    blocking(move || store.close_session(&h)).await?;
    let clear = auth::set_cookie(SESSION_COOKIE, "", 0, auth::over_tls(&headers));
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct LanguageForm {
    #[serde(default)]
    csrf: String,
    lang: String,
    #[serde(default)]
    back: String,
}

/// Switches the session's language, back to the page it came from.
pub(crate) async fn language(
    State(st): State<WebState>,
    who: Person,
    Form(f): Form<LanguageForm>,
) -> Result<Response, PageError> {
    if !auth::same_token(&who.csrf, &f.csrf) {
        return Err(PageError::Csrf);
    }
    let lang: Language = f.lang.parse().map_err(|_| PageError::BadRequest(format!("unknown language `{}`", f.lang)))?;
    let store = st.rt.store.clone();
    let h = who.id_hash.clone();
    blocking(move || store.set_session_language(&h, lang)).await?;
    // Only a page of this application: never an open redirect.
    let back = if f.back.starts_with("/t/") && !f.back.contains("//") { f.back } else { format!("/t/{}/", who.tenant) };
    Ok(Redirect::to(&back).into_response())
}

/// Today: what is waiting for this person, each with a link.
pub(crate) async fn today(
    State(st): State<WebState>,
    who: Person,
    Path(tenant): Path<String>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    let store = st.rt.store.clone();
    let counts = blocking(move || store.workload(&tenant)).await?;
    page(&st, &who, "today.html", "today", json!({ "counts": counts }))
}

pub(crate) fn offset_of(q: &HashMap<String, String>) -> u64 {
    q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0)
}

/// The cash review queue: each credit with its ranked explanations and
/// their reasons. `q` narrows it to payers, amounts or references
/// containing the text.
pub(crate) async fn cash(
    State(st): State<WebState>,
    who: Person,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    let store = st.rt.store.clone();
    let offset = offset_of(&q);
    let search = q.get("q").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let review = [PaymentStatus::Suggested, PaymentStatus::Unmatched];
    // A search looks through the whole queue (in the store), then shows its page.
    let query = search.clone();
    let page_of = blocking(move || match query {
        Some(needle) => store.search_payments(&tenant, &review, &needle, PAGE, offset),
        None => store.payments_with_status(&tenant, &review, Window { limit: PAGE, after: None, offset }),
    })
    .await?;
    let items = page_of.items.iter().map(to_json).collect::<Result<Vec<_>, _>>()?;
    let next = (offset + u64::from(PAGE) < page_of.total).then_some(offset + u64::from(PAGE));
    let prev = (offset > 0).then(|| offset.saturating_sub(u64::from(PAGE)));
    // The pager keeps the search.
    let more = search.as_deref().map(|s| format!("&q={}", url_part(s))).unwrap_or_default();
    page(
        &st,
        &who,
        "cash.html",
        "cash",
        json!({ "items": items, "total": page_of.total, "q": q.get("q"), "next": next, "prev": prev, "more": more, "done": q.get("done") }),
    )
}

#[derive(Deserialize)]
pub(crate) struct AcceptForm {
    #[serde(default)]
    csrf: String,
    candidate: usize,
}

pub(crate) async fn cash_accept(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
    Form(f): Form<AcceptForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let (cash, actor, t) = (st.rt.cash.clone(), who.actor(), tenant.clone());
    blocking(move || cash.accept(&t, id, f.candidate, &actor)).await?;
    Ok(Redirect::to(&format!("/t/{tenant}/cash?done={id}")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct RejectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn cash_reject(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
    Form(f): Form<RejectForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let (store, actor, t) = (st.rt.store.clone(), who.actor(), tenant.clone());
    let reason = if f.reason.trim().is_empty() { "rejected in the workspace".to_string() } else { f.reason };
    blocking(move || store.reject_payment(&t, id, &actor, &reason)).await?;
    Ok(Redirect::to(&format!("/t/{tenant}/cash?done={id}")).into_response())
}

/// Replies a person should read.
pub(crate) async fn replies(
    State(st): State<WebState>,
    who: Person,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    let store = st.rt.store.clone();
    let offset = offset_of(&q);
    let list = blocking(move || {
        store.messages(&tenant, &[MessageStatus::Review], Window { limit: PAGE, after: None, offset })
    })
    .await?;
    let next = (offset + u64::from(PAGE) < list.total).then_some(offset + u64::from(PAGE));
    let prev = (offset > 0).then(|| offset.saturating_sub(u64::from(PAGE)));
    page(
        &st,
        &who,
        "replies.html",
        "replies",
        json!({ "items": to_json(&list.items)?, "total": list.total, "next": next, "prev": prev }),
    )
}

/// One reply: the new text, what was read and why, and the correction form.
pub(crate) async fn reply(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    let store = st.rt.store.clone();
    let m = blocking(move || store.message(&tenant, id)).await?.ok_or(PageError::NotFound)?;
    let intents: Vec<&str> = relance_engine::replies::Intent::ALL.iter().map(|i| i.as_str()).collect();
    page(
        &st,
        &who,
        "reply.html",
        "replies",
        json!({ "m": to_json(&m)?, "intents": intents, "saved": q.contains_key("saved") }),
    )
}

#[derive(Deserialize)]
pub(crate) struct CorrectForm {
    #[serde(default)]
    csrf: String,
    intent: String,
    #[serde(default)]
    promised_date: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    invoices: String,
    #[serde(default)]
    comment: String,
}

/// Confirms or corrects a reply (the corrections API's rules), and asks for
/// the tenant model to be retrained when something changed.
pub(crate) async fn reply_correct(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
    Form(f): Form<CorrectForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let blank = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let input = json!({
        "by": who.name,
        "intent": f.intent,
        "promised_date": blank(&f.promised_date),
        "amount": blank(&f.amount),
        "invoices": blank(&f.invoices).map(|s| s.split([',', ' ']).filter(|x| !x.is_empty()).map(str::to_string).collect::<Vec<_>>()),
        "comment": blank(&f.comment),
    });
    let input: relance_store::CorrectionInput =
        serde_json::from_value(input).map_err(|e| PageError::BadRequest(format!("correction: {e}")))?;
    let tz = st.rt.settings.tenant(tenant.as_str()).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
    let today = Utc::now().with_timezone(&tz).date_naive();
    let (store, actor, t) = (st.rt.store.clone(), who.actor(), tenant.clone());
    let outcome = blocking(move || store.correct_reply(&t, id, &actor, &input, today)).await?;
    match outcome {
        Ok(o) => {
            if o.changed {
                st.rt.retrainer.request(st.rt.store.clone(), tenant.clone());
            }
            Ok(Redirect::to(&format!("/t/{tenant}/replies/{id}?saved=1")).into_response())
        }
        Err(refusal) => Err(PageError::BadRequest(refusal.to_string())),
    }
}

/// Customers of each currency listed in the reports page's aged balance.
const LARGEST_DEBTORS: u32 = 100;

/// Reports: DSO and the aged balance (with a chart per currency), as the
/// API computes them (the same engine functions; the same totals and DSO),
/// with the [`LARGEST_DEBTORS`] of each currency listed rather than every
/// customer (the API and its CSV give the whole table). The DSO reads the
/// months of sales back from today only as far as the receivables go (the
/// API's figure, which reads 24 months). The totals then the sales, and the
/// largest debtors, are read at the same time on two connections.
pub(crate) async fn reports(
    State(st): State<WebState>,
    who: Person,
    Path(tenant): Path<String>,
) -> Result<Response, PageError> {
    use relance_engine::reports::{self, AgeBucket, AgedGrouping, svg};
    let tenant = who.member_of(&tenant)?;
    let tz = st.rt.settings.tenant(tenant.as_str()).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
    let day = Utc::now().with_timezone(&tz).date_naive();
    let from = day.checked_sub_months(chrono::Months::new(24)).unwrap_or(day);
    let (store, t) = (st.rt.store.clone(), tenant.clone());
    let totals_and_sales = blocking(move || {
        let sums = store.aged_totals(&t, day)?;
        let sales = store.invoiced_months_back(&t, day, from, &sums.open)?;
        Ok((sums, sales))
    });
    let (store, t) = (st.rt.store.clone(), tenant.clone());
    let largest = blocking(move || store.largest_debtors(&t, day, LARGEST_DEBTORS));
    let ((sums, sales), largest) = tokio::try_join!(totals_and_sales, largest)?;
    let internal = |e: reports::ReportError| PageError::Internal(e.to_string());
    let by = AgedGrouping::Customer;
    let totals = reports::aged_balance_from_sums(&sums.totals, day, by).map_err(internal)?.totals;
    let mut rows = reports::aged_balance_from_sums(&largest.top, day, by).map_err(internal)?.rows;
    rows.sort_by(|a, b| (a.currency.code(), -a.total.minor, &a.key).cmp(&(b.currency.code(), -b.total.minor, &b.key)));
    let aged = reports::AgedBalance { as_of: day, by, rows, totals };
    let dso: Vec<serde_json::Value> = reports::dso_by_currency(&sums.open, &sales, day)
        .map_err(internal)?
        .iter()
        .map(|f| {
            json!({
                "currency": f.currency.code(),
                "receivables": f.receivables.to_decimal_string(),
                "days": reports::tenths_text(f.dso.tenths_of_days),
                "history_exhausted": f.dso.history_exhausted,
            })
        })
        .collect();
    let buckets: Vec<String> = AgeBucket::ALL.iter().map(|b| b.label().to_string()).collect();
    let title = crate::i18n::text(who.language, "reports.aged");
    let charts: Vec<String> = aged
        .totals
        .iter()
        .map(|t| {
            let caption = svg::Caption {
                title: format!("{title} ({})", t.currency.code()),
                desc: format!("{title}: {}", t.total.to_decimal_string()),
            };
            let series = [svg::Series {
                name: t.currency.code().to_string(),
                values: t.buckets.iter().map(|m| m.minor).collect(),
            }];
            svg::stacked_bar_chart(&caption, &buckets, &series, &svg::Scale::money(t.currency))
        })
        .collect();
    page(
        &st,
        &who,
        "reports.html",
        "reports",
        json!({
            "as_of": day, "buckets": buckets, "aged": to_json(&aged)?, "dso": dso, "charts": charts,
            "aged_rows": largest.rows,
        }),
    )
}

/// Operations: quarantined inputs, failed reminders, connectors.
pub(crate) async fn operations(
    State(st): State<WebState>,
    who: Person,
    Path(tenant): Path<String>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    let store = st.rt.store.clone();
    let t = tenant.clone();
    let (quarantine, failed, tasks, broken) = blocking(move || {
        Ok((
            store.quarantine(&t, PAGE)?,
            store.outbox(&t, Some("failed"), PAGE)?,
            store.tasks(&t, Some(TaskStatus::Open), PAGE)?,
            store.promises(&t, Some(PromiseStatus::Broken), PAGE)?,
        ))
    })
    .await?;
    let connectors: Vec<serde_json::Value> = st
        .rt
        .metrics
        .snapshot()
        .into_iter()
        .filter(|((t, _), _)| t == tenant.as_str())
        .map(|((_, name), s)| json!({ "name": name, "status": s }))
        .collect();
    page(
        &st,
        &who,
        "operations.html",
        "operations",
        json!({
            "quarantine": to_json(&quarantine)?, "failed": failed, "connectors": connectors,
            "tasks": to_json(&tasks)?, "broken": to_json(&broken)?,
        }),
    )
}

pub(crate) async fn outbox_retry(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let tenant: TenantId = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let (store, t) = (st.rt.store.clone(), tenant.clone());
    blocking(move || store.retry_outbox(&t, id)).await?;
    Ok(Redirect::to(&format!("/t/{tenant}/operations")).into_response())
}
