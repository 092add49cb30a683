//! The plugin host: loads connector plugins (shared libraries speaking the
//! C ABI of `relance-plugin-abi`) from the configured plugin directory and
//! adapts them to the connector traits, so that a tenant uses one exactly
//! like a built-in connector (`kind = "plugin:<name>"`).
//!
//! This is the only module of the workspace with `unsafe` code: every raw
//! pointer stays here. What it guarantees:
//! - only files of `plugins_dir` are loaded, with `RTLD_NOW` (a missing
//!   symbol fails at load), and never unloaded;
//! - a plugin is refused, with its file named, unless its entry symbol is
//!   there, its table says ABI major 1 and is large enough, its manifest is
//!   readable and its panic strategy is `unwind`;
//! - calls run on the blocking pool under a timeout. A panic (caught by the
//!   plugin's SDK glue), an error, output that is not what the operation
//!   returns, or a hang is an error of that connector only; the instance is
//!   then dropped and a fresh one created on the next run. After
//!   [`BREAKER_LIMIT`] panics or timeouts in a row the connector is disabled
//!   until restart (a hung call keeps its thread).
//!
//! Roles driven: invoice source (`sync`), outbound channel (`send`), ERP
//! write-back (`push`). Statement sources are not driven yet.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use relance_plugin_abi::{ABI_MAJOR, ENTRY_SYMBOL, EntryFn, PluginApiV1, RL_OK, RL_PANIC, RlBuf, RlSlice};
use serde_json::{Value, json};

use relance_config::{ConfigError, ConnectorConfig, Schedule, TenantConfig, resolve_secret};
use relance_connector::paging::PagedImport;
use relance_connector::{
    AnyConnector, ConnectorError, ConnectorFactory, ErpWriteBack, InvoiceSource, OutboundChannel, OutboundMessage,
    RunContext, RunReport, SendReceipt,
};
use relance_domain::{AllocationNotice, Channel};

/// Consecutive panics or timeouts after which a plugin connector is disabled.
pub const BREAKER_LIMIT: u32 = 3;
/// Default limit for one call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Pages read in one sync at most (a plugin that always says `more` stops here).
const MAX_PAGES: u32 = 100_000;

/// Why a plugin could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin {}: {message}", file.display())]
pub struct LoadError {
    pub file: PathBuf,
    pub message: String,
}

/// A loaded, checked plugin.
pub struct Plugin {
    pub file: PathBuf,
    pub name: String,
    pub version: String,
    pub roles: Vec<String>,
    api: &'static PluginApiV1,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("file", &self.file)
            .field("name", &self.name)
            .field("version", &self.version)
            .finish()
    }
}

