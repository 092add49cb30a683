//! Passwords, session secrets, CSRF tokens and the session cookie.
//!
//! * Passwords are kept as argon2id PHC strings (`argon2` crate, default
//!   parameters: 19 MiB, 2 passes); verifying runs on the blocking pool.
//! * A session is 32 random bytes (`getrandom`, the OS generator) sent in an
//!   `HttpOnly`, `SameSite=Strict` cookie (`Secure` when the request came
//!   over TLS through a proxy: `X-Forwarded-Proto: https`). The store keeps
//!   only its SHA-256, so a copy of the database lets nobody in.
//! * Every form of a session carries the session's CSRF token (another 32
//!   random bytes), compared in constant time; the login form, which has no
//!   session yet, uses a double-submit cookie.
//! * Lock-out: [`MAX_FAILURES`] failed logins in a row lock the user for
//!   [`LOCK_FOR_MINUTES`] minutes; an unknown name costs the same argon2
//!   work as a known one, and both answer the same message.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::HeaderMap;
use axum::http::header;
use sha2::{Digest, Sha256};

/// Failed logins in a row before a lock.
pub const MAX_FAILURES: u32 = 5;
/// How long a lock lasts.
pub const LOCK_FOR_MINUTES: i64 = 15;
/// How long a session lasts.
pub const SESSION_HOURS: i64 = 10;
/// The session cookie.
pub const SESSION_COOKIE: &str = "relance_session";
/// The login form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "relance_login";

/// Why a password could not be hashed or a hash read.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least 10 characters")]
    TooShort,
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
    #[error("argon2: {0}")]
    Hash(String),
}

/// 32 random bytes, hex.
pub fn random_token() -> Result<String, PasswordError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| PasswordError::Random(e.to_string()))?;
    Ok(hex::encode(b))
}

/// The stored form of a session secret.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// An argon2id PHC hash of `password` with a random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < 10 {
        return Err(PasswordError::TooShort);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC `hash` (false for an unreadable hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash checked when the user does not exist, so that an unknown name
/// takes as long as a wrong password.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4ZHrvMcKk0Ro1f9+Kc1NzNu7Rl1sM7iHB4dXs5kPzh4";

/// Equal strings, compared in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether the request came over TLS (through a reverse proxy that says so).
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, `Secure` over TLS.
pub fn set_cookie(name: &str, value: &str, max_age_seconds: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_seconds}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(matches!(hash_password("short"), Err(PasswordError::TooShort)));
        // Two hashes of one password differ (random salt).
        assert_ne!(h, hash_password("correct horse battery").unwrap());
        assert!(PasswordHash::new(DUMMY_HASH).is_ok(), "the dummy hash parses, so it costs real work");
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &b));
        assert!(!same_token("", ""), "an empty token never matches");
        assert!(!same_token(&a, &a[..63]));
        assert_eq!(secret_hash("x").len(), 64);
    }

    #[test]
    fn cookies_are_read_by_name_and_written_safely() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; relance_session=abc ; b=2".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        let c = set_cookie(SESSION_COOKIE, "v", 60, false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(over_tls(&h));
        assert!(set_cookie(SESSION_COOKIE, "v", 60, true).ends_with("; Secure"));
    }
}
