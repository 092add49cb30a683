//! Daemons and leases (issue #17): several `relance run` processes on one
//! database share the work, each piece in one daemon at a time.
//!
//! A daemon registers itself ([`Store::register_daemon`]) and beats
//! ([`Store::daemon_seen`]). Work that must not run twice at once (a
//! connector of a tenant, a tenant's reminder day, its matching) is done
//! under a lease: [`Store::acquire_lease`] takes the named lease when it is
//! free, expired, or already this daemon's (then it renews it), in one
//! statement (`INSERT … ON CONFLICT DO UPDATE … WHERE`), so that of two
//! daemons asking at once exactly one gets it. A daemon that dies stops
//! renewing; its leases expire after their time to live and another daemon
//! takes them. `generation` grows each time a lease changes hands: work
//! started under one generation can check it still holds that one
//! ([`Store::holds_lease`]) before it commits a result.
//!
//! Every method is written against [`crate::db::Db`]: the same on SQLite
//! (where the daemon lock already makes one daemon hold everything) and on
//! PostgreSQL.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::db::{Row, args};
use super::{Store, StoreError};

/// A registered daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DaemonView {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub started_at: String,
    /// Its last heartbeat.
    pub seen_at: String,
}

/// A lease and who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Lease {
    pub name: String,
    /// The daemon holding it (until `expires_at`).
    pub holder: String,
    /// Grows each time the lease changes hands.
    pub generation: i64,
    pub taken_at: String,
    pub renewed_at: String,
    pub expires_at: String,
}

fn text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn lease(r: &Row) -> Result<Lease, StoreError> {
    Ok(Lease {
        name: r.get(0)?,
        holder: r.get(1)?,
        generation: r.get(2)?,
        taken_at: r.get(3)?,
        renewed_at: r.get(4)?,
        expires_at: r.get(5)?,
    })
}

const LEASE_COLUMNS: &str = "name, holder, generation, taken_at, renewed_at, expires_at";

impl Store {
    /// Records a daemon (or refreshes its row when it restarts with the same id).
    pub fn register_daemon(&self, id: &str, host: &str, pid: u32, version: &str) -> Result<(), StoreError> {
        let now = text(Utc::now());
        self.db.write_any(|db| {
            db.execute(
                "INSERT INTO daemons (id, host, pid, version, started_at, seen_at) VALUES (?1,?2,?3,?4,?5,?5)
                 ON CONFLICT (id) DO UPDATE SET host=excluded.host, pid=excluded.pid, version=excluded.version,
                    started_at=excluded.started_at, seen_at=excluded.seen_at",
                args![id, host, pid, version, now],
            )?;
            Ok(())
        })
    }

    /// The daemon's heartbeat.
    pub fn daemon_seen(&self, id: &str) -> Result<(), StoreError> {
        let now = text(Utc::now());
        self.db.write_any(|db| {
            db.execute("UPDATE daemons SET seen_at=?2 WHERE id=?1", args![id, now])?;
            Ok(())
        })
    }