/// Loads every `*.so` (`*.dylib` on macOS) of `dir`, in name order.
pub fn load_dir(dir: &Path) -> (Vec<Arc<Plugin>>, Vec<LoadError>) {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == std::env::consts::DLL_EXTENSION))
            .collect(),
        Err(e) => {
            let message = format!("cannot read the plugin directory: {e}");
            return (Vec::new(), vec![LoadError { file: dir.to_path_buf(), message }]);
        }
    };
    files.sort();
    let (mut ok, mut errors) = (Vec::new(), Vec::new());
    for f in files {
        match load(&f) {
            Ok(p) => ok.push(Arc::new(p)),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

/// Loads and checks one plugin file.
pub fn load(file: &Path) -> Result<Plugin, LoadError> {
    let err = |message: String| LoadError { file: file.to_path_buf(), message };
    // SAFETY: loading runs the library's initialisers; plugins come only from
    // the directory the operator configured, which is the trust boundary.
    let lib = unsafe {
        libloading::os::unix::Library::open(
            Some(file),
            libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL,
        )
    }
    .map_err(|e| err(format!("cannot load: {e}")))?;
    let lib = libloading::Library::from(lib);
    // SAFETY: the symbol's type is fixed by ABI version 1.
    let entry = match unsafe { lib.get::<EntryFn>(ENTRY_SYMBOL) } {
        Ok(sym) => *sym,
        Err(_) => {
            let other = (2..10).find(|v| {
                // SAFETY: only the presence of the symbol is checked; it is not called.
                unsafe { lib.get::<*const c_void>(format!("relance_plugin_entry_v{v}\0").as_bytes()).is_ok() }
            });
            return Err(err(match other {
                Some(v) => format!(
                    "built for plugin ABI {v}; this Relance speaks ABI {ABI_MAJOR}: rebuild it with a matching SDK"
                ),
                None => "not a Relance plugin (no `relance_plugin_entry_v1` symbol)".into(),
            }));
        }
    };
    // SAFETY: calling the entry point is the documented first step of the ABI.
    let table = unsafe { entry() };
    if table.is_null() {
        return Err(err("the entry point returned no function table".into()));
    }
    // SAFETY: every ABI version starts with `abi_major: u32`; nothing else is read before it is checked.
    let major = unsafe { std::ptr::read(table.cast::<u32>()) };
    if major != ABI_MAJOR {
        return Err(err(format!(
            "plugin ABI mismatch: the plugin's table is ABI {major}, this Relance speaks ABI {ABI_MAJOR}: rebuild it with a matching SDK"
        )));
    }
    // SAFETY: ABI 1 tables start with the v1 fields; `struct_size` is checked before the rest is used.
    let api: &'static PluginApiV1 = unsafe { &*table };
    if api.struct_size < std::mem::size_of::<PluginApiV1>() {
        return Err(err(format!("function table too small ({} bytes) for ABI {ABI_MAJOR}", api.struct_size)));
    }
    // SAFETY: the manifest is a static slice of the plugin.
    let manifest = unsafe { slice_bytes((api.manifest)()) }.to_vec();
    let m: Value = serde_json::from_slice(&manifest).map_err(|e| err(format!("unreadable manifest: {e}")))?;
    let name = m["name"].as_str().unwrap_or_default().to_string();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(err(format!("plugin name `{name}` is not lower-case snake_case")));
    }
    if m["panic"].as_str() != Some("unwind") {
        return Err(err(format!(
            "plugin `{name}` is built with panic = \"{}\": build it with panic = \"unwind\" so its panics can be caught",
            m["panic"].as_str().unwrap_or("?")
        )));
    }
    let roles: Vec<String> =
        m["roles"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(String::from)).collect();
    // Never unloaded: unloading code whose thread-locals may still be alive is unsound.
    std::mem::forget(lib);
    Ok(Plugin { file: file.to_path_buf(), name, version: m["version"].as_str().unwrap_or("?").to_string(), roles, api })
}

/// # Safety
/// `s` must point to `len` readable bytes living at least as long as the result is used.
unsafe fn slice_bytes<'a>(s: RlSlice) -> &'a [u8] {
    if s.ptr.is_null() || s.len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(s.ptr, s.len) } }
}

fn borrowed(bytes: &[u8]) -> RlSlice {
    RlSlice { ptr: bytes.as_ptr(), len: bytes.len() }
}

/// What a plugin call gave back.
enum Reply {
    Ok(Vec<u8>),
    Error(ConnectorError),
    Panic(String),
}

impl Plugin {
    /// Copies a plugin buffer out and gives it back to the plugin.
    fn take(&self, buf: RlBuf) -> Vec<u8> {
        // SAFETY: `buf` was filled by this plugin for this call; it is read once, then freed once by the plugin.
        let bytes = unsafe { slice_bytes(RlSlice { ptr: buf.ptr, len: buf.len }) }.to_vec();
        if !buf.ptr.is_null() {
            // SAFETY: handing the buffer back to the allocator that made it, as the ABI requires.
            unsafe { (self.api.buf_free)(buf) };
        }
        bytes
    }

