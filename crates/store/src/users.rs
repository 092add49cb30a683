//! People of the web workspace and their sessions (migration 0015).
//!
//! The store keeps what the web layer decides: argon2 hashes (it never sees
//! a password), failure counts and lock-outs, and sessions by the SHA-256 of
//! their secret. Hashing, verifying and the lock-out policy live in
//! `relance-web`; the times come from the caller so the rules can be tested.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::db::args;
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
        self.db.write_any(|db| {
            let now = now_text();
            let before: Option<(String, String, Option<String>)> = db
                .query_opt(
                    "SELECT role, password_hash, language FROM users WHERE tenant_id = ?1 AND name = ?2",
                    args![tenant.as_str(), user.name],
                )?
                .map(|r| Ok::<_, StoreError>((r.get(0)?, r.get(1)?, r.get(2)?)))
                .transpose()?;
            let language = user.language.map(|l| l.as_str().to_string());
            let same = before
                .as_ref()
                .is_some_and(|(r, h, l)| r == user.role.as_str() && *h == user.password_hash && *l == language);
            if same {
                return Ok(false);
            }
            db.execute(
                "INSERT INTO users (tenant_id, name, role, password_hash, language, source, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                 ON CONFLICT (tenant_id, name) DO UPDATE SET role = excluded.role,
                    password_hash = excluded.password_hash, language = excluded.language,
                    source = excluded.source, updated_at = excluded.updated_at",
                args![
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
                db,
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
        self.db.read_any(|db| {
            let Some(r) = db.query_opt(
                "SELECT role, password_hash, language, source, failed_logins, locked_until
                   FROM users WHERE tenant_id = ?1 AND name = ?2",
                args![tenant.as_str(), name],
            )?
            else {
                return Ok(None);
            };
            let failed: i64 = r.get(4)?;
            Ok(Some(UserRecord {
                tenant: tenant.clone(),
                name: name.to_string(),
                role: role_of(&r.get::<String>(0)?)?,
                password_hash: r.get(1)?,
                language: r.get::<Option<String>>(2)?.as_deref().map(language_of).transpose()?,
                source: UserSource::parse(&r.get::<String>(3)?)?,
                failed_logins: u32::try_from(failed).unwrap_or(u32::MAX),
                locked_until: r.get::<Option<String>>(5)?.as_deref().map(parse_time).transpose()?,
            }))
        })
    }

    /// The tenant's users, by name.
    pub fn users(&self, tenant: &TenantId) -> Result<Vec<UserView>, StoreError> {
        self.db.read_any(|db| {
            // Names compare byte-wise on both databases (`COLLATE "C"` on PostgreSQL).
            let order = if db.is_postgres() { "name COLLATE \"C\"" } else { "name" };
            let rows = db.query(
                &format!(
                    "SELECT name, role, language, source, locked_until FROM users WHERE tenant_id = ?1 ORDER BY {order}"
                ),
                args![tenant.as_str()],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(UserView {
                        name: r.get(0)?,
                        role: role_of(&r.get::<String>(1)?)?,
                        language: r.get::<Option<String>>(2)?.as_deref().map(language_of).transpose()?,
                        source: UserSource::parse(&r.get::<String>(3)?)?,
                        locked_until: r.get::<Option<String>>(4)?.as_deref().map(parse_time).transpose()?,
                    })
                })
                .collect()
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
        self.db.write_any(|db| {
            let failed: Option<i64> = db
                .query_opt(
                    "UPDATE users SET failed_logins = failed_logins + 1 WHERE tenant_id = ?1 AND name = ?2
                     RETURNING failed_logins",
                    args![tenant.as_str(), name],
                )?
                .map(|r| r.get(0))
                .transpose()?;
            let Some(failed) = failed else { return Ok(None) };
            let mut locked = None;
            if failed >= i64::from(max_failures) {
                let until = now + lock_for;
                db.execute(
                    "UPDATE users SET failed_logins = 0, locked_until = ?3 WHERE tenant_id = ?1 AND name = ?2",
                    args![tenant.as_str(), name, time_text(until)],
                )?;
                locked = Some(until);
            }
            insert_event(
                db,
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
        self.db.write_any(|db| {
            let now = now_text();
            db.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE tenant_id = ?1 AND name = ?2",
                args![s.tenant.as_str(), s.user],
            )?;
            db.execute("DELETE FROM web_sessions WHERE expires_at <= ?1", args![now])?;
            db.execute(
                "INSERT INTO web_sessions (id_hash, tenant_id, user_name, csrf, language, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                args![s.id_hash, s.tenant.as_str(), s.user, s.csrf, s.language.as_str(), now, time_text(s.expires_at)],
            )?;
            insert_event(
                db,
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
        self.db.read_any(|db| {
            let Some(r) = db.query_opt(
                "SELECT s.tenant_id, s.user_name, u.role, s.csrf, s.language, s.expires_at
                   FROM web_sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.name = s.user_name
                  WHERE s.id_hash = ?1 AND s.expires_at > ?2",
                args![id_hash, time_text(now)],
            )?
            else {
                return Ok(None);
            };
            Ok(Some(SessionRecord {
                tenant: TenantId::new(&r.get::<String>(0)?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                user: r.get(1)?,
                role: role_of(&r.get::<String>(2)?)?,
                csrf: r.get(3)?,
                language: language_of(&r.get::<String>(4)?)?,
                expires_at: parse_time(&r.get::<String>(5)?)?,
            }))
        })
    }

    /// Changes the language of a session's pages.
    pub fn set_session_language(&self, id_hash: &str, language: Language) -> Result<(), StoreError> {
        self.db.write_any(|db| {
            db.execute("UPDATE web_sessions SET language = ?2 WHERE id_hash = ?1", args![id_hash, language.as_str()])?;
            Ok(())
        })
    }

    /// Ends a session (logout), audited when there was one.
    pub fn close_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.db.write_any(|db| {
            let gone = db.query_opt(
                "DELETE FROM web_sessions WHERE id_hash = ?1 RETURNING tenant_id, user_name",
                args![id_hash],
            )?;
            if let Some(r) = gone {
                let (tenant, user): (String, String) = (r.get(0)?, r.get(1)?);
                insert_event(
                    db,
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
