//! The pages where people decide: reminders waiting for approval (preview,
//! approve as is or edited, cancel with a reason, approve several at once),
//! and the customer page with its holds, disputes, promises, notes and
//! tasks. Each action goes through the store functions of the JSON API
//! (`relance_store`'s holds, disputes, tasks, notes and approvals), with
//! the person as the audit actor.

use axum::Form;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::WebState;
use crate::pages::{PageError, blocking, page, to_json, url_part};
use crate::session::Person;
use relance_domain::TenantId;
use relance_store::{DisputeResolution, HoldFilter, HoldTarget, NewPromise, NewTask, OutboxEdit, Window};

use crate::pages::refused as acted;

/// Open items per page of the customer page, and timeline entries.
const OPEN_ITEMS_PAGE: u32 = 50;
const TIMELINE_PAGE: u32 = 30;

fn today(st: &WebState, tenant: &TenantId) -> NaiveDate {
    let tz = st.rt.settings.tenant(tenant.as_str()).map(|t| t.timezone).unwrap_or(chrono_tz::UTC);
    Utc::now().with_timezone(&tz).date_naive()
}

fn blank(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn date(s: &str) -> Result<Option<NaiveDate>, PageError> {
    blank(s)
        .map(|d| {
            NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                .map_err(|_| PageError::BadRequest(format!("`{d}` is not a date (YYYY-MM-DD)")))
        })
        .transpose()
}

/// Reminders waiting for a person's approval, newest first.
pub(crate) async fn approvals(
    State(st): State<WebState>,
    who: Person,
    Path(tenant): Path<String>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    let store = st.rt.store.clone();
    let items = blocking(move || store.outbox(&tenant, Some("to_confirm"), 200)).await?;
    page(&st, &who, "approvals.html", "approvals", json!({ "items": items }))
}

/// One reminder waiting for approval: the rendered message, the form to
/// approve it (as is or edited) or cancel it.
pub(crate) async fn approval(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    let config = st.rt.settings.tenant(tenant.as_str()).cloned().ok_or(PageError::NotFound)?;
    let channels = st.rt.channels(&tenant);
    let store = st.rt.store.clone();
    let (o, p) = blocking(move || {
        let o = store.outbox_entry(&tenant, id)?;
        let p = relance_runtime::reminders::deliver::preview(&store, &config, &channels, id, Utc::now())?;
        Ok((o, p))
    })
    .await?;
    let (o, p) = (o.ok_or(PageError::NotFound)?, p.ok_or(PageError::NotFound)?);
    let sms =
        (p.channel == relance_domain::Channel::Sms).then(|| relance_runtime::reminders::deliver::sms_size(&p.text));
    let preview = json!({
        "recipients": p.recipients, "undeliverable": p.undeliverable, "connector": p.connector,
        "html": p.html.is_some(), "sms": sms,
        "document": p.document.as_ref().map(|d| json!({ "file_name": d.file_name, "bytes": d.bytes.len() })),
    });
    page(&st, &who, "approval.html", "approvals", json!({ "o": to_json(&o)?, "preview": preview }))
}

/// The HTML part of a reminder e-mail as it would go out now, in a
/// sandboxed frame of the approval page (no script, no network).
pub(crate) async fn approval_email(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    use axum::http::header;
    let tenant = who.member_of(&tenant)?;
    let config = st.rt.settings.tenant(tenant.as_str()).cloned().ok_or(PageError::NotFound)?;
    let channels = st.rt.channels(&tenant);
    let store = st.rt.store.clone();
    let p = blocking(move || relance_runtime::reminders::deliver::preview(&store, &config, &channels, id, Utc::now()))
        .await?
        .ok_or(PageError::NotFound)?;
    let html = p.html.ok_or(PageError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
        ],
        html,
    )
        .into_response())
}

/// The document a reminder's channel would deliver now (a letter's PDF).
pub(crate) async fn approval_document(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    match relance_runtime::api::document(&st.rt, tenant, id).await {
        Ok(doc) => Ok(doc.into_response()),
        Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => Err(PageError::NotFound),
        Err(e) => Err(PageError::Internal(format!("{e:?}"))),
    }
}

#[derive(Deserialize)]
pub(crate) struct ApproveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

