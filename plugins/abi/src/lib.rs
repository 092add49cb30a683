//! The C ABI between Relance and connector plugins, major version 1.
//!
//! Only `#[repr(C)]` types and constants live here, no dependencies: this
//! crate is the contract, reviewed like a public API. Plugin authors use the
//! SDK (`relance-plugin-sdk`), which writes the unsafe glue; the host side is
//! `relance_plugin_host`.
//!
//! # The contract
//!
//! A plugin is a shared library (`cdylib`) exporting one symbol,
//! [`ENTRY_SYMBOL`] (`relance_plugin_entry_v1`), a function returning a
//! pointer to a static [`PluginApiV1`]. The host loads it with `RTLD_NOW`,
//! calls the entry, and refuses the plugin unless `abi_major` is
//! [`ABI_MAJOR`] and `struct_size` covers the fields it knows. It then reads
//! the manifest (JSON: `name`, `version`, `roles`, `panic`, `abi`), and
//! refuses a `panic` strategy other than `"unwind"`.
//!
//! - `create(config, &instance, &out)`: config is the connector's settings as
//!   JSON; on success `*instance` is an opaque pointer used by `call` and
//!   released by `destroy`.
//! - `call(instance, op, request, &out)`: `op` is an operation name
//!   (`sync` for an invoice source), `request` and the output are JSON.
//!   Calls on one instance are never concurrent; they may come from any
//!   thread.
//! - Return codes: [`RL_OK`] (the output is the result), [`RL_ERR`] (the
//!   output is `{"kind": "transient"|"permanent"|"config", "message": "…"}`),
//!   [`RL_PANIC`] (the plugin caught a panic; the output is the same error
//!   shape). Every exported function catches panics: one escaping an
//!   `extern "C"` function would abort the host.
//! - Memory: inputs ([`RlSlice`]) are borrowed for the duration of the call.
//!   Outputs ([`RlBuf`]) are allocated by the plugin and handed back to it
//!   through `buf_free`, exactly once; the host never frees them itself.
//!   The manifest slice is static.
//!
//! # Versioning
//!
//! - A **minor** version only appends fields at the end of [`PluginApiV1`]
//!   (and raises `struct_size`) or adds operations; a host reads the fields
//!   `struct_size` says are there and treats missing ones as absent.
//! - Anything else (changing or removing a field, a type, a code, the
//!   meaning of an operation) is a new **major** version, with a new entry
//!   symbol (`relance_plugin_entry_v2`) and a new table type, so that an old
//!   host cannot even find the entry of a newer plugin, and says so.
//!
//! # Operations of version 1.0
//!
//! Invoice source, `sync`: request `{"cursor": null | "…"}`; result
//! `{"records": [ … ], "next_cursor": "…" | null, "more": bool}` where each
//! record has the canonical invoice fields (`invoice_number`, `customer_id`,
//! `due_date`, `amount_total`, `amount_open`, `currency`, …, see
//! `relance_connector::paging`). The host stores `next_cursor` after applying the
//! page and calls again while `more` is true.
//!
//! Outbound channel, `send`: request the message (`id` — the same on every
//! retry of one message —, `channel`, `step`, `customer`, `invoices`,
//! `recipients`, `subject`, `text`, `html`, `language`, `date`); result
//! `{"reference": "…"}` (the provider's id).
//!
//! ERP write-back, `push`: request the allocation notice (`allocation_id`,
//! `invoice`, `amount` as a decimal string, `currency`, `payment_reference`,
//! `booking_date`, `reversal`); any JSON result. Delivery is at least once:
//! use `allocation_id` to recognise a repeat.
//!
//! A plugin may have several roles; a tenant's connector picks one with
//! `role = "…"` (and an outbound one its `channel`).

#![no_std]

use core::ffi::c_void;

/// The major version this crate describes.
pub const ABI_MAJOR: u32 = 1;
/// The minor version this crate describes.
pub const ABI_MINOR: u32 = 0;
/// The symbol every version-1 plugin exports (NUL-terminated for dlsym).
pub const ENTRY_SYMBOL: &[u8] = b"relance_plugin_entry_v1\0";

/// Success: the output holds the result.
pub const RL_OK: i32 = 0;
/// A reported error: the output holds `{"kind", "message"}`.
pub const RL_ERR: i32 = 1;
/// The plugin caught a panic: the output holds `{"kind", "message"}`.
pub const RL_PANIC: i32 = 2;

/// Bytes borrowed from the caller for the duration of a call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RlSlice {
    pub ptr: *const u8,
    pub len: usize,
}

/// Bytes allocated by the plugin, given back to it through `buf_free`.
#[repr(C)]
#[derive(Debug)]
pub struct RlBuf {
    pub ptr: *mut u8,
    pub len: usize,
    pub cap: usize,
}

impl RlBuf {
    /// No bytes (nothing to free).
    pub const EMPTY: RlBuf = RlBuf { ptr: core::ptr::null_mut(), len: 0, cap: 0 };
}

/// Returns the static manifest (UTF-8 JSON).
pub type ManifestFn = unsafe extern "C" fn() -> RlSlice;
/// Creates an instance from its JSON configuration.
pub type CreateFn = unsafe extern "C" fn(config: RlSlice, instance: *mut *mut c_void, out: *mut RlBuf) -> i32;
/// Runs one operation.
pub type CallFn = unsafe extern "C" fn(instance: *mut c_void, op: RlSlice, request: RlSlice, out: *mut RlBuf) -> i32;
/// Releases an instance.
pub type DestroyFn = unsafe extern "C" fn(instance: *mut c_void);
/// Releases an output buffer.
pub type BufFreeFn = unsafe extern "C" fn(buf: RlBuf);
/// The exported entry point.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginApiV1;

/// The function table of a version-1 plugin.
#[repr(C)]
pub struct PluginApiV1 {
    /// Must be [`ABI_MAJOR`]; read first, before anything else.
    pub abi_major: u32,
    pub abi_minor: u32,
    /// `size_of::<PluginApiV1>()` as the plugin was built.
    pub struct_size: usize,
    pub manifest: ManifestFn,
    pub create: CreateFn,
    pub call: CallFn,
    pub destroy: DestroyFn,
    pub buf_free: BufFreeFn,
}

/// Exports a hand-made function table as the plugin's entry point (ABI
/// version 1 symbol). Plugins normally use the SDK's `export_connector!`;
/// this is for tables built by hand (tests of the host's checks), so that
/// such a crate needs no `unsafe` of its own.
#[macro_export]
macro_rules! export_api_table {
    ($table:path) => {
        /// The plugin's entry point (ABI version 1).
        #[unsafe(no_mangle)]
        pub extern "C" fn relance_plugin_entry_v1() -> *const $crate::PluginApiV1 {
            &$table
        }
    };
}