    fn reply(&self, code: i32, out: RlBuf) -> Reply {
        let bytes = self.take(out);
        if code == RL_OK {
            return Reply::Ok(bytes);
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let message =
            v["message"].as_str().map(String::from).unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        if code == RL_PANIC {
            return Reply::Panic(message);
        }
        let message = format!("plugin {}: {message}", self.name);
        Reply::Error(match v["kind"].as_str() {
            Some("transient") => ConnectorError::Transient(message),
            _ => ConnectorError::Permanent(message),
        })
    }

    fn create(self: &Arc<Self>, config: &[u8]) -> Result<Instance, Reply> {
        let mut instance: *mut c_void = std::ptr::null_mut();
        let mut out = RlBuf::EMPTY;
        // SAFETY: valid input slice and output locations for the duration of the call.
        let code = unsafe { (self.api.create)(borrowed(config), &mut instance, &mut out) };
        if code == RL_OK && !instance.is_null() {
            let _ = self.take(out);
            Ok(Instance { plugin: self.clone(), ptr: instance })
        } else {
            Err(self.reply(code, out))
        }
    }
}

/// One plugin instance; destroyed when the last reference goes (a call that
/// timed out keeps one until it returns).
struct Instance {
    plugin: Arc<Plugin>,
    ptr: *mut c_void,
}

// SAFETY: the ABI lets an instance be called from any thread; the host never
// calls one concurrently: a connector's calls hold its `Caller::exclusive`
// lock from before the instance is taken until the call returns or times out,
// and an instance whose call timed out is never handed out again.
unsafe impl Send for Instance {}
// SAFETY: see above; `&Instance` is only used to make serialised calls.
unsafe impl Sync for Instance {}

impl Instance {
    fn call(&self, op: &str, request: &[u8]) -> Reply {
        let mut out = RlBuf::EMPTY;
        // SAFETY: `ptr` came from `create`, the slices live through the call, `out` is writable.
        let code = unsafe { (self.plugin.api.call)(self.ptr, borrowed(op.as_bytes()), borrowed(request), &mut out) };
        self.plugin.reply(code, out)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `create` and is not used after this.
        unsafe { (self.plugin.api.destroy)(self.ptr) };
    }
}

/// The connector factory of one plugin: `kind = "plugin:<name>"`; a plugin
/// with several roles is given one per connector with `role = "…"`, an
/// outbound one its `channel`.
pub struct PluginFactory {
    plugin: Arc<Plugin>,
    kind: &'static str,
}

impl PluginFactory {
    pub fn new(plugin: Arc<Plugin>) -> PluginFactory {
        let kind: &'static str = Box::leak(format!("plugin:{}", plugin.name).into_boxed_str());
        PluginFactory { plugin, kind }
    }
}

/// Resolves `env:`/`file:` references in every string of the settings.
fn resolve_all(v: &Value, base: &Path) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) if s.starts_with("env:") || s.starts_with("file:") => Value::String(resolve_secret(s, base)?),
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve_all(x, base)).collect::<Result<_, _>>()?),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| Ok((k.clone(), resolve_all(x, base)?))).collect::<Result<_, String>>()?)
        }
        other => other.clone(),
    })
}

impl ConnectorFactory for PluginFactory {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn default_schedule(&self) -> Schedule {
        Schedule::Interval(Duration::from_secs(300))
    }

    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
        let key = format!("connectors.{}", connector.name);
        let err = |m: String| ConfigError::new(&tenant.file, Some(&key), m);
        let mut settings = connector.settings.clone();
        let timeout = match settings.remove("timeout") {
            Some(Value::String(t)) => relance_config::parse_duration(&t).map_err(&err)?,
            Some(_) => return Err(err("`timeout` is a duration such as \"30s\"".into())),
            None => DEFAULT_TIMEOUT,
        };
        let role = match settings.remove("role") {
            Some(Value::String(r)) => r,
            Some(_) => return Err(err("`role` is one of the plugin's roles, as text".into())),
            None if self.plugin.roles.len() == 1 => self.plugin.roles[0].clone(),
            None => {
                return Err(err(format!(
                    "plugin `{}` has several roles ({}): say which one with `role = \"…\"`",
                    self.plugin.name,
                    self.plugin.roles.join(", ")
                )));
            }
        };
        if !self.plugin.roles.contains(&role) {
            return Err(err(format!(
                "plugin `{}` ({}) does not implement the role `{role}` (it implements {})",
                self.plugin.name,
                self.plugin.file.display(),
                self.plugin.roles.join(", ")
            )));
        }
        let channel = match settings.remove("channel") {
            Some(v) => Some(
                serde_json::from_value::<Channel>(v)
                    .map_err(|_| err("`channel` is email, sms, webhook, letter or call_task".into()))?,
            ),
            None => None,
        };
        let config = resolve_all(&Value::Object(settings), &tenant.base_dir).map_err(&err)?;
        let caller = Caller {
            plugin: self.plugin.clone(),
            config: config.to_string().into_bytes(),
            timeout,
            instance: Mutex::new(None),
            exclusive: tokio::sync::Mutex::new(()),
            failures: AtomicU32::new(0),
        };
        Ok(match role.as_str() {
            "invoice_source" => {
                AnyConnector::InvoiceSource(Arc::new(PluginInvoiceSource { caller, currency: tenant.currency }))
            }
            "outbound_channel" => {
                let Some(channel) = channel else {
                    return Err(err(
                        "an outbound plugin needs `channel = \"sms\"` (or email, webhook, letter, call_task)".into(),
                    ));
                };
                AnyConnector::OutboundChannel(Arc::new(PluginChannel { caller, channel }))
            }
            "erp_write_back" => AnyConnector::ErpWriteBack(Arc::new(PluginWriteBack { caller })),
            other => {
                return Err(err(format!("this host does not drive the `{other}` role of plugins yet")));
            }
        })
    }
}

