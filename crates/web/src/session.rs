//! The person behind a request: the session cookie read back, the tenant in
//! the path checked, the CSRF token and the role checked before any action.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::Utc;
use relance_domain::users::Role;
use relance_domain::{Language, TenantId};

use crate::WebState;
use crate::auth::{SESSION_COOKIE, cookie, same_token, secret_hash};
use crate::pages::PageError;

/// A logged-in person.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub tenant: TenantId,
    pub name: String,
    pub role: Role,
    pub csrf: String,
    pub language: Language,
    /// SHA-256 of the cookie's secret (to log out, change language).
    pub id_hash: String,
}

impl Person {
    /// The audit actor of this person's actions.
    pub fn actor(&self) -> String {
        format!("user:{}", self.name)
    }

    /// The tenant of the path, when it is this person's; any other tenant
    /// does not exist for them (404, the same answer as an unknown tenant).
    pub fn member_of(&self, tenant: &str) -> Result<TenantId, PageError> {
        if self.tenant.as_str() == tenant { Ok(self.tenant.clone()) } else { Err(PageError::NotFound) }
    }

    /// Checks a form's CSRF token and that the role may act.
    pub fn may_act(&self, csrf: &str) -> Result<(), PageError> {
        if !same_token(&self.csrf, csrf) {
            return Err(PageError::Csrf);
        }
        if !self.role.can_act() {
            return Err(PageError::Forbidden);
        }
        Ok(())
    }
}

impl FromRequestParts<WebState> for Person {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, st: &WebState) -> Result<Person, PageError> {
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE).filter(|s| !s.is_empty()) else {
            return Err(PageError::Login);
        };
        let id_hash = secret_hash(secret);
        let store = st.rt.store.clone();
        let h = id_hash.clone();
        let found = tokio::task::spawn_blocking(move || store.session(&h, Utc::now()))
            .await
            .map_err(|e| PageError::Internal(e.to_string()))?
            .map_err(|e| PageError::Internal(e.to_string()))?;
        let s = found.ok_or(PageError::Login)?;
        Ok(Person { tenant: s.tenant, name: s.user, role: s.role, csrf: s.csrf, language: s.language, id_hash })
    }
}

/// Same as [`Person`], but a page without a session is not an error.
pub(crate) struct MaybePerson(pub Option<Person>);

impl FromRequestParts<WebState> for MaybePerson {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, st: &WebState) -> Result<MaybePerson, PageError> {
        match Person::from_request_parts(parts, st).await {
            Ok(p) => Ok(MaybePerson(Some(p))),
            Err(PageError::Login) => Ok(MaybePerson(None)),
            Err(e) => Err(e),
        }
    }
}
