//! A tenant's secret keys (`tenant_keys`): 32 random bytes per purpose,
//! created at first use in the same statement for every daemon sharing the
//! database (`INSERT … ON CONFLICT DO NOTHING`, then read back), never sent
//! or logged.

use super::db::{Db, args};
use super::{Store, StoreError, now_text};

/// Length of a key in bytes.
pub const KEY_LEN: usize = 32;

/// What a key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// The reply tokens of reminders (`relance_engine::replies::token`).
    ReplyTokens,
}

impl KeyPurpose {
    fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::ReplyTokens => "reply_tokens",
        }
    }
}

/// A secret key: its bytes are never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantKey(Vec<u8>);

impl TenantKey {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for TenantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TenantKey(…)")
    }
}

impl Store {
    /// The tenant's key for `purpose`, created (random) the first time.
    pub fn tenant_key(&self, tenant: &relance_domain::TenantId, purpose: KeyPurpose) -> Result<TenantKey, StoreError> {
        if let Some(key) = self.db.read_any(|db| existing(db, tenant.as_str(), purpose))? {
            return Ok(key);
        }
        let mut fresh = [0u8; KEY_LEN];
        getrandom::fill(&mut fresh)
            .map_err(|e| StoreError::Rejected(format!("no random numbers from the system: {e}")))?;
        self.db.write_any(|db| {
            db.execute(
                "INSERT INTO tenant_keys (tenant_id, purpose, key, created_at) VALUES (?1,?2,?3,?4)
                 ON CONFLICT (tenant_id, purpose) DO NOTHING",
                args![tenant.as_str(), purpose.as_str(), fresh[..], now_text()],
            )?;
            existing(db, tenant.as_str(), purpose)?
                .ok_or_else(|| StoreError::Corrupt(format!("the {} key was not kept", purpose.as_str())))
        })
    }
}

/// The key of the transaction `tx` or connection, if it exists (no key is
/// created: reading replies needs none before a reminder was signed).
pub(crate) fn existing(db: Db<'_>, tenant: &str, purpose: KeyPurpose) -> Result<Option<TenantKey>, StoreError> {
    let key: Option<Vec<u8>> = db
        .query_opt("SELECT key FROM tenant_keys WHERE tenant_id=?1 AND purpose=?2", args![tenant, purpose.as_str()])?
        .map(|r| r.get(0))
        .transpose()?;
    match key {
        Some(k) if k.len() == KEY_LEN => Ok(Some(TenantKey(k))),
        Some(k) => {
            Err(StoreError::Corrupt(format!("the {} key has {} bytes, not {KEY_LEN}", purpose.as_str(), k.len())))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_created_once_per_tenant_and_purpose_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        keys_are_created_once_and_kept(&|| Store::open_sqlite(&path).unwrap());
    }

    /// The same on PostgreSQL (a schema of its own on the test server).
    #[test]
    fn a_key_is_created_once_per_tenant_and_purpose_and_kept_on_postgres() {
        let Some(scratch) = crate::postgres::Scratch::for_test() else { return };
        keys_are_created_once_and_kept(&|| Store::open_postgres(&scratch.url).unwrap());
    }

    fn keys_are_created_once_and_kept(open: &dyn Fn() -> Store) {
        let store = open();
        let a = relance_domain::TenantId::new("a").unwrap();
        let b = relance_domain::TenantId::new("b").unwrap();
        let first = store.tenant_key(&a, KeyPurpose::ReplyTokens).unwrap();
        assert_eq!(first.bytes().len(), KEY_LEN);
        assert_eq!(store.tenant_key(&a, KeyPurpose::ReplyTokens).unwrap(), first);
        assert_ne!(store.tenant_key(&b, KeyPurpose::ReplyTokens).unwrap(), first, "one key per tenant");
        assert_eq!(format!("{first:?}"), "TenantKey(…)", "never printed");
        drop(store);
        let reopened = open();
        assert_eq!(reopened.tenant_key(&a, KeyPurpose::ReplyTokens).unwrap(), first, "kept across restarts");
    }
}
