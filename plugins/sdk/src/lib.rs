//! The Relance plugin SDK: implement [`Connector`] in safe Rust, then
//! `relance_plugin_sdk::export_connector!(MyConnector);` writes the C ABI
//! exports (see `relance-plugin-abi` for the contract): the entry symbol, the
//! function table, JSON in and out, panics caught at the boundary, buffers
//! freed by the side that allocated them.
//!
//! ```ignore
//! use relance_plugin_sdk::{Connector, Manifest, PluginError, Role, Value};
//!
//! struct MyErp { base: String }
//!
//! impl Connector for MyErp {
//!     fn manifest() -> Manifest {
//!         Manifest { name: "my_erp", version: env!("CARGO_PKG_VERSION"), roles: &[Role::InvoiceSource] }
//!     }
//!     fn create(config: Value) -> Result<Self, PluginError> {
//!         let base = config["url"].as_str().ok_or_else(|| PluginError::config("`url` is required"))?;
//!         Ok(MyErp { base: base.to_string() })
//!     }
//!     fn call(&self, op: &str, request: Value) -> Result<Value, PluginError> {
//!         match op {
//!             "sync" => { /* fetch one page after request["cursor"] */ todo!() }
//!             _ => Err(PluginError::permanent(format!("unknown operation `{op}`"))),
//!         }
//!     }
//! }
//!
//! relance_plugin_sdk::export_connector!(MyErp);
//! ```
//!
//! Build the crate as a `cdylib` with `panic = "unwind"` (the default).

pub use relance_plugin_abi as abi;
pub use serde_json::{self, Value, json};

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use abi::{RL_ERR, RL_OK, RL_PANIC, RlBuf, RlSlice};

/// What a plugin can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    InvoiceSource,
    StatementSource,
    OutboundChannel,
    ErpWriteBack,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::InvoiceSource => "invoice_source",
            Role::StatementSource => "statement_source",
            Role::OutboundChannel => "outbound_channel",
            Role::ErpWriteBack => "erp_write_back",
        }
    }
}

/// Who the plugin is.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Lower-case snake_case; tenants use it as `kind = "plugin:<name>"`.
    pub name: &'static str,
    pub version: &'static str,
    pub roles: &'static [Role],
}

/// How a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Worth retrying later (network, a busy server).
    Transient,
    /// Retrying will not help (bad data, refused credentials).
    Permanent,
    /// The connector's configuration is wrong.
    Config,
}

/// An error returned to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    pub kind: ErrorKind,
    pub message: String,
}

impl PluginError {
    pub fn transient(message: impl Into<String>) -> PluginError {
        PluginError { kind: ErrorKind::Transient, message: message.into() }
    }
    pub fn permanent(message: impl Into<String>) -> PluginError {
        PluginError { kind: ErrorKind::Permanent, message: message.into() }
    }
    pub fn config(message: impl Into<String>) -> PluginError {
        PluginError { kind: ErrorKind::Config, message: message.into() }
    }

    fn to_json(&self) -> Vec<u8> {
        let kind = match self.kind {
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
            ErrorKind::Config => "config",
        };
        json!({ "kind": kind, "message": self.message }).to_string().into_bytes()
    }
}

/// A connector plugin. One instance per configured connector; calls on an
/// instance are never concurrent, but may come from any thread.
pub trait Connector: Send + Sync + Sized + 'static {
    fn manifest() -> Manifest;
    /// Builds an instance from the connector's settings (secret references
    /// `env:`/`file:` already resolved by the host).
    fn create(config: Value) -> Result<Self, PluginError>;
    /// Runs one operation (`sync` for an invoice source, see the ABI docs).
    fn call(&self, op: &str, request: Value) -> Result<Value, PluginError>;
}

/// Typed request and result of the invoice-source `sync` operation.
pub mod invoice_source {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    pub struct SyncRequest {
        /// Where the previous page ended; `None` for the first sync.
        pub cursor: Option<String>,
    }

    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    pub struct SyncPage {
        /// Canonical invoice records (see `relance_connector::paging`).
        pub records: Vec<serde_json::Value>,
        /// Stored by the host once this page is applied, passed back next time.
        pub next_cursor: Option<String>,
        /// Whether another page follows now.
        pub more: bool,
    }
}

// ---- the glue `export_connector!` expands to -------------------------------

/// Implementation details of [`export_connector!`]; not a stable API.
#[doc(hidden)]
pub mod glue {
    use super::*;

    fn out_buf(bytes: Vec<u8>) -> RlBuf {
        let mut v = std::mem::ManuallyDrop::new(bytes);
        RlBuf { ptr: v.as_mut_ptr(), len: v.len(), cap: v.capacity() }
    }

    fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-text payload".to_string())
    }

    /// # Safety
    /// `s` must describe valid memory for the duration of the call.
    unsafe fn bytes<'a>(s: RlSlice) -> &'a [u8] {
        if s.ptr.is_null() || s.len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(s.ptr, s.len) } }
    }

    /// The manifest as JSON.
    pub fn manifest_json<T: Connector>() -> String {
        let m = T::manifest();
        json!({
            "name": m.name,
            "version": m.version,
            "roles": m.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "panic": if cfg!(panic = "unwind") { "unwind" } else { "abort" },
            "abi": { "major": abi::ABI_MAJOR, "minor": abi::ABI_MINOR },
            "sdk": env!("CARGO_PKG_VERSION"),
        })
        .to_string()
    }

    /// Builds the static manifest once; an empty slice if building it panicked.
    pub fn manifest_slice<T: Connector>(cell: &'static std::sync::OnceLock<String>) -> RlSlice {
        match catch_unwind(|| cell.get_or_init(manifest_json::<T>).as_str()) {
            Ok(s) => RlSlice { ptr: s.as_ptr(), len: s.len() },
            Err(_) => RlSlice { ptr: std::ptr::null(), len: 0 },
        }
    }

    /// # Safety
    /// Called by the host per the ABI: valid `config`, writable `instance` and `out`.
    pub unsafe extern "C" fn create<T: Connector>(config: RlSlice, instance: *mut *mut c_void, out: *mut RlBuf) -> i32 {
        let result = catch_unwind(AssertUnwindSafe(|| {
            let cfg: Value = serde_json::from_slice(unsafe { bytes(config) })
                .map_err(|e| PluginError::config(format!("configuration is not JSON: {e}")))?;
            T::create(cfg)
        }));
        let (code, payload) = match result {
            Ok(Ok(t)) => {
                unsafe { *instance = Box::into_raw(Box::new(t)).cast::<c_void>() };
                return RL_OK;
            }
            Ok(Err(e)) => (RL_ERR, e.to_json()),
            Err(p) => (RL_PANIC, PluginError::permanent(format!("panic in create: {}", panic_message(&*p))).to_json()),
        };
        unsafe { *out = out_buf(payload) };
        code
    }

    /// # Safety
    /// Called by the host per the ABI: `instance` from `create`, valid slices, writable `out`.
    pub unsafe extern "C" fn call<T: Connector>(
        instance: *mut c_void,
        op: RlSlice,
        request: RlSlice,
        out: *mut RlBuf,
    ) -> i32 {
        let result = catch_unwind(AssertUnwindSafe(|| {
            let this = unsafe { &*(instance as *const T) };
            let op = std::str::from_utf8(unsafe { bytes(op) })
                .map_err(|_| PluginError::permanent("operation name is not UTF-8"))?;
            let req: Value = serde_json::from_slice(unsafe { bytes(request) })
                .map_err(|e| PluginError::permanent(format!("request is not JSON: {e}")))?;
            let value = this.call(op, req)?;
            Ok::<Vec<u8>, PluginError>(value.to_string().into_bytes())
        }));
        let (code, payload) = match result {
            Ok(Ok(bytes)) => (RL_OK, bytes),
            Ok(Err(e)) => (RL_ERR, e.to_json()),
            Err(p) => (RL_PANIC, PluginError::permanent(format!("panic: {}", panic_message(&*p))).to_json()),
        };
        unsafe { *out = out_buf(payload) };
        code
    }

    /// # Safety
    /// `instance` comes from `create` and is not used afterwards.
    pub unsafe extern "C" fn destroy<T: Connector>(instance: *mut c_void) {
        if !instance.is_null() {
            let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(instance.cast::<T>()) })));
        }
    }

    /// # Safety
    /// `buf` was returned by this plugin and is freed once.
    pub unsafe extern "C" fn buf_free(buf: RlBuf) {
        if !buf.ptr.is_null() {
            let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Vec::from_raw_parts(buf.ptr, buf.len, buf.cap) })));
        }
    }
}

/// Exports `$t` (a [`Connector`]) as a Relance plugin.
#[macro_export]
macro_rules! export_connector {
    ($t:ty) => {
        unsafe extern "C" fn __relance_plugin_manifest() -> $crate::abi::RlSlice {
            static MANIFEST: ::std::sync::OnceLock<::std::string::String> = ::std::sync::OnceLock::new();
            $crate::glue::manifest_slice::<$t>(&MANIFEST)
        }

        static __RELANCE_PLUGIN_API: $crate::abi::PluginApiV1 = $crate::abi::PluginApiV1 {
            abi_major: $crate::abi::ABI_MAJOR,
            abi_minor: $crate::abi::ABI_MINOR,
            struct_size: ::core::mem::size_of::<$crate::abi::PluginApiV1>(),
            manifest: __relance_plugin_manifest,
            create: $crate::glue::create::<$t>,
            call: $crate::glue::call::<$t>,
            destroy: $crate::glue::destroy::<$t>,
            buf_free: $crate::glue::buf_free,
        };

        /// The plugin's entry point (ABI version 1).
        #[unsafe(no_mangle)]
        pub extern "C" fn relance_plugin_entry_v1() -> *const $crate::abi::PluginApiV1 {
            &__RELANCE_PLUGIN_API
        }
    };
}