pub(crate) async fn approve(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
    Form(f): Form<ApproveForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let (store, actor, t) = (st.rt.store.clone(), who.actor(), tenant.clone());
    let o = blocking(move || store.outbox_entry(&t, id)).await?.ok_or(PageError::NotFound)?;
    // Only what the person changed counts as an edit.
    let edit = OutboxEdit {
        subject: f.subject.filter(|s| s.trim() != o.subject.trim()),
        body: f.body.map(|b| b.replace("\r\n", "\n")).filter(|b| b.trim() != o.body.trim()),
    };
    let (store, t) = (st.rt.store.clone(), tenant.clone());
    acted(blocking(move || store.approve_outbox(&t, id, &edit, &actor)).await?)?;
    Ok(Redirect::to(&format!("/t/{tenant}/approvals")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn cancel(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, i64)>,
    Form(f): Form<ReasonForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let (store, actor, t) = (st.rt.store.clone(), who.actor(), tenant.clone());
    acted(blocking(move || store.cancel_outbox(&t, id, &f.reason, &actor)).await?)?;
    Ok(Redirect::to(&format!("/t/{tenant}/approvals")).into_response())
}

/// Approves the ticked reminders (`id` repeated), each on its own.
pub(crate) async fn approve_many(
    State(st): State<WebState>,
    who: Person,
    Path(tenant): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    let csrf = pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
    who.may_act(csrf)?;
    let ids: Vec<i64> = pairs.iter().filter(|(k, _)| k == "id").filter_map(|(_, v)| v.parse().ok()).collect();
    let (store, actor, t) = (st.rt.store.clone(), who.actor(), tenant.clone());
    blocking(move || store.approve_outbox_many(&t, &ids, &actor)).await?;
    Ok(Redirect::to(&format!("/t/{tenant}/approvals")).into_response())
}

/// A customer: open items, what the planner would do today and why, holds,
/// disputes, promises, notes and tasks, with the actions on them.
pub(crate) async fn customer(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    let day = today(&st, &tenant);
    let config = st.rt.settings.tenant(tenant.as_str()).cloned().ok_or(PageError::NotFound)?;
    let store = st.rt.store.clone();
    let cid = id.clone();
    let after = q.get("after").filter(|a| !a.is_empty()).cloned();
    let more = q.get("more").filter(|m| !m.is_empty()).cloned();
    let (items_after, timeline_after) = (after.clone(), more.clone());
    let data = blocking(move || {
        let Some(overview) =
            store.customer_overview(&tenant, &cid, day, Window::after(OPEN_ITEMS_PAGE, items_after))?
        else {
            return Ok(None);
        };
        let timeline = store.customer_timeline(&tenant, &cid, timeline_after.as_deref(), TIMELINE_PAGE)?;
        let holds = store.holds(
            &tenant,
            &HoldFilter { customer_id: Some(cid.clone()), active_only: true, after: 0, limit: 100 },
            day,
        )?;
        let outlook = relance_runtime::reminders::plan::customer_outlook(&store, &config, &cid, day)
            .map_err(|e| relance_store::StoreError::Rejected(e.to_string()))?;
        Ok(Some((overview, timeline, holds, outlook)))
    })
    .await?;
    let (overview, (timeline, timeline_next), holds, outlook) = data.ok_or(PageError::NotFound)?;
    let base = format!("/t/{}/customers/{}", who.tenant.as_str(), url_part(&id));
    // Each link keeps the other list's place.
    let next_items = overview.next_after.as_ref().map(|n| link(&base, &[("after", Some(n)), ("more", more.as_ref())]));
    let first_items = after.as_ref().map(|_| link(&base, &[("more", more.as_ref())]));
    let more_url = timeline_next.as_ref().map(|n| link(&base, &[("after", after.as_ref()), ("more", Some(n))]));
    let latest = more.as_ref().map(|_| link(&base, &[("after", after.as_ref())]));
    let resolutions: Vec<&str> = DisputeResolution::ALL.iter().map(|r| r.as_str()).collect();
    page(
        &st,
        &who,
        "customer.html",
        "customers",
        json!({
            "customer_id": id, "today": day, "base": base,
            "customer": to_json(&overview.customer)?,
            "invoices": to_json(&overview.items)?, "totals": to_json(&overview.totals)?,
            "unapplied": to_json(&overview.unapplied)?, "contacts": to_json(&overview.contacts)?,
            "tasks": to_json(&overview.tasks)?, "promises": to_json(&overview.promises)?,
            "holds": to_json(&holds.items)?,
            "timeline": to_json(&timeline)?,
            "next_items": next_items, "first_items": first_items, "more": more_url, "latest": latest,
            "scenario": outlook.as_ref().map(|(s, _)| s.clone()),
            "outlook": outlook.as_ref().map(|(_, o)| to_json(o)).transpose()?,
            "resolutions": resolutions,
        }),
    )
}

/// `base` with the given query parameters (those with a value), encoded.
fn link(base: &str, params: &[(&str, Option<&String>)]) -> String {
    let query: Vec<String> = params.iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", url_part(v)))).collect();
    if query.is_empty() { base.to_string() } else { format!("{base}?{}", query.join("&")) }
}

fn back_to(tenant: &TenantId, customer: &str) -> Response {
    Redirect::to(&format!("/t/{tenant}/customers/{}", url_part(customer))).into_response()
}

#[derive(Deserialize)]
pub(crate) struct HoldForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    until: String,
    /// One invoice of the customer; the whole customer when empty.
    #[serde(default)]
    invoice: String,
}

pub(crate) async fn hold(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, String)>,
    Form(f): Form<HoldForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let until = date(&f.until)?;
    let day = today(&st, &tenant);
    let (store, actor, t, cid) = (st.rt.store.clone(), who.actor(), tenant.clone(), id.clone());
    acted(
        blocking(move || {
            let target = match blank(&f.invoice) {
                Some(ref n) => return store.place_hold(&t, HoldTarget::Invoice(n), &f.reason, until, &actor, day),
                None => HoldTarget::Customer(&cid),
            };
            store.place_hold(&t, target, &f.reason, until, &actor, day)
        })
        .await?,
    )?;
    Ok(back_to(&tenant, &id))
}

