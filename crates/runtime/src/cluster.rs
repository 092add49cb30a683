//! This daemon among others (issue #17): its identity, and the leases it
//! holds on the work that must run in one daemon at a time.
//!
//! Each piece of scheduled work has a lease name ([`LeaseName`]): a
//! connector of a tenant, a tenant's reminders, its cash application, its
//! housekeeping. A keeper task ([`Cluster::keep`]) beats for the daemon and
//! takes or renews every lease it can every [`RENEW_EVERY`] (time to live
//! [`LEASE_TTL`]); the work loops run only while their lease is held
//! ([`Cluster::holds`]) and skip their turn otherwise. A daemon that dies
//! stops renewing: within [`LEASE_TTL`] + [`RENEW_EVERY`] (25 s) another
//! daemon's keeper takes its leases over. On a clean stop the leases are
//! given back.
//!
//! On SQLite a single daemon runs (the daemon lock), so it holds every
//! lease; on PostgreSQL the same code shares the work between daemons.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use relance_domain::TenantId;
use relance_store::{Store, StoreError};

/// How long a lease lasts without renewal.
/// With [`RENEW_EVERY`], the longest a dead daemon's work waits for
/// another (issue #17 asks for 30 s at most).
pub const LEASE_TTL: Duration = Duration::from_secs(20);
/// How often the keeper beats and renews (a quarter of the time to live:
/// a renewal may fail or be late three times before the lease is lost).
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

/// The kinds of work done under a lease.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeaseName {
    Connector { tenant: TenantId, connector: String },
    Dunning(TenantId),
    Cash(TenantId),
    Housekeeping(TenantId),
}

impl LeaseName {
    /// The stored name: `tenant/<id>/<what>`.
    pub fn key(&self) -> String {
        match self {
            LeaseName::Connector { tenant, connector } => format!("tenant/{tenant}/connector/{connector}"),
            LeaseName::Dunning(t) => format!("tenant/{t}/dunning"),
            LeaseName::Cash(t) => format!("tenant/{t}/cash"),
            LeaseName::Housekeeping(t) => format!("tenant/{t}/housekeeping"),
        }
    }

    /// The prefix of a tenant's lease names.
    pub fn tenant_prefix(tenant: &TenantId) -> String {
        format!("tenant/{tenant}/")
    }
}

/// This daemon: its identity and the leases it holds (name → generation).
pub struct Cluster {
    pub daemon_id: String,
    pub host: String,
    wanted: Mutex<Vec<String>>,
    held: Mutex<BTreeMap<String, i64>>,
}

impl Cluster {
    /// A new identity: `<host>-<pid>-<random>` (unique across restarts).
    pub fn new() -> Cluster {
        let host = hostname();
        let mut random = [0u8; 3];
        if getrandom::fill(&mut random).is_err() {
            random = [0; 3];
        }
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        Cluster {
            daemon_id: format!("{host}-{}-{suffix}", std::process::id()),
            host,
            wanted: Mutex::default(),
            held: Mutex::default(),
        }
    }

    /// Declares the work this daemon can do.
    pub fn want(&self, names: impl IntoIterator<Item = LeaseName>) {
        let mut wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner());
        for n in names {
            let key = n.key();
            if !wanted.contains(&key) {
                wanted.push(key);
            }
        }
    }

    /// Whether this daemon holds the lease of `name` now.
    pub fn holds(&self, name: &LeaseName) -> bool {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&name.key())
    }

    /// The leases held, by name, with their generation.
    pub fn held(&self) -> Vec<(String, i64)> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, g)| (k.clone(), *g)).collect()
    }

    /// Registers the daemon, then beats and takes or renews every wanted
    /// lease, one round now (so the work loops start with their leases)
    /// and one round every [`RENEW_EVERY`].
    pub fn register(&self, store: &Store) -> Result<(), StoreError> {
        store.register_daemon(&self.daemon_id, &self.host, std::process::id(), env!("CARGO_PKG_VERSION"))?;
        info!(daemon = %self.daemon_id, "daemon registered");
        self.round(store)
    }

    /// One round: the heartbeat, then each wanted lease taken or renewed.
    pub fn round(&self, store: &Store) -> Result<(), StoreError> {
        store.daemon_seen(&self.daemon_id)?;
        let wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let names: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let got = store.acquire_leases(&names, &self.daemon_id, LEASE_TTL, chrono::Utc::now())?;
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for (name, got) in wanted.into_iter().zip(got) {
            match got {
                Some(lease) => {
                    if held.insert(name.clone(), lease.generation).is_none() {
                        info!(lease = %name, generation = lease.generation, "lease taken");
                    }
                }
                None => {
                    if held.remove(&name).is_some() {
                        warn!(lease = %name, "lease lost to another daemon");
                    }
                }
            }
        }
        Ok(())
    }

    /// Gives every held lease back (a clean stop).
    pub fn release_all(&self, store: &Store) {
        let held: Vec<String> =
            std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner())).into_keys().collect();
        for name in held {
            if let Err(e) = store.release_lease(&name, &self.daemon_id) {
                warn!(lease = %name, error = %e, "cannot release lease");
            }
        }
    }

    /// The keeper: a round every [`RENEW_EVERY`] until cancelled, then the
    /// leases given back. A failed round (database unreachable) drops every
    /// lease held, so that no work runs on a lease that may have expired.
    pub async fn keep(self: Arc<Self>, store: Store, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(RENEW_EVERY) => {}
            }
            let (me, st) = (self.clone(), store.clone());
            let done = tokio::task::spawn_blocking(move || me.round(&st)).await;
            if !matches!(done, Ok(Ok(()))) {
                warn!("lease round failed: the leases held are dropped until the next round");
                self.held.lock().unwrap_or_else(|p| p.into_inner()).clear();
            }
        }
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || me.release_all(&store)).await;
    }
}

