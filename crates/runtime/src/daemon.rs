//! The daemon: one supervisor per tenant, one task per scheduled connector.
//!
//! Each connector task runs its connector on its schedule (an interval, or
//! file-system events with a safety poll), retries transient failures with
//! exponential backoff and jitter, and reports every outcome to [`Metrics`].
//! Shutdown is cooperative: the cancellation token is passed to connectors,
//! which finish the item in hand (a committed batch) and return; the runtime
//! then waits for every task, up to the configured grace period.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, info_span, warn};

use relance_config::{ConfigErrors, RetryPolicy, Schedule, Settings};
use relance_connector::{
    AnyConnector, BuiltConnector, ConnectorError, OutboundChannel, Registry, RunContext, RunReport, build_all,
};
use relance_domain::TenantId;
use relance_store::{Store, StoreError};

use crate::cash::CashService;
use crate::cluster::{Cluster, LeaseName, RENEW_EVERY};
use crate::metrics::Metrics;
use crate::reminders::deliver;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The data folder (kept inputs, quarantined files, letters) cannot be created.
    #[error("cannot create the data folder {path}: {cause}")]
    DataDir { path: String, cause: std::io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Everything a running Relance shares.
#[derive(Clone)]
pub struct Runtime {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub connectors: Vec<BuiltConnector>,
    /// Cash application, woken by any change of statements or invoices.
    pub cash: Arc<CashService>,
    /// Retrains tenant reply models in the background (see `replies_model`).
    pub retrainer: Arc<crate::replies_model::Retrainer>,
    /// This daemon among others: its identity and its leases (see `cluster`).
    pub cluster: Arc<Cluster>,
    /// Last local day each tenant's reminders were planned for.
    planned: Arc<std::sync::Mutex<std::collections::HashMap<String, chrono::NaiveDate>>>,
}

/// Outcome of `run --once` for one connector.
#[derive(Debug, Clone)]
pub struct OnceResult {
    pub tenant: String,
    pub connector: String,
    pub result: Result<RunReport, ConnectorError>,
}

impl Runtime {
    /// Opens the store and builds every connector; fails with every configuration problem at once.
    pub fn new(settings: Settings, registry: &Registry) -> Result<Runtime, RuntimeError> {
        let (registry, errors) = crate::registry::with_plugins(registry, &settings);
        if !errors.is_empty() {
            return Err(ConfigErrors(errors).into());
        }
        let connectors = build_all(&settings.tenants, &registry).map_err(ConfigErrors)?;
        Runtime::with_connectors(settings, connectors)
    }

    /// Opens the store for already built connectors (see [`crate::registry::load_and_build`]).
    pub fn with_connectors(settings: Settings, connectors: Vec<BuiltConnector>) -> Result<Runtime, RuntimeError> {
        // Whatever the database, the kept inputs and quarantined files live here.
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|cause| RuntimeError::DataDir { path: settings.data_dir.display().to_string(), cause })?;
        let store = Store::open(&settings.database)?;
        let metrics = Arc::new(Metrics::default());
        for c in &connectors {
            metrics.register(c.tenant.as_str(), &c.config.name, c.connector.role());
        }
        let cash = Arc::new(CashService::new(store.clone(), &settings));
        Ok(Runtime {
            settings: Arc::new(settings),
            store,
            metrics,
            connectors,
            cash,
            retrainer: Default::default(),
            cluster: Arc::new(Cluster::new()),
            planned: Default::default(),
        })
    }

    fn context(&self, c: &BuiltConnector, cancel: &CancellationToken, once: bool) -> RunContext {
        RunContext {
            tenant: c.tenant.clone(),
            connector: c.config.name.clone(),
            store: self.store.clone(),
            keep_dir: self.settings.data_dir.join(c.tenant.as_str()).join(&c.config.name),
            cancel: cancel.clone(),
            once,
        }
    }

    /// Tenant-level checks that depend on the date rather than on new input:
    /// promises to pay whose date (plus the largest grace of the tenant's
    /// scenarios, 2 days by default) has passed. Failures are logged; the
    /// next round retries.
    pub async fn housekeeping(&self, tenant: &relance_domain::TenantId) {
        let Some(t) = self.settings.tenant(tenant.as_str()) else { return };
        let grace = t.scenarios.iter().map(|s| s.scenario.promise_grace_days).max().unwrap_or(2);
        let today = chrono::Utc::now().with_timezone(&t.timezone).date_naive();
        let (store, id) = (self.store.clone(), tenant.clone());
        match tokio::task::spawn_blocking(move || store.check_promises(&id, today, grace)).await {
            Ok(Ok(c)) if c.kept + c.broken + c.lapsed > 0 => {
                info!(tenant = %tenant, kept = c.kept, broken = c.broken, lapsed = c.lapsed, pending = c.pending, "promises checked")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(tenant = %tenant, error = %e, "promise check failed"),
            Err(e) => error!(tenant = %tenant, error = %e, "promise check panicked"),
        }
    }

    /// Runs every scheduled connector once (tenants in parallel, a tenant's
    /// connectors in order), with retries, and returns what each did.
    pub async fn run_once(&self, cancel: CancellationToken) -> Vec<OnceResult> {
        let mut by_tenant: std::collections::BTreeMap<String, Vec<BuiltConnector>> = Default::default();
        for c in self.connectors.iter().filter(|c| c.connector.is_scheduled()) {
            by_tenant.entry(c.tenant.to_string()).or_default().push(c.clone());
        }
        let mut handles = Vec::new();
        for list in by_tenant.values_mut() {
            list.sort_by_key(|c| c.connector.run_order());
        }
        for (_tenant, list) in by_tenant {
            let rt = self.clone();
            let cancel = cancel.clone();
            let list_tenant = list.first().map(|c| c.tenant.clone());
            handles.push(tokio::spawn(async move {
                let mut results = Vec::new();
                let mut matched = false;
                for c in list {
                    // Credits meet their invoices after both sources ran, before mail and write-back.
                    if !matched && c.connector.run_order() > CASH_STAGE {
                        matched = true;
                        rt.cash.logged_round(&c.tenant, cancel.clone()).await;
                    }
                    let ctx = rt.context(&c, &cancel, true);
                    let result = run_with_retries(&c, &ctx, &rt.metrics, c.config.retry)
                        .instrument(info_span!("connector", tenant = %c.tenant, connector = %c.config.name))
                        .await;
                    results.push(OnceResult { tenant: c.tenant.to_string(), connector: c.config.name.clone(), result });
                }
                if let Some(c) = list_tenant {
                    if !matched {
                        rt.cash.logged_round(&c, cancel.clone()).await;
                    }
                    rt.housekeeping(&c).await;
                }
                results
            }));
        }
        for t in self.settings.tenants.iter().filter(|t| t.dunning.auto) {
            let (rt, cancel, id) = (self.clone(), cancel.clone(), t.id.clone());
            handles.push(tokio::spawn(async move {
                if let Err(e) = rt.recover_outbox(&id).await {
                    warn!(tenant = %id, error = %e, "cannot requeue interrupted reminders");
                }
                rt.dunning_round(&id, chrono::Utc::now(), &cancel).await;
                Vec::new()
            }));
        }
        let mut out = Vec::new();
        for h in handles {
            match h.await {
                Ok(mut r) => out.append(&mut r),
                Err(e) => error!(error = %e, "tenant supervisor failed"),
            }
        }
        out
    }

    /// Starts one supervisor per tenant; returns the tracker to wait on after
    /// cancelling `cancel`.
    pub fn spawn_supervisors(&self, cancel: &CancellationToken) -> TaskTracker {
        let tracker = TaskTracker::new();
        // A correction whose retraining a stop cut short is learned now.
        for t in &self.settings.tenants {
            self.retrainer.request(self.store.clone(), t.id.clone());
        }
        let mut by_tenant: std::collections::BTreeMap<String, Vec<BuiltConnector>> = Default::default();
        for c in self.connectors.iter().filter(|c| c.connector.is_scheduled()) {
            by_tenant.entry(c.tenant.to_string()).or_default().push(c.clone());
        }
        // The work this daemon may do, each piece under its lease; the first
        // round takes what no other daemon holds, the keeper renews it.
        for list in by_tenant.values() {
            self.cluster.want(
                list.iter()
                    .map(|c| LeaseName::Connector { tenant: c.tenant.clone(), connector: c.config.name.clone() }),
            );
            if let Some(c) = list.first() {
                self.cluster.want([LeaseName::Cash(c.tenant.clone()), LeaseName::Housekeeping(c.tenant.clone())]);
            }
        }
        self.cluster
            .want(self.settings.tenants.iter().filter(|t| t.dunning.auto).map(|t| LeaseName::Dunning(t.id.clone())));
        if let Err(e) = self.cluster.register(&self.store) {
            warn!(error = %e, "cannot take the leases now: the keeper retries");
        }
        tracker.spawn(self.cluster.clone().keep(self.store.clone(), cancel.clone()));
        for (tenant, list) in by_tenant {
            let id = list.first().map(|c| c.tenant.clone());
            // Each connector's first run waits for the first *attempt* of the
            // tenant's connectors of earlier stages (invoices before statements
            // and mail, so credits meet their invoices), at most
            // FIRST_PASS_WAIT, and never for their retries: a failing
            // connector does not hold the others back.
            let done: Vec<(u8, CancellationToken)> =
                list.iter().map(|c| (c.connector.run_order(), CancellationToken::new())).collect();
            for (c, (order, mine)) in list.into_iter().zip(done.iter().cloned()) {
                let before: Vec<CancellationToken> =
                    done.iter().filter(|(o, _)| *o < order).map(|(_, t)| t.clone()).collect();
                let ctx = self.context(&c, cancel, false);
                let span = info_span!("connector", tenant = %c.tenant, connector = %c.config.name);
                let start = FirstRun { before, done: mine };
                let changes = changes_data(&c.connector).then(|| self.cash.clone());
                let lease = Lease {
                    cluster: self.cluster.clone(),
                    name: LeaseName::Connector { tenant: c.tenant.clone(), connector: c.config.name.clone() },
                };
                tracker.spawn(connector_loop(c, ctx, self.metrics.clone(), start, changes, lease).instrument(span));
            }
            let all: Vec<CancellationToken> = done.into_iter().map(|(_, t)| t).collect();
            let (rt, cancel) = (self.clone(), cancel.clone());
            let (cash_rt, cash_cancel, cash_id, cash_all) = (self.clone(), cancel.clone(), id.clone(), all.clone());
            tracker.spawn(
                async move {
                    wait_first_runs(&all, FIRST_PASS_WAIT, &cancel).await;
                    if let Some(id) = id {
                        housekeeping_loop(rt, id, cancel).await;
                    }
                }
                .instrument(info_span!("tenant", tenant = %tenant)),
            );
            if let Some(id) = cash_id {
                tracker.spawn(
                    async move {
                        wait_first_runs(&cash_all, FIRST_PASS_WAIT, &cash_cancel).await;
                        cash_loop(cash_rt, id, cash_cancel).await;
                    }
                    .instrument(info_span!("cash", tenant = %tenant)),
                );
            }
        }
        for t in self.settings.tenants.iter().filter(|t| t.dunning.auto) {
            let (rt, cancel, id) = (self.clone(), cancel.clone(), t.id.clone());
            let span = info_span!("dunning", tenant = %id);
            tracker.spawn(dunning_loop(rt, id, cancel).instrument(span));
        }
        crate::events::spawn_dispatchers(self, &tracker, cancel);
        tracker.close();
        tracker
    }

    /// The tenant's outbound connectors, by name.
    pub fn channels(&self, tenant: &TenantId) -> Vec<(String, Arc<dyn OutboundChannel>)> {
        self.connectors
            .iter()
            .filter(|c| &c.tenant == tenant)
            .filter_map(|c| match &c.connector {
                AnyConnector::OutboundChannel(o) => Some((c.config.name.clone(), o.clone())),
                _ => None,
            })
            .collect()
    }

    /// Requeues reminders a previous process left mid-send.
    pub async fn recover_outbox(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        let (store, id) = (self.store.clone(), tenant.clone());
        let n = tokio::task::spawn_blocking(move || deliver::recover(&store, &id))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        if n > 0 {
            warn!(tenant = %tenant, count = n, "reminders interrupted mid-send are queued again (same Message-ID)");
        }
        Ok(n)
    }

    /// One dunning round at `now`: once the local day's sending window has
    /// opened, plans the day's reminders (once per day; planning is
    /// idempotent anyway), then delivers what is due. Problems are logged.
    pub async fn dunning_round(
        &self,
        tenant: &TenantId,
        now: chrono::DateTime<chrono::Utc>,
        cancel: &CancellationToken,
    ) {
        let Some(t) = self.settings.tenant(tenant.as_str()).cloned() else { return };
        let local = now.with_timezone(&t.timezone);
        let today = local.date_naive();
        let already = self.planned.lock().map(|m| m.get(tenant.as_str()) == Some(&today)).unwrap_or(false);
        if !already && local.time() >= t.dunning.window.0 {
            let (store, tc) = (self.store.clone(), t.clone());
            let planned = tokio::task::spawn_blocking(move || -> Result<crate::reminders::plan::PlanReport, String> {
                crate::reminders::plan::plan_day(&store, &tc, today).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            match planned {
                Ok(report) => {
                    info!(tenant = %tenant, day = %today, queued = report.queued.len(), waiting = report.waiting, errors = report.errors.len(), "reminders planned");
                    for e in &report.errors {
                        warn!(tenant = %tenant, error = %e, "reminder not prepared");
                    }
                    if let Ok(mut m) = self.planned.lock() {
                        m.insert(tenant.to_string(), today);
                    }
                }
                Err(e) => warn!(tenant = %tenant, error = %e, "reminder planning failed"),
            }
        }
        let channels = self.channels(tenant);
        match deliver::deliver_due(&self.store, &t, &channels, now, deliver::DEFAULT_CONCURRENCY, cancel).await {
            Ok(r) if r.sent + r.failed + r.retried + r.cancelled > 0 => {
                info!(tenant = %tenant, sent = r.sent, retried = r.retried, failed = r.failed, cancelled = r.cancelled, "reminders delivered")
            }
            Ok(_) => {}
            Err(e) => warn!(tenant = %tenant, error = %e, "reminder delivery failed"),
        }
    }
}

/// Requeues interrupted sends, then runs a dunning round every 30 seconds
/// until cancelled.
async fn dunning_loop(rt: Runtime, tenant: TenantId, cancel: CancellationToken) {
    let lease = LeaseName::Dunning(tenant.clone());
    let mut recovered = false;
    loop {
        if rt.cluster.holds(&lease) {
            // Rows a stopped daemon left `sending` are requeued by the one that takes over.
            if !recovered {
                recovered = true;
                if let Err(e) = rt.recover_outbox(&tenant).await {
                    warn!(tenant = %tenant, error = %e, "cannot requeue interrupted reminders");
                }
            }
            rt.dunning_round(&tenant, chrono::Utc::now(), &cancel).await;
        } else {
            recovered = false;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

/// The last stage of `run --once` that brings statements or invoices in:
/// cash application runs after it.
const CASH_STAGE: u8 = 1;

/// Whether a run of this connector can change what cash application sees.
fn changes_data(c: &AnyConnector) -> bool {
    matches!(c, AnyConnector::InvoiceSource(_) | AnyConnector::StatementSource(_))
}

/// Runs a cash application round now (after the first runs), then after
/// every change of the tenant's statements or invoices, until cancelled.
async fn cash_loop(rt: Runtime, tenant: TenantId, cancel: CancellationToken) {
    let lease = LeaseName::Cash(tenant.clone());
    loop {
        if !rt.cluster.holds(&lease) {
            // Another daemon matches this tenant: look again at the next lease round.
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(RENEW_EVERY) => continue,
            }
        }
        rt.cash.logged_round(&tenant, cancel.clone()).await;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = rt.cash.changed(&tenant) => {}
            // Changes seen by another daemon do not wake this one.
            _ = tokio::time::sleep(Duration::from_secs(300)) => {}
        }
    }
}

/// Runs [`Runtime::housekeeping`] now and then every hour until cancelled.
async fn housekeeping_loop(rt: Runtime, tenant: relance_domain::TenantId, cancel: CancellationToken) {
    let lease = LeaseName::Housekeeping(tenant.clone());
    loop {
        let held = rt.cluster.holds(&lease);
        if held {
            rt.housekeeping(&tenant).await;
        }
        let wait = if held { Duration::from_secs(3600) } else { RENEW_EVERY };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// A piece of work's lease, as its loop checks it.
struct Lease {
    cluster: Arc<Cluster>,
    name: LeaseName,
}

impl Lease {
    fn held(&self) -> bool {
        self.cluster.holds(&self.name)
    }
}

/// Runs a connector on its schedule until cancelled.
/// How long a connector's first run waits for the first attempts of the
/// earlier stages of its tenant (see [`Runtime::spawn_supervisors`]).
const FIRST_PASS_WAIT: Duration = Duration::from_secs(20);

/// When a connector's first run may start, and how it tells the others it is done.
struct FirstRun {
    /// First attempts of the tenant's earlier stages.
    before: Vec<CancellationToken>,
    /// Cancelled when this connector's first attempt has finished, whatever its outcome.
    done: CancellationToken,
}

/// Waits until every token is cancelled, `limit` has passed, or shutdown.
async fn wait_first_runs(tokens: &[CancellationToken], limit: Duration, cancel: &CancellationToken) {
    let all = async {
        for t in tokens {
            t.cancelled().await;
        }
    };
    tokio::select! {
        _ = all => {}
        _ = tokio::time::sleep(limit) => {}
        _ = cancel.cancelled() => {}
    }
}

/// One connector for the life of the daemon: its first run (one attempt,
/// processing what is there now), then runs on its schedule, with retries.
async fn connector_loop(
    c: BuiltConnector,
    ctx: RunContext,
    metrics: Arc<Metrics>,
    start: FirstRun,
    changes: Option<Arc<CashService>>,
    lease: Lease,
) {
    let notify = |r: &Result<RunReport, ConnectorError>| {
        if let (Some(cash), Ok(report)) = (&changes, r)
            && (report.items > 0 || report.units > 0)
        {
            cash.notify(&c.tenant);
        }
    };
    let (tx, mut rx) = mpsc::channel::<()>(1);
    // Watch before the first run, so a file dropped meanwhile triggers a run.
    let _watcher = match c.schedule {
        Schedule::Watch { .. } => watch(&c.connector.watch_paths(), tx),
        Schedule::Interval(_) => None,
    };
    let wait = match c.schedule {
        Schedule::Interval(d) => d,
        Schedule::Watch { poll } => poll,
    };
    wait_first_runs(&start.before, FIRST_PASS_WAIT, &ctx.cancel).await;
    if ctx.cancel.is_cancelled() {
        start.done.cancel();
        return;
    }
    info!(schedule = ?c.schedule, role = c.connector.role(), "connector started");
    // Another daemon holding the lease runs it: this one looks again at each lease round.
    let mut retry_soon = false;
    if lease.held() {
        let first_ctx = RunContext { once: true, ..ctx.clone() };
        let first = run_with_retries(&c, &first_ctx, &metrics, RetryPolicy { attempts: 1, ..c.config.retry }).await;
        notify(&first);
        // A first attempt that failed transiently is retried after the usual backoff, not at the next schedule.
        retry_soon = matches!(first, Err(ConnectorError::Transient(_)));
    }
    start.done.cancel();
    loop {
        let wait = if lease.held() { wait } else { wait.min(RENEW_EVERY) };
        if retry_soon {
            retry_soon = false;
            tokio::select! {
                _ = ctx.cancel.cancelled() => break,
                _ = tokio::time::sleep(backoff(c.config.retry, 1)) => {}
            }
        } else {
            tokio::select! {
                _ = ctx.cancel.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
                Some(()) = rx.recv() => {
                    // Let a burst of events (a file being written) settle into one run.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    while rx.try_recv().is_ok() {}
                }
            }
        }
        if !lease.held() {
            continue;
        }
        let result = run_with_retries(&c, &ctx, &metrics, c.config.retry).await;
        notify(&result);
        if let Err(ConnectorError::Cancelled) = result {
            break;
        }
    }
    info!("connector stopped");
}

/// Starts a file-system watcher that sends on `tx` for every event under `paths`.
fn watch(paths: &[PathBuf], tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut watcher = match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Only changes of content or names: our own reads produce access events.
        if let Ok(ev) = res
            && is_change(&ev.kind)
        {
            let _ = tx.try_send(());
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot watch files, polling only");
            return None;
        }
    };
    for p in paths {
        // Watch the folder (files are often replaced by rename); for a file, its parent.
        let target = if p.is_dir() { p.clone() } else { p.parent().map(PathBuf::from).unwrap_or_default() };
        if let Err(e) = watcher.watch(&target, notify::RecursiveMode::NonRecursive) {
            warn!(path = %target.display(), error = %e, "cannot watch path, polling only");
        }
    }
    Some(watcher)
}

fn is_change(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        _ => false,
    }
}

/// One scheduled run: attempts with exponential backoff and jitter on transient errors.
async fn run_with_retries(
    c: &BuiltConnector,
    ctx: &RunContext,
    metrics: &Metrics,
    policy: RetryPolicy,
) -> Result<RunReport, ConnectorError> {
    let tenant = c.tenant.as_str();
    let name = &c.config.name;
    let mut attempt = 1;
    loop {
        let started = std::time::Instant::now();
        match c.connector.run(ctx).await {
            Ok(report) => {
                metrics.record_success(tenant, name, &report);
                if report.units > 0 || report.items > 0 || report.quarantined > 0 {
                    info!(
                        items = report.items,
                        quarantined = report.quarantined,
                        units = report.units,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "run complete"
                    );
                }
                return Ok(report);
            }
            Err(ConnectorError::Cancelled) => {
                info!("run interrupted by shutdown; progress is committed");
                return Err(ConnectorError::Cancelled);
            }
            Err(ConnectorError::Permanent(e)) => {
                metrics.record_error(tenant, name, &e);
                error!(error = %e, "run failed; will try again at the next scheduled time");
                return Err(ConnectorError::Permanent(e));
            }
            Err(ConnectorError::Transient(e)) => {
                metrics.record_error(tenant, name, &e);
                if attempt >= policy.attempts {
                    error!(error = %e, attempts = attempt, "run failed after retries");
                    return Err(ConnectorError::Transient(e));
                }
                let delay = backoff(policy, attempt);
                warn!(error = %e, attempt, retry_in_ms = delay.as_millis() as u64, "run failed, retrying");
                tokio::select! {
                    _ = ctx.cancel.cancelled() => return Err(ConnectorError::Cancelled),
                    _ = tokio::time::sleep(delay) => {}
                }
                attempt += 1;
            }
        }
    }
}

/// Delay before retry number `attempt` (1-based): `initial * 2^(attempt-1)`,
/// capped at `max`, then scaled by a random factor in [0.5, 1] so that many
/// failing connectors do not retry in lockstep.
pub fn backoff(policy: RetryPolicy, attempt: u32) -> Duration {
    let base = policy
        .initial
        .checked_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX))
        .unwrap_or(policy.max)
        .min(policy.max);
    let permille = 500 + fastrand::u64(0..=500);
    Duration::from_millis((base.as_millis() as u64).saturating_mul(permille) / 1000)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;

    use super::*;
    use relance_config::{ConfigError, ConnectorConfig, TenantConfig};
    use relance_connector::{AnyConnector, ConnectorFactory, InvoiceSource};

    /// Fails `fail_first` times (transiently, or permanently), then succeeds.
    struct Flaky {
        own: AtomicU32,
        calls: Arc<AtomicU32>,
        fail_first: u32,
        permanent: bool,
    }

    #[async_trait]
    impl InvoiceSource for Flaky {
        async fn sync(&self, _ctx: &RunContext) -> Result<RunReport, ConnectorError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let n = self.own.fetch_add(1, Ordering::SeqCst);
            if n < self.fail_first {
                let msg = format!("failure {n}");
                return Err(if self.permanent {
                    ConnectorError::Permanent(msg)
                } else {
                    ConnectorError::Transient(msg)
                });
            }
            Ok(RunReport { items: 7, quarantined: 0, units: 1 })
        }
    }

    struct FlakyFactory(Arc<AtomicU32>);

    impl ConnectorFactory for FlakyFactory {
        fn kind(&self) -> &'static str {
            "flaky"
        }
        fn default_schedule(&self) -> Schedule {
            Schedule::Interval(Duration::from_secs(3600))
        }
        fn build(&self, _t: &TenantConfig, c: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
            let fail_first = c.settings.get("fail_first").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
            let permanent = c.settings.get("permanent").and_then(|v| v.as_bool()).unwrap_or(false);
            Ok(AnyConnector::InvoiceSource(Arc::new(Flaky {
                own: AtomicU32::new(0),
                calls: self.0.clone(),
                fail_first,
                permanent,
            })))
        }
    }

    /// The databases the tests run on: SQLite (the default), then a scratch
    /// schema on the test PostgreSQL server when there is one.
    fn databases() -> Vec<Option<relance_store::testing::ScratchSchema>> {
        let mut dbs = vec![None];
        dbs.extend(relance_store::testing::ScratchSchema::for_test().map(Some));
        dbs
    }

    /// The environment that points the configuration at `db` (none: SQLite in `data_dir`).
    fn database_env(db: Option<&relance_store::testing::ScratchSchema>) -> Vec<(String, String)> {
        db.map(|s| vec![("RELANCE__DATABASE__URL".to_string(), s.url.expose().to_string())]).unwrap_or_default()
    }

    fn runtime(dir: &std::path::Path, tenants: &[(&str, &str)], calls: Arc<AtomicU32>) -> Runtime {
        std::fs::create_dir_all(dir.join("tenants")).unwrap();
        std::fs::write(dir.join("relance.toml"), "").unwrap();
        for (name, body) in tenants {
            std::fs::write(dir.join("tenants").join(format!("{name}.toml")), body).unwrap();
        }
        let settings = Settings::load_with_env(&dir.join("relance.toml"), &[]).unwrap();
        Runtime::new(settings, &Registry::new(vec![Arc::new(FlakyFactory(calls))])).unwrap()
    }

    #[tokio::test]
    async fn transient_failures_are_retried_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let tenant = "[connectors.src]\nkind = \"flaky\"\nfail_first = 2\nretry = { attempts = 3, initial = \"5ms\", max = \"10ms\" }\n";
        let rt = runtime(dir.path(), &[("a", tenant)], calls.clone());
        let results = rt.run_once(CancellationToken::new()).await;
        assert_eq!(results[0].result, Ok(RunReport { items: 7, quarantined: 0, units: 1 }));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let snap = rt.metrics.snapshot();
        let st = &snap[&("a".to_string(), "src".to_string())];
        assert_eq!((st.errors, st.runs, st.items), (2, 1, 7));
        assert_eq!(st.last_error.as_deref(), Some("failure 1"));
        assert!(st.last_success.is_some());
    }

    #[tokio::test]
    async fn a_failing_tenant_does_not_stop_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let broken = "[connectors.src]\nkind = \"flaky\"\nfail_first = 100\npermanent = true\n";
        let rt = runtime(dir.path(), &[("a", broken), ("b", "[connectors.src]\nkind = \"flaky\"\n")], calls.clone());
        let results = rt.run_once(CancellationToken::new()).await;
        let by_tenant = |t: &str| results.iter().find(|r| r.tenant == t).unwrap().result.clone();
        assert_eq!(by_tenant("a"), Err(ConnectorError::Permanent("failure 0".into())), "permanent: no retry");
        assert_eq!(by_tenant("b"), Ok(RunReport { items: 7, quarantined: 0, units: 1 }));
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one call each");
    }

    #[tokio::test]
    async fn cancellation_stops_retrying() {
        let dir = tempfile::tempdir().unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let tenant =
            "[connectors.src]\nkind = \"flaky\"\nfail_first = 100\nretry = { attempts = 50, initial = \"10s\" }\n";
        let rt = runtime(dir.path(), &[("a", tenant)], calls.clone());
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            c2.cancel();
        });
        let started = std::time::Instant::now();
        let results = rt.run_once(cancel).await;
        assert_eq!(results[0].result, Err(ConnectorError::Cancelled));
        assert!(started.elapsed() < Duration::from_secs(5), "did not wait for the 10 s backoff");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy { attempts: 10, initial: Duration::from_millis(100), max: Duration::from_secs(1) };
        for _ in 0..50 {
            let d1 = backoff(p, 1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
            let d3 = backoff(p, 3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400), "{d3:?}");
            let d9 = backoff(p, 9);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_secs(1), "{d9:?}");
            assert!(backoff(p, 60) <= Duration::from_secs(1));
        }
    }

    /// (step, recipients) of each message sent.
    type Sent = Arc<std::sync::Mutex<Vec<(String, Vec<String>)>>>;

    /// Message tokens a channel knows were delivered (its "sent archive").
    type Delivered = Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

    /// Records what it is asked to send; finds what is in its archive.
    struct Recorder(Sent, Delivered);

    #[async_trait]
    impl relance_connector::OutboundChannel for Recorder {
        fn channel(&self) -> relance_domain::Channel {
            relance_domain::Channel::Email
        }
        async fn send(
            &self,
            m: &relance_connector::OutboundMessage,
        ) -> Result<relance_connector::SendReceipt, ConnectorError> {
            self.0.lock().unwrap().push((m.step.clone(), m.recipients.clone()));
            self.1.lock().unwrap().insert(m.token.clone());
            Ok(relance_connector::SendReceipt { reference: format!("<{}@test>", m.token) })
        }
        async fn find_delivered(
            &self,
            m: &relance_connector::OutboundMessage,
        ) -> Result<Option<relance_connector::SendReceipt>, ConnectorError> {
            let known = self.1.lock().unwrap().contains(&m.token);
            Ok(known.then(|| relance_connector::SendReceipt { reference: format!("<{}@test>", m.token) }))
        }
    }

    struct RecorderFactory(Sent, Delivered);

    /// A runtime in `d` on `db` with tenant `t`: scenario `s` (`steps`), automatic
    /// dunning with `dunning` settings, and the recorder as its mail channel.
    fn dunning_runtime(
        d: &std::path::Path,
        db: Option<&relance_store::testing::ScratchSchema>,
        steps: &str,
        dunning: &str,
        recorder: RecorderFactory,
    ) -> Runtime {
        std::fs::create_dir_all(d.join("tenants")).unwrap();
        std::fs::create_dir_all(d.join("scenarios")).unwrap();
        std::fs::write(d.join("relance.toml"), "scenarios_dir = \"scenarios\"\n").unwrap();
        std::fs::write(d.join("scenarios/s.toml"), format!("min_gap_days = 1\n{steps}")).unwrap();
        std::fs::write(
            d.join("tenants/t.toml"),
            format!("scenarios = [\"s\"]\n[dunning]\nauto = true\n{dunning}[connectors.mail]\nkind = \"recorder\"\n"),
        )
        .unwrap();
        let settings = Settings::load_with_env(&d.join("relance.toml"), &database_env(db)).unwrap();
        Runtime::new(settings, &Registry::new(vec![Arc::new(recorder)])).unwrap()
    }

    impl ConnectorFactory for RecorderFactory {
        fn kind(&self) -> &'static str {
            "recorder"
        }
        fn default_schedule(&self) -> Schedule {
            Schedule::Interval(Duration::from_secs(3600))
        }
        fn build(&self, _t: &TenantConfig, _c: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
            Ok(AnyConnector::OutboundChannel(Arc::new(Recorder(self.0.clone(), self.1.clone()))))
        }
    }

    #[tokio::test]
    async fn the_daemon_plans_each_day_once_and_sends_inside_the_window() {
        let dir = tempfile::tempdir().unwrap();
        for (n, db) in databases().iter().enumerate() {
            let d = dir.path().join(n.to_string());
            the_daemon_plans_each_day_once_and_sends_inside_the_window_on(&d, db.as_ref()).await;
        }
    }

    async fn the_daemon_plans_each_day_once_and_sends_inside_the_window_on(
        d: &std::path::Path,
        db: Option<&relance_store::testing::ScratchSchema>,
    ) {
        use relance_domain::money::{Currency, Money};
        use relance_domain::{CustomerRecord, InvoiceRecord};
        use relance_store::{ImportKey, InvoiceBatch};
        let sent: Sent = Default::default();
        let rt = dunning_runtime(
            d,
            db,
            "[[steps]]\nid = \"first\"\noffset_days = 1\nchannel = \"email\"\ntemplate = \"courteous\"\n[[steps]]\nid = \"second\"\noffset_days = 4\nchannel = \"email\"\ntemplate = \"firm\"\n",
            "window = \"09:00-17:00\"\nextra_holidays = [\"2026-12-04\"]\n",
            RecorderFactory(sent.clone(), Default::default()),
        );
        let t = relance_domain::TenantId::new("t").unwrap();
        let key = ImportKey { tenant: &t, source: "erp", unit: "u", label: "f.csv", full_export: true };
        let mut st = rt.store.begin_import(&key).unwrap();
        let record = InvoiceRecord {
            number: "F-1".into(),
            customer: CustomerRecord {
                id: "C1".into(),
                name: "C1".into(),
                emails: vec!["c1@x.example".into()],
                ..Default::default()
            },
            issue_date: None,
            due_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            total: Money::new(10_000, Currency::EUR),
            open: Money::new(10_000, Currency::EUR),
            status: None,
        };
        rt.store
            .apply_invoice_batch(
                &mut st,
                &InvoiceBatch { records: vec![record], position_after: 1, ..Default::default() },
            )
            .unwrap();
        let at = |s: &str| {
            use chrono::TimeZone;
            chrono_tz::Europe::Paris
                .from_local_datetime(&chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let cancel = CancellationToken::new();
        // Before the window: nothing planned, nothing sent.
        rt.dunning_round(&t, at("2026-12-01 07:00"), &cancel).await;
        assert!(sent.lock().unwrap().is_empty());
        assert!(rt.store.outbox(&t, None, 10).unwrap().is_empty(), "planning waits for the window");
        // In the window: planned and sent once, however many rounds run.
        for time in ["2026-12-01 09:00", "2026-12-01 09:00", "2026-12-01 12:30"] {
            rt.dunning_round(&t, at(time), &cancel).await;
        }
        assert_eq!(sent.lock().unwrap().clone(), [("first".to_string(), vec!["c1@x.example".to_string()])]);
        // J+4 is Friday 4 December, an extra holiday of the tenant: the second step waits for Monday.
        rt.dunning_round(&t, at("2026-12-04 10:00"), &cancel).await;
        rt.dunning_round(&t, at("2026-12-05 10:00"), &cancel).await;
        assert_eq!(sent.lock().unwrap().len(), 1);
        rt.dunning_round(&t, at("2026-12-07 10:00"), &cancel).await;
        let steps: Vec<String> = sent.lock().unwrap().iter().map(|s| s.0.clone()).collect();
        assert_eq!(steps, ["first", "second"]);
        let outbox = rt.store.outbox(&t, Some("sent"), 10).unwrap();
        assert_eq!(outbox.len(), 2);
        assert!(outbox.iter().all(|o| o.reference.as_deref().unwrap().starts_with("<rl-")));
    }

    /// A reminder interrupted mid-send (its process killed) whose invoice is
    /// paid before the restart: if it had gone out (the channel finds it), it
    /// is recorded sent, not cancelled; if it had not, it is cancelled and
    /// nothing goes out. On both databases.
    #[tokio::test]
    async fn an_interrupted_reminder_is_recorded_as_what_happened_to_it() {
        let dir = tempfile::tempdir().unwrap();
        for (n, db) in databases().iter().enumerate() {
            let d = dir.path().join(n.to_string());
            an_interrupted_reminder_is_recorded_as_what_happened_to_it_on(&d, db.as_ref()).await;
        }
    }

    async fn an_interrupted_reminder_is_recorded_as_what_happened_to_it_on(
        d: &std::path::Path,
        db: Option<&relance_store::testing::ScratchSchema>,
    ) {
        use relance_domain::money::{Currency, Money};
        use relance_domain::{BankLine, CustomerRecord, InvoiceRecord, PaymentStatus};
        use relance_store::{AllocationRequest, ImportKey, InvoiceBatch, LearnIban, NewPayment};
        let (sent, delivered): (Sent, Delivered) = (Default::default(), Default::default());
        let rt = dunning_runtime(
            d,
            db,
            "[[steps]]\nid = \"first\"\noffset_days = 1\nchannel = \"email\"\ntemplate = \"courteous\"\n",
            "window = \"00:00-23:59\"\n",
            RecorderFactory(sent.clone(), delivered.clone()),
        );
        let t = relance_domain::TenantId::new("t").unwrap();
        let eur = |m: i64| Money::new(m, Currency::EUR);
        let record = |number: &str, customer: &str| InvoiceRecord {
            number: number.into(),
            customer: CustomerRecord {
                id: customer.into(),
                name: customer.into(),
                emails: vec![format!("{customer}@x.example")],
                ..Default::default()
            },
            issue_date: None,
            due_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            total: eur(10_000),
            open: eur(10_000),
            status: None,
        };
        let key = ImportKey { tenant: &t, source: "erp", unit: "u", label: "f.csv", full_export: false };
        let mut st = rt.store.begin_import(&key).unwrap();
        let records = vec![record("F-1", "C1"), record("F-2", "C2")];
        rt.store
            .apply_invoice_batch(&mut st, &InvoiceBatch { records, position_after: 2, ..Default::default() })
            .unwrap();
        rt.store.finish_import(&mut st, "f.csv").unwrap();
        // Planned and claimed (`sending`), then the process dies: C1's message had gone
        // out (the channel has it), C2's had not.
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let now = day.and_hms_opt(10, 0, 0).unwrap().and_utc();
        let tc = rt.settings.tenant("t").unwrap().clone();
        crate::reminders::plan::plan_day(&rt.store, &tc, day).unwrap();
        let claim = rt.store.claim_outbox(&t, day, now, 10).unwrap();
        assert_eq!(claim.items.len(), 2);
        let c1 = claim.items.iter().find(|i| i.customer_id == "C1").unwrap();
        delivered.lock().unwrap().insert(c1.token.clone());
        assert_eq!(rt.store.requeue_interrupted(&t).unwrap(), 2);
        // Both customers pay before the restart.
        for (n, invoice) in ["F-1", "F-2"].iter().enumerate() {
            let line = BankLine::credit(day, eur(10_000));
            let p = NewPayment { dedupe_key: format!("p{n}"), account: None, line };
            rt.store.store_statement(&t, "bank", &format!("s{n}"), "s", None, "camt", &[p]).unwrap();
            let id = rt.store.payments_to_match(&t).unwrap()[0].id;
            let a = AllocationRequest { invoice: (*invoice).into(), amount: eur(10_000), write_off: None };
            rt.store.apply_payment(&t, id, &[PaymentStatus::New], &[a], "test", None, LearnIban::No).unwrap();
        }
        let cancel = CancellationToken::new();
        rt.dunning_round(&t, now, &cancel).await;
        assert!(sent.lock().unwrap().is_empty(), "nothing goes out again, nothing goes out paid");
        let rows = rt.store.outbox(&t, None, 10).unwrap();
        let status = |c: &str| rows.iter().find(|o| o.customer_id == c).map(|o| (o.status, o.reference.clone()));
        assert_eq!(
            status("C1"),
            Some((relance_store::OutboxStatus::Sent, Some(format!("<{}@test>", c1.token)))),
            "{rows:?}"
        );
        assert_eq!(status("C2").map(|s| s.0), Some(relance_store::OutboxStatus::Cancelled), "{rows:?}");
    }
}