#[derive(Deserialize)]
pub(crate) struct BackForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    note: String,
}

pub(crate) async fn lift(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, hold)): Path<(String, i64)>,
    Form(f): Form<BackForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let day = today(&st, &tenant);
    let (store, actor, t, note) = (st.rt.store.clone(), who.actor(), tenant.clone(), blank(&f.note));
    acted(blocking(move || store.lift_hold(&t, hold, &actor, note.as_deref(), day)).await?)?;
    Ok(back_to(&tenant, &f.customer))
}

#[derive(Deserialize)]
pub(crate) struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    customer: String,
    resolution: String,
    #[serde(default)]
    note: String,
}

pub(crate) async fn resolve(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, number)): Path<(String, String)>,
    Form(f): Form<ResolveForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let resolution = DisputeResolution::ALL
        .into_iter()
        .find(|r| r.as_str() == f.resolution)
        .ok_or_else(|| PageError::BadRequest(format!("unknown resolution `{}`", f.resolution)))?;
    let (store, actor, t, note) = (st.rt.store.clone(), who.actor(), tenant.clone(), blank(&f.note));
    acted(blocking(move || store.resolve_dispute(&t, &number, resolution, note.as_deref(), &actor)).await?)?;
    Ok(back_to(&tenant, &f.customer))
}

#[derive(Deserialize)]
pub(crate) struct NoteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

pub(crate) async fn note(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, String)>,
    Form(f): Form<NoteForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let (store, actor, t, cid) = (st.rt.store.clone(), who.actor(), tenant.clone(), id.clone());
    acted(blocking(move || store.add_note(&t, &cid, None, &f.text, &actor)).await?)?;
    Ok(back_to(&tenant, &id))
}

#[derive(Deserialize)]
pub(crate) struct PromiseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    promised_date: String,
    #[serde(default)]
    amount: String,
}

pub(crate) async fn promise(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, String)>,
    Form(f): Form<PromiseForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let promised_date =
        date(&f.promised_date)?.ok_or_else(|| PageError::BadRequest("a promise needs a date".into()))?;
    let p = NewPromise { promised_date, amount: blank(&f.amount), currency: None, invoices: Vec::new(), note: None };
    let (store, actor, t, cid) = (st.rt.store.clone(), who.actor(), tenant.clone(), id.clone());
    acted(blocking(move || store.record_promise(&t, &cid, &p, &actor)).await?)?;
    Ok(back_to(&tenant, &id))
}

#[derive(Deserialize)]
pub(crate) struct TaskForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    due_on: String,
}

pub(crate) async fn task(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, id)): Path<(String, String)>,
    Form(f): Form<TaskForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let task = NewTask {
        kind: None,
        customer: id.clone(),
        invoices: Vec::new(),
        note: f.note,
        due_on: date(&f.due_on)?,
        assignee: Some(who.name.clone()),
    };
    let (store, actor, t) = (st.rt.store.clone(), who.actor(), tenant.clone());
    acted(blocking(move || store.create_task(&t, &task, &actor)).await?)?;
    Ok(back_to(&tenant, &id))
}

pub(crate) async fn close_task(
    State(st): State<WebState>,
    who: Person,
    Path((tenant, task)): Path<(String, i64)>,
    Form(f): Form<BackForm>,
) -> Result<Response, PageError> {
    let tenant = who.member_of(&tenant)?;
    who.may_act(&f.csrf)?;
    let (store, actor, t, note) = (st.rt.store.clone(), who.actor(), tenant.clone(), blank(&f.note));
    acted(blocking(move || store.close_task(&t, task, note.as_deref(), &actor)).await?)?;
    if f.customer.is_empty() {
        return Ok(Redirect::to(&format!("/t/{tenant}/operations")).into_response());
    }
    Ok(back_to(&tenant, &f.customer))
}
