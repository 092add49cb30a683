//! Format detection then the detected parser, as the bank connector does
//! (`relance_connectors::statements::parse`).

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::statements;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = statements::detect(data) {
        relance_fuzz::check_message(&e.message);
    }
    relance_fuzz::check_statement(&statements::parse(data));
});
