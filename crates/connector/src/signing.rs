//! The signature of Relance's outgoing webhooks (the reminder channel and the
//! domain events): HMAC-SHA256 keyed with the shared secret over
//! `"<timestamp>.<body>"`, sent as `X-Relance-Signature: sha256=<hex>` next
//! to `X-Relance-Timestamp: <unix seconds>`. One function, so receivers
//! verify every Relance webhook the same way.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header carrying the unix time the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-Relance-Timestamp";
/// Header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Relance-Signature";
/// Header carrying the event's stable id (the same on every retry).
pub const EVENT_ID_HEADER: &str = "X-Relance-Event-Id";

/// `sha256=<hex>` of HMAC-SHA256(`secret`, `"<timestamp>.<body>"`).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_timestamp_dot_body() {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"k").unwrap();
        mac.update(b"12.{}");
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(signature(b"k", 12, b"{}"), expected);
        assert_ne!(signature(b"k", 13, b"{}"), expected);
        assert_ne!(signature(b"other", 12, b"{}"), expected);
    }
}
