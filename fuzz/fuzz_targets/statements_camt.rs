//! camt.052/053/054 statements (`relance_connectors::statements::camt::parse`).

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::statements::camt;

fuzz_target!(|data: &[u8]| {
    relance_fuzz::check_statement(&camt::parse(data));
});