/// Prometheus lines: this daemon, the daemons alive on the database, the
/// leases this daemon holds (value: the lease's generation).
pub fn render_metrics(cluster: &Cluster, alive: usize) -> String {
    let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let mut out = String::new();
    out.push_str("# HELP relance_daemon_info This daemon (value 1).\n# TYPE relance_daemon_info gauge\n");
    out.push_str(&format!(
        "relance_daemon_info{{daemon=\"{}\",host=\"{}\",version=\"{}\"}} 1\n",
        esc(&cluster.daemon_id),
        esc(&cluster.host),
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str("# HELP relance_daemons_alive Daemons seen on this database in the last minute.\n");
    out.push_str(&format!("# TYPE relance_daemons_alive gauge\nrelance_daemons_alive {alive}\n"));
    out.push_str("# HELP relance_lease_held Leases this daemon holds (value: the lease's generation).\n");
    out.push_str("# TYPE relance_lease_held gauge\n");
    for (name, generation) in cluster.held() {
        out.push_str(&format!("relance_lease_held{{lease=\"{}\"}} {generation}\n", esc(&name)));
    }
    out
}

/// The daemons and one tenant's leases, for the API.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ClusterView {
    /// The daemon that answers.
    pub daemon: String,
    /// Daemons seen on this database in the last minute.
    pub daemons: Vec<relance_store::DaemonView>,
    /// The tenant's leases: which daemon runs which work.
    pub leases: Vec<relance_store::Lease>,
}

impl Default for Cluster {
    fn default() -> Cluster {
        Cluster::new()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_daemons_share_the_work_and_take_over_a_stopped_one_s_leases() {
        let dir = tempfile::tempdir().unwrap();
        for (store, _scratch) in relance_store::testing::stores(dir.path()) {
            two_daemons_share_the_work_and_take_over_a_stopped_one_s_leases_on(&store);
        }
    }

    fn two_daemons_share_the_work_and_take_over_a_stopped_one_s_leases_on(store: &Store) {
        let t = TenantId::new("acme").unwrap();
        let names = || {
            vec![
                LeaseName::Connector { tenant: t.clone(), connector: "bank".into() },
                LeaseName::Dunning(t.clone()),
                LeaseName::Cash(t.clone()),
            ]
        };
        let (a, b) = (Cluster::new(), Cluster::new());
        assert_ne!(a.daemon_id, b.daemon_id);
        a.want(names());
        b.want(names());
        a.register(store).unwrap();
        b.register(store).unwrap();
        assert!(names().iter().all(|n| a.holds(n) && !b.holds(n)), "the first takes everything");
        assert_eq!(a.held().len(), 3);
        a.round(store).unwrap();
        b.round(store).unwrap();
        assert!(names().iter().all(|n| a.holds(n) && !b.holds(n)), "renewed, not shared");
        a.release_all(store);
        assert!(a.held().is_empty());
        b.round(store).unwrap();
        assert!(names().iter().all(|n| b.holds(n)), "given back: taken by the other");
        a.round(store).unwrap();
        assert!(a.held().is_empty());
        let seen = store.daemons(chrono::Utc::now() - chrono::Duration::seconds(60)).unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            LeaseName::Connector { tenant: t.clone(), connector: "bank".into() }.key(),
            "tenant/acme/connector/bank"
        );
    }
}
