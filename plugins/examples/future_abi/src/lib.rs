//! A plugin whose function table says ABI major 2 (as one built by a newer
//! SDK might, exporting the version-1 symbol by mistake): the host must refuse
//! it without calling anything else.

use relance_plugin_abi::{PluginApiV1, RL_ERR, RlBuf, RlSlice};
use std::ffi::c_void;

unsafe extern "C" fn manifest() -> RlSlice {
    let m = br#"{"name":"future_abi","version":"2.0.0","roles":["invoice_source"],"panic":"unwind"}"#;
    RlSlice { ptr: m.as_ptr(), len: m.len() }
}
unsafe extern "C" fn create(_c: RlSlice, _i: *mut *mut c_void, _o: *mut RlBuf) -> i32 {
    RL_ERR
}
unsafe extern "C" fn call(_i: *mut c_void, _op: RlSlice, _r: RlSlice, _o: *mut RlBuf) -> i32 {
    RL_ERR
}
unsafe extern "C" fn destroy(_i: *mut c_void) {}
unsafe extern "C" fn buf_free(_b: RlBuf) {}

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

#[unsafe(no_mangle)]
pub extern "C" fn relance_plugin_entry_v1() -> *const PluginApiV1 {
    &API
}
