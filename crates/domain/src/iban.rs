//! IBAN normalisation and ISO 13616 checksum validation.

/// Normalises an IBAN (spaces and dashes removed, upper case) and checks its
/// shape and mod-97 checksum. Returns the electronic form (`FR7630006000011234567890189`).
pub fn normalize_iban(text: &str) -> Result<String, IbanError> {
    let iban: String =
        text.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    if iban.len() < 15 || iban.len() > 34 {
        return Err(IbanError::Length(iban.len()));
    }
    let bytes = iban.as_bytes();
    if !bytes[..2].iter().all(u8::is_ascii_uppercase) || !bytes[2..4].iter().all(u8::is_ascii_digit) {
        return Err(IbanError::Shape);
    }
    if !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return Err(IbanError::Shape);
    }
    // Move the first four characters to the end and compute mod 97 on the digits.
    let mut rem: u32 = 0;
    for &b in bytes[4..].iter().chain(&bytes[..4]) {
        let v = if b.is_ascii_digit() { u32::from(b - b'0') } else { u32::from(b - b'A') + 10 };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    if rem == 1 { Ok(iban) } else { Err(IbanError::Checksum) }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IbanError {
    #[error("an IBAN has 15 to 34 characters, this one has {0}")]
    Length(usize),
    #[error("an IBAN starts with a country code and two check digits")]
    Shape,
    #[error("the IBAN check digits are wrong")]
    Checksum,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ibans_normalise() {
        assert_eq!(normalize_iban("fr76 3000 6000 0112 3456 7890 189").as_deref(), Ok("FR7630006000011234567890189"));
        assert!(normalize_iban("DE89370400440532013000").is_ok());
        assert!(normalize_iban("GB82 WEST 1234 5698 7654 32").is_ok());
        assert!(normalize_iban("BE68539007547034").is_ok());
    }

    #[test]
    fn invalid_ibans_are_refused() {
        assert_eq!(normalize_iban("FR7630006000011234567890188"), Err(IbanError::Checksum));
        assert_eq!(normalize_iban("FR76"), Err(IbanError::Length(4)));
        assert_eq!(normalize_iban("1276300060000112345678901"), Err(IbanError::Shape));
        assert_eq!(normalize_iban("FR76300060000112345678901!"), Err(IbanError::Shape));
    }
}
