//! People of the web workspace and their sessions (migration 0015).
//!
//! The store keeps what the web layer decides: argon2 hashes (it never sees
//! a password), failure counts and lock-outs, and sessions by the SHA-256 of
//! their secret. Hashing, verifying and the lock-out policy live in
//! `relance-web`; the times come from the caller so the rules can be tested.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, now_text, parse_time};
use crate::sqlite::insert_event;
use relance_domain::users::Role;
use relance_domain::{Language, TenantId};

/// Where a user was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSource {
    /// `[[users]]` of the tenant file, refreshed at every start.
    Config,
    /// `relance users add`.
    Cli,
}

impl UserSource {
    fn as_str(self) -> &'static str {
        match self {
            UserSource::Config => "config",
            UserSource::Cli => "cli",
        }
    }
    fn parse(s: &str) -> Result<UserSource, StoreError> {
        match s {
            "config" => Ok(UserSource::Config),
            "cli" => Ok(UserSource::Cli),
            other => Err(StoreError::Corrupt(format!("unknown user source `{other}`"))),
        }
    }
}

/// A user to create or refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    /// argon2 PHC string.
    pub password_hash: String,
    pub language: Option<Language>,
}

/// A stored user (the hash included: for the web layer only, never serialized).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub tenant: TenantId,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub language: Option<Language>,
    pub source: UserSource,
    pub failed_logins: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

/// A user as listed (no hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    pub name: String,
    pub role: Role,
    pub language: Option<Language>,
    pub source: UserSource,
    pub locked_until: Option<DateTime<Utc>>,
}

/// A session to open: the caller made the secret and keeps it in the cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Hex SHA-256 of the cookie's secret.
    pub id_hash: String,
    pub tenant: TenantId,
    pub user: String,
    pub csrf: String,
    pub language: Language,
    pub expires_at: DateTime<Utc>,
}

/// An open session, with its user's current role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub tenant: TenantId,
    pub user: String,
    pub role: Role,
    pub csrf: String,
    pub language: Language,
    pub expires_at: DateTime<Utc>,
}

/// `role, password_hash, language, source, failed_logins, locked_until` of a user row.
type UserRow = (String, String, Option<String>, String, i64, Option<String>);
/// `tenant_id, user_name, role, csrf, language, expires_at` of a session row.
type SessionRow = (String, String, String, String, String, String);

fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn role_of(s: &str) -> Result<Role, StoreError> {
    s.parse().map_err(|e: relance_domain::users::UnknownRole| StoreError::Corrupt(e.to_string()))
}

