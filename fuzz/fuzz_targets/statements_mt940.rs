//! MT940/MT942 statements (`relance_connectors::statements::mt940::parse`).

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::statements::mt940;

fuzz_target!(|data: &[u8]| {
    relance_fuzz::check_statement(&mt940::parse(data));
});
