//! Panic containment for work on untrusted input.
//!
//! Parsers and analysers are written not to panic (fuzzed, no byte-offset
//! slicing of text), but a connector must survive one that still does: the
//! item that caused it is quarantined with the panic message as the reason,
//! and the connector moves on to the next item. [`contain`] turns a panic
//! into a [`Panicked`] error carrying that message.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A panic caught by [`contain`]: the panic message, cut to a readable length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("internal error while processing this input (panic: {message})")]
pub struct Panicked {
    pub message: String,
}

/// Longest panic message kept, in bytes (cut on a character boundary).
const MAX_MESSAGE: usize = 300;

/// Runs `f`, turning a panic into [`Panicked`].
///
/// `f` must only work on data it owns or borrows immutably from input that is
/// dropped after a failure (a parser's bytes, a message's text): state it
/// mutated half-way is not observed again, which is why unwind safety is
/// asserted here.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| Panicked { message: payload_message(payload.as_ref()) })
}

fn payload_message(payload: &(dyn Any + Send)) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    };
    truncate(&text, MAX_MESSAGE)
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Name of the environment variable of [`test_panic_hook`].
pub const TEST_PANIC_MARKER_VAR: &str = "RELANCE_TEST_PANIC_MARKER";

/// In debug builds, panics when `bytes` contain the value of the environment
/// variable `RELANCE_TEST_PANIC_MARKER`: parsers call it first, so the
/// integration tests can check that a panic on one input is contained
/// (no known input panics a parser any more). Release builds have no hook.
#[cfg(debug_assertions)]
pub fn test_panic_hook(what: &str, bytes: &[u8]) {
    let Some(marker) = std::env::var_os(TEST_PANIC_MARKER_VAR) else { return };
    let marker = marker.as_encoded_bytes();
    if !marker.is_empty() && bytes.windows(marker.len()).any(|w| w == marker) {
        panic!("test hook: the {what} contains the {TEST_PANIC_MARKER_VAR} marker");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let r: Result<(), Panicked> = contain(|| {
            let v: Vec<u8> = Vec::new();
            let i = v.len() + 3;
            panic!("index {i} out of range");
        });
        assert_eq!(r, Err(Panicked { message: "index 3 out of range".into() }));
        assert_eq!(contain(|| 2 + 2), Ok(4));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ééé", 3), "é…");
        assert_eq!(truncate("abc", 3), "abc");
        let long = "x".repeat(1000);
        let r: Result<(), Panicked> = contain(|| panic!("{long}"));
        assert!(r.unwrap_err().message.len() <= MAX_MESSAGE + '…'.len_utf8());
    }
}