fn language_of(s: &str) -> Result<Language, StoreError> {
    s.parse().map_err(|e: relance_domain::DomainError| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Creates or refreshes a user (role, hash, language), audited. A
    /// refresh keeps the failure count and lock. Answers whether anything changed.
    pub fn upsert_user(
        &self,
        tenant: &TenantId,
        user: &NewUser,
        source: UserSource,
        actor: &str,
    ) -> Result<bool, StoreError> {
        self.db.write(|tx| {
            let now = now_text();
            let before: Option<(String, String, Option<String>)> = tx
                .query_row(
                    "SELECT role, password_hash, language FROM users WHERE tenant_id = ?1 AND name = ?2",
                    params![tenant.as_str(), user.name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let language = user.language.map(|l| l.as_str().to_string());
            let same = before
                .as_ref()
                .is_some_and(|(r, h, l)| r == user.role.as_str() && *h == user.password_hash && *l == language);
            if same {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO users (tenant_id, name, role, password_hash, language, source, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                 ON CONFLICT (tenant_id, name) DO UPDATE SET role = excluded.role,
                    password_hash = excluded.password_hash, language = excluded.language,
                    source = excluded.source, updated_at = excluded.updated_at",
                params![
                    tenant.as_str(),
                    user.name,
                    user.role.as_str(),
                    user.password_hash,
                    language,
                    source.as_str(),
                    now
                ],
            )?;
            let kind = if before.is_some() { "user_updated" } else { "user_added" };
            insert_event(
                tx,
                tenant.as_str(),
                actor,
                kind,
                &format!("user:{}", user.name),
                &serde_json::json!({ "role": user.role.as_str(), "source": source.as_str() }),
            )?;
            Ok(true)
        })
    }

    /// One user, with the hash, for logging in.
    pub fn user(&self, tenant: &TenantId, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.db.read(|c| {
            let row: Option<UserRow> = c
                .query_row(
                    "SELECT role, password_hash, language, source, failed_logins, locked_until
                       FROM users WHERE tenant_id = ?1 AND name = ?2",
                    params![tenant.as_str(), name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
                )
                .optional()?;
            let Some((role, password_hash, language, source, failed, locked)) = row else { return Ok(None) };
            Ok(Some(UserRecord {
                tenant: tenant.clone(),
                name: name.to_string(),
                role: role_of(&role)?,
                password_hash,
                language: language.as_deref().map(language_of).transpose()?,
                source: UserSource::parse(&source)?,
                failed_logins: u32::try_from(failed).unwrap_or(u32::MAX),
                locked_until: locked.as_deref().map(parse_time).transpose()?,
            }))
        })
    }

    /// The tenant's users, by name.
    pub fn users(&self, tenant: &TenantId) -> Result<Vec<UserView>, StoreError> {
        self.db.read(|c| {
            let mut st = c.prepare(
                "SELECT name, role, language, source, locked_until FROM users WHERE tenant_id = ?1 ORDER BY name",
            )?;
            let rows = st.query_map(params![tenant.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (name, role, language, source, locked) = row?;
                out.push(UserView {
                    name,
                    role: role_of(&role)?,
                    language: language.as_deref().map(language_of).transpose()?,
                    source: UserSource::parse(&source)?,
                    locked_until: locked.as_deref().map(parse_time).transpose()?,
                });
            }
            Ok(out)
        })
    }

    /// Counts a failed login of an existing user; at `max_failures` in a row
    /// the user is locked until `now + lock_for` (and the count restarts).
    /// Audited. Answers the lock's end when this failure set one.
    pub fn record_login_failure(
        &self,
        tenant: &TenantId,
        name: &str,
        now: DateTime<Utc>,
        max_failures: u32,
        lock_for: chrono::Duration,
        from: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.db.write(|tx| {
            let failed: Option<i64> = tx
                .query_row(
                    "UPDATE users SET failed_logins = failed_logins + 1 WHERE tenant_id = ?1 AND name = ?2
                     RETURNING failed_logins",
                    params![tenant.as_str(), name],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(failed) = failed else { return Ok(None) };
            let mut locked = None;
            if failed >= i64::from(max_failures) {
                let until = now + lock_for;
                tx.execute(
                    "UPDATE users SET failed_logins = 0, locked_until = ?3 WHERE tenant_id = ?1 AND name = ?2",
                    params![tenant.as_str(), name, time_text(until)],
                )?;
                locked = Some(until);
            }
            insert_event(
                tx,
                tenant.as_str(),
                &format!("web:{from}"),
                if locked.is_some() { "login_locked" } else { "login_failed" },
                &format!("user:{name}"),
                &serde_json::json!({ "failures": failed, "locked_until": locked.map(time_text) }),
            )?;
            Ok(locked)
        })
    }

    /// Opens a session after a successful login: clears the failure count
    /// and any lock, audited.
    pub fn open_session(&self, s: &NewSession, from: &str) -> Result<(), StoreError> {
        self.db.write(|tx| {
            let now = now_text();
            tx.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE tenant_id = ?1 AND name = ?2",
                params![s.tenant.as_str(), s.user],
            )?;
            tx.execute("DELETE FROM web_sessions WHERE expires_at <= ?1", params![now])?;
            tx.execute(
                "INSERT INTO web_sessions (id_hash, tenant_id, user_name, csrf, language, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    s.id_hash,
                    s.tenant.as_str(),
                    s.user,
                    s.csrf,
                    s.language.as_str(),
                    now,
                    time_text(s.expires_at)
                ],
            )?;
            insert_event(
                tx,
                s.tenant.as_str(),
                &format!("user:{}", s.user),
                "login",
                &format!("user:{}", s.user),
                &serde_json::json!({ "from": from }),
            )?;
            Ok(())
        })
    }

    /// The session of a cookie's secret hash, unless it expired or its user is gone.
    pub fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<SessionRecord>, StoreError> {
        self.db.read(|c| {
            let row: Option<SessionRow> = c
                .query_row(
                    "SELECT s.tenant_id, s.user_name, u.role, s.csrf, s.language, s.expires_at
                       FROM web_sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.name = s.user_name
                      WHERE s.id_hash = ?1 AND s.expires_at > ?2",
                    params![id_hash, time_text(now)],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
                )
                .optional()?;
            let Some((tenant, user, role, csrf, language, expires)) = row else { return Ok(None) };
            Ok(Some(SessionRecord {
                tenant: TenantId::new(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                user,
                role: role_of(&role)?,
                csrf,
                language: language_of(&language)?,
                expires_at: parse_time(&expires)?,
            }))
        })
    }

    /// Changes the language of a session's pages.
    pub fn set_session_language(&self, id_hash: &str, language: Language) -> Result<(), StoreError> {
        self.db.write(|tx| {
            tx.execute(
                "UPDATE web_sessions SET language = ?2 WHERE id_hash = ?1",
                params![id_hash, language.as_str()],
            )?;
            Ok(())
        })
    }

    /// Ends a session (logout), audited when there was one.
    pub fn close_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.db.write(|tx| {
            let gone: Option<(String, String)> = tx
                .query_row(
                    "DELETE FROM web_sessions WHERE id_hash = ?1 RETURNING tenant_id, user_name",
                    params![id_hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((tenant, user)) = gone {
                insert_event(
                    tx,
                    &tenant,
                    &format!("user:{user}"),
                    "logout",
                    &format!("user:{user}"),
                    &serde_json::json!({}),
                )?;
            }
            Ok(())
        })
    }
}