/// Calls into one plugin connector: its instance, timeout and circuit breaker.
struct Caller {
    plugin: Arc<Plugin>,
    config: Vec<u8>,
    timeout: Duration,
    instance: Mutex<Option<Arc<Instance>>>,
    /// Held for the whole of a call, so one instance never runs two calls at
    /// once (the ABI's promise), whichever task makes them.
    exclusive: tokio::sync::Mutex<()>,
    /// Panics and timeouts in a row.
    failures: AtomicU32,
}

/// A plugin driven as an invoice source.
pub struct PluginInvoiceSource {
    caller: Caller,
    currency: relance_domain::money::Currency,
}

impl Caller {
    /// One call on the blocking pool, under the timeout.
    async fn call(&self, op: &'static str, request: Value) -> Result<Value, ConnectorError> {
        let name = self.plugin.name.clone();
        if self.failures.load(Ordering::SeqCst) >= BREAKER_LIMIT {
            return Err(ConnectorError::Permanent(format!(
                "plugin {name} is disabled after {BREAKER_LIMIT} panics or timeouts in a row; restart Relance to try it again"
            )));
        }
        // Until this call returns or times out (a timed-out instance is dropped
        // from the slot, so it is never called again).
        let _exclusive = self.exclusive.lock().await;
        let existing =
            self.instance.lock().map_err(|_| ConnectorError::Transient("plugin state poisoned".into()))?.clone();
        let (plugin, config) = (self.plugin.clone(), self.config.clone());
        let body = request.to_string().into_bytes();
        let task = tokio::task::spawn_blocking(move || {
            let instance = match existing {
                Some(i) => i,
                None => Arc::new(plugin.create(&config)?),
            };
            let reply = instance.call(op, &body);
            Ok::<_, Reply>((instance, reply))
        });
        let outcome = match tokio::time::timeout(self.timeout, task).await {
            Err(_) => {
                self.drop_instance();
                self.failures.fetch_add(1, Ordering::SeqCst);
                return Err(ConnectorError::Transient(format!(
                    "plugin {name}: `{op}` did not answer within {:?}",
                    self.timeout
                )));
            }
            Ok(Err(join)) => Err(Reply::Panic(join.to_string())),
            Ok(Ok(r)) => r,
        };
        let reply = match outcome {
            Ok((instance, reply)) => {
                if let Ok(mut slot) = self.instance.lock() {
                    *slot = Some(instance);
                }
                reply
            }
            Err(reply) => reply,
        };
        match reply {
            Reply::Ok(bytes) => {
                self.failures.store(0, Ordering::SeqCst);
                serde_json::from_slice(&bytes).map_err(|e| {
                    ConnectorError::Permanent(format!(
                        "plugin {name}: `{op}` returned malformed output (not JSON: {e})"
                    ))
                })
            }
            Reply::Error(e) => {
                self.failures.store(0, Ordering::SeqCst);
                Err(e)
            }
            Reply::Panic(message) => {
                self.drop_instance();
                self.failures.fetch_add(1, Ordering::SeqCst);
                Err(ConnectorError::Transient(format!("plugin {name} panicked in `{op}`: {message}")))
            }
        }
    }

    fn drop_instance(&self) {
        if let Ok(mut slot) = self.instance.lock() {
            *slot = None;
        }
    }
}

