//! Checks shared by the fuzz targets: what must hold of a parser's answer,
//! whatever the input (besides not panicking, which libFuzzer catches).

#![forbid(unsafe_code)]

use relance_connectors::statements::{MAX_MESSAGE, ParseError, ParsedFile};

/// A parsed statement or its error, checked: amounts are positive and error
/// messages stay short (they reach the quarantine reason, logs and the API).
pub fn check_statement(result: &Result<ParsedFile, ParseError>) {
    match result {
        Ok(parsed) => {
            for t in parsed.lines() {
                assert!(t.amount.minor >= 0, "negative amount {:?}", t.amount);
            }
        }
        Err(e) => check_message(&e.message),
    }
}

/// An error message quoting input is cut to a few hundred bytes.
pub fn check_message(message: &str) {
    assert!(message.len() <= MAX_MESSAGE + '…'.len_utf8(), "error message of {} bytes", message.len());
}
