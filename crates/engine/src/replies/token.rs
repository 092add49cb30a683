//! Reply tokens: the per-reminder address that links an answer to its
//! reminder when the mail client dropped `In-Reply-To` and `References`.
//!
//! A reminder is sent with `Reply-To: collections+r<id>-<mac>@…` (plus
//! addressing; the delimiter is the mailbox's) and, with VERP, the envelope
//! sender `bounces+r<id>-<mac>@…`, so that a reply, an auto-reply or a bounce
//! arrives at an address naming its outbox row `<id>`. `<mac>` is the first
//! 64 bits of an HMAC-SHA256, keyed with the tenant's secret key (kept in the
//! store, never sent), over the outbox row's id and its message token: a
//! token cannot be guessed or changed into another reminder's, and one from
//! another database (a restore, another installation) does not verify.
//!
//! Only lowercase letters, digits and `-` are used: mail systems may change
//! the case of a local part, and the token fits in the 64 octets of a local
//! part with a base of up to 35 characters.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex digits of the MAC in a token (64 bits).
const MAC_HEX: usize = 16;
/// What the MAC is computed over begins with this, so the key signs nothing else by accident.
const DOMAIN: &[u8] = b"relance reply token v1\0";

/// A token read from an address, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The outbox row the token names.
    pub outbox_id: i64,
    mac: String,
}

/// The token of outbox row `outbox_id` whose message token is `message_token`.
pub fn sign(key: &[u8], outbox_id: i64, message_token: &str) -> String {
    format!("r{outbox_id}-{}", mac_hex(key, outbox_id, message_token))
}

/// `base` (`collections@acme.example`) with `token` after `delimiter` in its
/// local part; `None` when `base` is not an address.
pub fn plus_address(base: &str, delimiter: char, token: &str) -> Option<String> {
    let (local, domain) = base.rsplit_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then(|| format!("{local}{delimiter}{token}@{domain}"))
}

/// The token at the end of the local part of `address`, after one delimiter
/// character (`+`, `-`, `=`, `.`…); `None` when there is none.
pub fn find(address: &str) -> Option<Candidate> {
    let address = address.trim().trim_matches(['<', '>']);
    let local = address.rsplit_once('@').map_or(address, |(l, _)| l).to_ascii_lowercase();
    let (head, mac) = local.rsplit_once('-')?;
    if mac.len() != MAC_HEX || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digits_at = head.rfind(|c: char| !c.is_ascii_digit())?;
    let (prefix, digits) = head.split_at(digits_at + 1);
    let before = prefix.strip_suffix('r')?;
    // The token follows a delimiter: `collections+r12-…`, never the base's own letters.
    if !before.ends_with(|c: char| !c.is_ascii_alphanumeric()) || digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let outbox_id = digits.parse().ok()?;
    Some(Candidate { outbox_id, mac: mac.to_string() })
}

/// Whether `candidate` was signed with `key` for the row whose message token is `message_token`.
pub fn verify(key: &[u8], candidate: &Candidate, message_token: &str) -> bool {
    let Ok(expected) = hex::decode(&candidate.mac) else { return false };
    mac(key, candidate.outbox_id, message_token).verify_truncated_left(&expected).is_ok()
}

fn mac(key: &[u8], outbox_id: i64, message_token: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    m.update(DOMAIN);
    m.update(outbox_id.to_string().as_bytes());
    m.update(b"\0");
    m.update(message_token.as_bytes());
    m
}

fn mac_hex(key: &[u8], outbox_id: i64, message_token: &str) -> String {
    let full = mac(key, outbox_id, message_token).finalize().into_bytes();
    hex::encode(&full[..MAC_HEX / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signed_token_is_found_in_its_plus_address_and_verifies() {
        let token = sign(KEY, 42, "rl-0123456789abcdef01234567");
        assert!(token.starts_with("r42-") && token.len() == 4 + MAC_HEX, "{token}");
        let address = plus_address("collections@acme.example", '+', &token).unwrap();
        assert_eq!(address, format!("collections+{token}@acme.example"));
        let c = find(&address).unwrap();
        assert_eq!(c.outbox_id, 42);
        assert!(verify(KEY, &c, "rl-0123456789abcdef01234567"));
        // Case changed by a mail system, angle brackets, another delimiter.
        let c = find(&format!("<COLLECTIONS-{}@ACME.EXAMPLE>", token.to_uppercase())).unwrap();
        assert!(verify(KEY, &c, "rl-0123456789abcdef01234567"));
    }

    #[test]
    fn a_token_does_not_verify_with_another_key_row_or_message() {
        let token = sign(KEY, 42, "rl-aaaa");
        let c = find(&format!("x+{token}@d.example")).unwrap();
        assert!(!verify(b"another key", &c, "rl-aaaa"));
        assert!(!verify(KEY, &c, "rl-bbbb"));
        // The id changed by hand: the MAC no longer fits.
        let forged = find(&format!("x+{}@d.example", token.replacen("r42-", "r43-", 1))).unwrap();
        assert_eq!(forged.outbox_id, 43);
        assert!(!verify(KEY, &forged, "rl-aaaa"));
        // A flipped MAC digit.
        let last = token.chars().last().unwrap();
        let flipped = format!("{}{}", &token[..token.len() - 1], if last == '0' { '1' } else { '0' });
        assert!(!verify(KEY, &find(&format!("x+{flipped}@d.example")).unwrap(), "rl-aaaa"));
    }

    #[test]
    fn ordinary_addresses_carry_no_token() {
        for a in [
            "collections@acme.example",
            "jean-pierre@client.example",
            "r12-0123456789abcdef@acme.example",         // no delimiter before it
            "billing+r12-0123456789abcdeg@acme.example", // not hex
            "billing+r12-0123456789abcde@acme.example",  // too short
            "billing+x12-0123456789abcdef@acme.example", // not `r`
            "billing+r-0123456789abcdef@acme.example",   // no id
            "",
            "@",
        ] {
            assert_eq!(find(a), None, "{a}");
        }
        assert_eq!(plus_address("not an address", '+', "r1-00"), None);
    }
}
