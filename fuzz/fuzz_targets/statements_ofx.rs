//! OFX 1.x/2.x statements (`relance_connectors::statements::ofx::parse`).

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::statements::ofx;

fuzz_target!(|data: &[u8]| {
    relance_fuzz::check_statement(&ofx::parse(data));
});