    /// The daemons seen since `since`, by id.
    pub fn daemons(&self, since: DateTime<Utc>) -> Result<Vec<DaemonView>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                "SELECT id, host, pid, version, started_at, seen_at FROM daemons WHERE seen_at >= ?1 ORDER BY id",
                args![text(since)],
            )?
            .iter()
            .map(|r| {
                Ok(DaemonView {
                    id: r.get(0)?,
                    host: r.get(1)?,
                    pid: r.get(2)?,
                    version: r.get(3)?,
                    started_at: r.get(4)?,
                    seen_at: r.get(5)?,
                })
            })
            .collect()
        })
    }

    /// Takes the lease `name` for `holder` for `ttl` when it is free, expired
    /// or already `holder`'s (renewed then); `None` when another daemon
    /// holds it. `now` is the caller's clock (the tests move it).
    pub fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError> {
        Ok(self.acquire_leases(&[name], holder, ttl, now)?.pop().flatten())
    }

    /// [`Store::acquire_lease`] for several leases in one transaction (a
    /// daemon's renewal round); one answer per name, in order.
    pub fn acquire_leases(
        &self,
        names: &[&str],
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Lease>>, StoreError> {
        let ttl = chrono::Duration::from_std(ttl).map_err(|e| StoreError::Rejected(format!("lease time: {e}")))?;
        let (now_text, until) = (text(now), text(now + ttl));
        let sql = format!(
            "INSERT INTO leases ({LEASE_COLUMNS}) VALUES (?1, ?2, 1, ?3, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET
                generation = CASE WHEN leases.holder = excluded.holder THEN leases.generation
                                  ELSE leases.generation + 1 END,
                taken_at = CASE WHEN leases.holder = excluded.holder THEN leases.taken_at
                                ELSE excluded.taken_at END,
                holder = excluded.holder, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
             WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.renewed_at
             RETURNING {LEASE_COLUMNS}"
        );
        self.db.write_any(|db| {
            // The WHERE of DO UPDATE decides: no row comes back when the
            // lease is someone else's and still running.
            names
                .iter()
                .map(|name| db.query_opt(&sql, args![*name, holder, now_text, until])?.map(|r| lease(&r)).transpose())
                .collect()
        })
    }

    /// Whether `holder` still holds `name` at `generation` (and it has not
    /// expired at `now`).
    pub fn holds_lease(
        &self,
        name: &str,
        holder: &str,
        generation: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.db.read_any(|db| {
            Ok(db
                .query_opt(
                    "SELECT 1 FROM leases WHERE name=?1 AND holder=?2 AND generation=?3 AND expires_at > ?4",
                    args![name, holder, generation, text(now)],
                )?
                .is_some())
        })
    }

    /// Gives a lease back (a daemon stopping cleanly), if `holder` holds it.
    pub fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        self.db
            .write_any(|db| Ok(db.execute("DELETE FROM leases WHERE name=?1 AND holder=?2", args![name, holder])? > 0))
    }

    /// The leases whose name starts with `prefix` (all for `""`), by name
    /// (the API shows a tenant's).
    pub fn leases(&self, prefix: &str) -> Result<Vec<Lease>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                &format!("SELECT {LEASE_COLUMNS} FROM leases WHERE substr(name, 1, length(CAST(?1 AS TEXT))) = ?1 ORDER BY name"),
                args![prefix],
            )?
            .iter()
            .map(lease)
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_has_one_holder_until_it_expires_then_changes_hands() {
        let dir = tempfile::tempdir().unwrap();
        for (store, _scratch) in crate::db::both_backends(dir.path()) {
            let t0 = Utc::now();
            let ttl = Duration::from_secs(30);
            let a = store.acquire_lease("acme/bank", "d1", ttl, t0).unwrap().expect("free: taken");
            assert_eq!((a.holder.as_str(), a.generation), ("d1", 1));
            assert!(store.acquire_lease("acme/bank", "d2", ttl, t0).unwrap().is_none(), "held by d1");
            // d1 renews: same generation, later expiry, same taken_at.
            let t1 = t0 + chrono::Duration::seconds(10);
            let renewed = store.acquire_lease("acme/bank", "d1", ttl, t1).unwrap().expect("renewed");
            assert_eq!((renewed.generation, &renewed.taken_at), (1, &a.taken_at));
            assert!(renewed.expires_at > a.expires_at);
            assert!(store.holds_lease("acme/bank", "d1", 1, t1).unwrap());
            // d1 dies: after the expiry d2 takes it, with a new generation.
            let t2 = t1 + chrono::Duration::seconds(31);
            assert!(!store.holds_lease("acme/bank", "d1", 1, t2).unwrap(), "expired");
            let b = store.acquire_lease("acme/bank", "d2", ttl, t2).unwrap().expect("expired: taken over");
            assert_eq!((b.holder.as_str(), b.generation), ("d2", 2));
            assert!(store.acquire_lease("acme/bank", "d1", ttl, t2).unwrap().is_none(), "d1 lost it");
            assert!(!store.holds_lease("acme/bank", "d1", 1, t2).unwrap());
            // Releasing: only the holder can; then anyone takes it (a new row).
            assert!(!store.release_lease("acme/bank", "d1").unwrap());
            assert!(store.release_lease("acme/bank", "d2").unwrap());
            assert_eq!(store.acquire_lease("acme/bank", "d1", ttl, t2).unwrap().map(|l| l.generation), Some(1));
            assert_eq!(store.leases("").unwrap().len(), 1);
            assert_eq!(store.leases("acme/").unwrap().len(), 1);
            assert!(store.leases("other/").unwrap().is_empty());
            // Daemons.
            store.register_daemon("d1", "host-a", 42, "0.1.0").unwrap();
            store.register_daemon("d2", "host-b", 43, "0.1.0").unwrap();
            store.daemon_seen("d1").unwrap();
            let seen = store.daemons(t0 - chrono::Duration::seconds(60)).unwrap();
            assert_eq!(seen.iter().map(|d| (d.id.as_str(), d.pid)).collect::<Vec<_>>(), vec![("d1", 42), ("d2", 43)]);
            assert!(store.daemons(Utc::now() + chrono::Duration::seconds(60)).unwrap().is_empty());
        }
    }

    /// Daemons racing for the same leases on PostgreSQL: each lease ends
    /// with exactly one holder, and every daemon's view agrees with it.
    #[test]
    fn racing_daemons_never_share_a_lease_on_postgres() {
        let Some(scratch) = crate::postgres::Scratch::for_test() else { return };
        let stores: Vec<Store> = (0..4).map(|_| Store::open_postgres(&scratch.url).unwrap()).collect();
        let now = Utc::now();
        let won: Vec<Vec<String>> = std::thread::scope(|s| {
            let handles: Vec<_> = stores
                .iter()
                .enumerate()
                .map(|(i, store)| {
                    s.spawn(move || {
                        (0..20)
                            .filter_map(|n| {
                                let name = format!("tenant{n}/bank");
                                store
                                    .acquire_lease(&name, &format!("d{i}"), Duration::from_secs(30), now)
                                    .unwrap()
                                    .map(|_| name)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<&String> = won.iter().flatten().collect();
        all.sort();
        let n = all.len();
        all.dedup();
        assert_eq!((n, all.len()), (20, 20), "each of the 20 leases won exactly once: {won:?}");
        for l in stores[0].leases("").unwrap() {
            let i: usize = l.holder.trim_start_matches('d').parse().unwrap();
            assert!(won[i].contains(&l.name), "{l:?}");
        }
    }
}
