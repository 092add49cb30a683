//! A plugin whose function table says ABI major 2 (as one built by a newer
//! SDK might, exporting the version-1 symbol by mistake): the host must refuse
//! it without calling anything else.
//!
//! Its functions are safe `extern "C" fn`s (they coerce to the table's
//! `unsafe extern "C" fn` pointers) and the entry symbol comes from the ABI
//! crate's `export_api_table!`, so this crate has no `unsafe` code.

#![forbid(unsafe_code)]

use relance_plugin_abi::{PluginApiV1, RL_ERR, RlBuf, RlSlice};
use std::ffi::c_void;

extern "C" fn manifest() -> RlSlice {
    let m = br#"{"name":"future_abi","version":"2.0.0","roles":["invoice_source"],"panic":"unwind"}"#;
    RlSlice { ptr: m.as_ptr(), len: m.len() }
}
extern "C" fn create(_c: RlSlice, _i: *mut *mut c_void, _o: *mut RlBuf) -> i32 {
    RL_ERR
}
extern "C" fn call(_i: *mut c_void, _op: RlSlice, _r: RlSlice, _o: *mut RlBuf) -> i32 {
    RL_ERR
}
extern "C" fn destroy(_i: *mut c_void) {}
extern "C" fn buf_free(_b: RlBuf) {}

static API: PluginApiV1 = PluginApiV1 {
    abi_major: 2,
    abi_minor: 0,
    struct_size: std::mem::size_of::<PluginApiV1>(),
    manifest,
    create,
    call,
    destroy,
    buf_free,
};

relance_plugin_abi::export_api_table!(API);
