//! CFONB 120 statements (`relance_connectors::statements::cfonb::parse`).

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::statements::cfonb;

fuzz_target!(|data: &[u8]| {
    let _ = cfonb::looks_like(data);
    relance_fuzz::check_statement(&cfonb::parse(data));
});
