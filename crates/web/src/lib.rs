//! The collections workspace: web pages served by the daemon on the API's
//! port, for the people who handle what automation leaves to them.
//!
//! Server-rendered HTML (minijinja templates compiled into the binary, in
//! `templates/`), plain forms that post and redirect (no script is needed;
//! none is served), French and English (`i18n`). People log in with a
//! name and password of their tenant (`auth`, `session`); a session sees
//! only its own tenant: any other tenant's page answers 404. Every action
//! checks the session's CSRF token and role (read-only users act on
//! nothing) and is audited with the person's name (`user:<name>`), through
//! the same store and service calls as the JSON API.
//!
//! The binary merges [`router`] with the API's router
//! (`relance_runtime::api::serve_with`).

#![forbid(unsafe_code)]

mod actions;
pub mod auth;
mod cash;
mod i18n;
mod pages;
mod reports;
mod session;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use relance_runtime::daemon::Runtime;
use relance_store::{NewUser, StoreError, UserSource};

pub use auth::{PasswordError, hash_password, verify_password};

/// Shared by every page handler.
#[derive(Clone)]
pub(crate) struct WebState {
    pub rt: Runtime,
    pub views: Arc<views::Views>,
}

/// The workspace's routes (pages, forms, the style sheet).
pub fn router(rt: Runtime) -> Router {
    let state = WebState { rt, views: Arc::new(views::Views::new()) };
    Router::new()
        .route("/", get(pages::home))
        .route("/assets/style.css", get(pages::style))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/language", post(pages::language))
        .route("/t/{tenant}/", get(pages::today))
        .route("/t/{tenant}/cash", get(cash::cash))
        .route("/t/{tenant}/cash/{id}/accept", post(cash::accept))
        .route("/t/{tenant}/cash/{id}/allocate", post(cash::allocate))
        .route("/t/{tenant}/cash/{id}/reject", post(cash::reject))
        .route("/t/{tenant}/cash/allocations/{id}/undo", post(cash::undo))
        .route("/t/{tenant}/replies", get(pages::replies))
        .route("/t/{tenant}/replies/{id}", get(pages::reply))
        .route("/t/{tenant}/replies/{id}/correct", post(pages::reply_correct))
        .route("/t/{tenant}/customers/{id}", get(actions::customer))
        .route("/t/{tenant}/customers/{id}/holds", post(actions::hold))
        .route("/t/{tenant}/customers/{id}/notes", post(actions::note))
        .route("/t/{tenant}/customers/{id}/promises", post(actions::promise))
        .route("/t/{tenant}/customers/{id}/tasks", post(actions::task))
        .route("/t/{tenant}/holds/{id}/lift", post(actions::lift))
        .route("/t/{tenant}/tasks/{id}/close", post(actions::close_task))
        .route("/t/{tenant}/invoices/{number}/dispute/resolve", post(actions::resolve))
        .route("/t/{tenant}/approvals", get(actions::approvals))
        .route("/t/{tenant}/approvals/approve", post(actions::approve_many))
        .route("/t/{tenant}/approvals/{id}", get(actions::approval))
        .route("/t/{tenant}/approvals/{id}/email", get(actions::approval_email))
        .route("/t/{tenant}/approvals/{id}/document", get(actions::approval_document))
        .route("/t/{tenant}/approvals/{id}/approve", post(actions::approve))
        .route("/t/{tenant}/approvals/{id}/cancel", post(actions::cancel))
        .route("/t/{tenant}/reports", get(reports::reports))
        .route("/t/{tenant}/reports/{name}/csv", get(reports::csv))
        .route("/t/{tenant}/operations", get(pages::operations))
        .route("/t/{tenant}/outbox/{id}/retry", post(pages::outbox_retry))
        .route("/t/{tenant}/quarantine/{id}/dismiss", post(pages::quarantine_dismiss))
        .route("/t/{tenant}/quarantine/{id}/retry", post(pages::quarantine_retry))
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
}

/// Headers every page gets unless its handler set its own: a content
/// security policy allowing only this origin's style sheet, forms and
/// frames (no script anywhere), no MIME sniffing, no referrer to other
/// sites, no framing by other sites.
async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderName, HeaderValue, header};
    const HEADERS: [(HeaderName, &str); 4] = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-src 'self'; \
             object-src 'self'; frame-ancestors 'self'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
    ];
    let h = resp.headers_mut();
    for (name, value) in HEADERS {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    resp
}

/// Writes the users declared in the tenant files into the store (new ones
/// added, changed ones refreshed, audited as `config`). Users added with
/// `relance users add` are left alone unless a tenant file declares the
/// same name, which then wins.
pub fn sync_config_users(rt: &Runtime) -> Result<usize, StoreError> {
    let mut changed = 0;
    for t in &rt.settings.tenants {
        for u in &t.users {
            let user = NewUser {
                name: u.name.clone(),
                role: u.role,
                password_hash: u.password_hash.clone(),
                language: u.language,
            };
            if rt.store.upsert_user(&t.id, &user, UserSource::Config, "config")? {
                changed += 1;
            }
        }
    }
    Ok(changed)
}
