//! Reply understanding: MIME, new text, intent, dates, amounts and references
//! (`relance_engine::replies::understand`).

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(u) = relance_engine::replies::understand(data) {
        assert!((0.0..=1.0).contains(&u.confidence), "confidence {}", u.confidence);
    }
});