#[async_trait]
impl InvoiceSource for PluginInvoiceSource {
    async fn sync(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError> {
        let name = &self.caller.plugin.name;
        let cursor_key = "cursor";
        let store = ctx.store.clone();
        let (tenant, connector) = (ctx.tenant.clone(), ctx.connector.clone());
        let mut cursor = store.connector_state(&tenant, &connector, cursor_key)?;
        let unit = format!(
            "{}:{}",
            cursor.as_deref().unwrap_or("start"),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        );
        let mut import = PagedImport::incremental(&store, &tenant, &connector, &unit, self.currency)?;
        for n in 1..=MAX_PAGES {
            if ctx.cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            let page = self.caller.call("sync", json!({ "cursor": cursor })).await?;
            let (Some(records), Some(more)) = (page["records"].as_array(), page["more"].as_bool()) else {
                return Err(ConnectorError::Permanent(format!(
                    "plugin {name}: `sync` returned malformed output (expected {{records: [...], next_cursor, more}}): {}",
                    page.to_string().chars().take(200).collect::<String>()
                )));
            };
            let label =
                format!("plugin {} page {n} (cursor {})", self.caller.plugin.name, cursor.as_deref().unwrap_or("none"));
            let records = records.clone();
            let (back, result) = relance_connector::run_blocking("plugin import", move || {
                let r = import.page(&label, &records);
                Ok((import, r))
            })
            .await?;
            import = back;
            result?;
            let next = page["next_cursor"].as_str().map(String::from);
            if let Some(c) = &next {
                store.set_connector_state(&tenant, &connector, cursor_key, c)?;
            }
            cursor = next;
            if !more {
                break;
            }
        }
        relance_connector::run_blocking("plugin import", move || import.finish()).await
    }
}

/// A plugin driven as an outbound channel: operation `send`, request the
/// message, result `{"reference": "…"}`.
pub struct PluginChannel {
    caller: Caller,
    channel: Channel,
}

#[async_trait]
impl OutboundChannel for PluginChannel {
    fn channel(&self) -> Channel {
        self.channel
    }

    async fn send(&self, m: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        let request = json!({
            "tenant": m.tenant, "customer": { "id": m.customer_id, "name": m.customer_name, "address": m.postal_address },
            "channel": m.channel, "id": m.token, "step": m.step, "invoices": m.invoices, "language": m.language.as_str(),
            "recipients": m.recipients, "subject": m.subject, "text": m.body_text, "html": m.body_html,
            "date": m.date.to_rfc3339(), "planned_for": m.planned_for,
        });
        let result = self.caller.call("send", request).await?;
        match result["reference"].as_str() {
            Some(r) => Ok(SendReceipt { reference: r.to_string() }),
            None => Err(ConnectorError::Permanent(format!(
                "plugin {}: `send` returned malformed output (expected {{\"reference\": \"…\"}}): {result}",
                self.caller.plugin.name
            ))),
        }
    }
}

/// A plugin driven as an ERP write-back: operation `push`, request the
/// allocation notice (amount as a decimal string), any JSON result.
pub struct PluginWriteBack {
    caller: Caller,
}

#[async_trait]
impl ErpWriteBack for PluginWriteBack {
    async fn push(&self, n: &AllocationNotice) -> Result<(), ConnectorError> {
        let request = json!({
            "tenant": n.tenant, "allocation_id": n.allocation_id, "invoice": n.invoice_number,
            "amount": n.amount.to_decimal_string(), "currency": n.amount.currency.code(),
            "payment_reference": n.payment_reference, "booking_date": n.booking_date, "reversal": n.reversal,
        });
        self.caller.call("push", request).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_secrets_are_resolved_everywhere() {
        // SAFETY: test-only environment change, no other thread reads this variable.
        unsafe { std::env::set_var("RELANCE_PLUGIN_TEST_TOKEN", "t0ken") };
        let v = json!({ "token": "env:RELANCE_PLUGIN_TEST_TOKEN", "nested": ["env:RELANCE_PLUGIN_TEST_TOKEN", 3] });
        let r = resolve_all(&v, Path::new(".")).unwrap();
        assert_eq!(r, json!({ "token": "t0ken", "nested": ["t0ken", 3] }));
        assert!(resolve_all(&json!("env:RELANCE_NO_SUCH_VARIABLE"), Path::new(".")).is_err());
    }

    #[test]
    fn a_file_that_is_not_a_plugin_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("junk.so");
        std::fs::write(&f, b"not an ELF file").unwrap();
        let e = load(&f).unwrap_err();
        assert_eq!(e.file, f);
        assert!(e.message.starts_with("cannot load"), "{e}");
        let (ok, errors) = load_dir(dir.path());
        assert!(ok.is_empty() && errors.len() == 1);
    }
}
