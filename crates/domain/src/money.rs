//! Exact money: integer minor units with an ISO 4217 currency.
//!
//! Amounts never pass through floating point. Parsing accepts the decimal
//! notations found in French and English exports (`1 250,00`, `1.250,00`,
//! `1,250.00`, `1250.00`, `-12,50`, `(12.50)`), and formatting always gives a
//! plain decimal string with the currency's number of minor digits (`1250.00`),
//! which is what the API and CLI print.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Active ISO 4217 codes and their minor-unit exponent.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// Withdrawn codes still found in old statements, and XXX ("no currency").
const LEGACY: &[(&str, u8)] = &[
    ("ATS", 2),
    ("BEF", 0),
    ("DEM", 2),
    ("ESP", 0),
    ("FIM", 2),
    ("FRF", 2),
    ("GRD", 0),
    ("IEP", 2),
    ("ITL", 0),
    ("LUF", 0),
    ("NLG", 2),
    ("PTE", 0),
    ("XXX", 2),
];

/// A code's three bytes as one integer, ordered as the code is: the table
/// is searched by integer compares rather than a string compare (a call to
/// `memcmp`) per step, on the hot path of every amount a parser reads.
const fn key(code: &[u8]) -> u32 {
    if code.len() != 3 {
        return 0;
    }
    (code[0] as u32) << 16 | (code[1] as u32) << 8 | code[2] as u32
}

fn lookup(code: &[u8]) -> Option<u8> {
    let k = key(code);
    // The currencies of nearly every amount read, before the search.
    const FREQUENT: [u32; 4] = [key(b"EUR"), key(b"USD"), key(b"GBP"), key(b"CHF")];
    if FREQUENT.contains(&k) {
        return Some(2);
    }
    if k == 0 {
        return None;
    }
    CURRENCIES
        .binary_search_by_key(&k, |(c, _)| key(c.as_bytes()))
        .map(|i| CURRENCIES[i].1)
        .ok()
        .or_else(|| LEGACY.iter().find(|(c, _)| key(c.as_bytes()) == k).map(|(_, e)| *e))
}

/// An ISO 4217 currency code known to Relance (active codes, plus the
/// withdrawn European ones and XXX that old statements still carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const EUR: Currency = Currency(*b"EUR");

    /// Looks a code up (case-insensitive, surrounding spaces ignored).
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let code = code.trim();
        match *code.as_bytes() {
            [a, b, c] => {
                let upper = [a.to_ascii_uppercase(), b.to_ascii_uppercase(), c.to_ascii_uppercase()];
                if lookup(&upper).is_some() {
                    return Ok(Currency(upper));
                }
                Err(MoneyError::UnknownCurrency(code.to_string()))
            }
            _ => Err(MoneyError::UnknownCurrency(code.to_string())),
        }
    }

    pub fn code(&self) -> &str {
        // The bytes always come from the ASCII table above.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Number of minor-unit digits (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u8 {
        lookup(&self.0).unwrap_or(2)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Errors from parsing amounts and currencies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency code `{0}` (expected an ISO 4217 code such as EUR)")]
    UnknownCurrency(String),
    #[error("`{0}` is not an amount")]
    NotAnAmount(String),
    #[error("`{text}` has more than {exponent} decimals")]
    TooPrecise { text: String, exponent: u8 },
    #[error("`{0}` is too large")]
    Overflow(String),
    #[error("cannot combine {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    /// Outside the accepted range (see [`Money::check_range`]).
    #[error("{amount} is outside the accepted range of ±{max} {currency} (setting `max_amount`)")]
    OutOfRange { amount: String, max: u64, currency: Currency },
}

/// Default bound on an amount read from input: ±10^12 major units (a
/// trillion euros). Far above any real invoice or payment, far enough below
/// `i64::MAX` minor units that sums of many amounts stay exact.
pub const DEFAULT_MAX_AMOUNT: u64 = 1_000_000_000_000;

/// Largest `max_amount` a setting may give: 10^14 major units is still below
/// `i64::MAX` in minor units for every currency (at most 4 minor digits).
pub const MAX_AMOUNT_LIMIT: u64 = 100_000_000_000_000;

/// Validates a `max_amount` setting (major units): `1..=`[`MAX_AMOUNT_LIMIT`].
pub fn check_max_amount(max_amount: u64) -> Result<u64, String> {
    if (1..=MAX_AMOUNT_LIMIT).contains(&max_amount) {
        Ok(max_amount)
    } else {
        Err(format!("expected 1..={MAX_AMOUNT_LIMIT} (major units)"))
    }
}

/// Which character separates the decimals in a text amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecimalStyle {
    /// Decide per value: the last of `.`/`,` is the decimal mark when both appear;
    /// a lone mark followed by exactly three digits is a thousands separator
    /// unless the currency has three minor digits.
    #[default]
    Auto,
    /// `1 250,00` / `1.250,00`.
    Comma,
    /// `1,250.00` / `1 250.00`.
    Dot,
}

/// An exact amount of money in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        self.minor
            .checked_add(other.minor)
            .map(|minor| Money::new(minor, self.currency))
            .ok_or_else(|| MoneyError::Overflow(format!("{self} + {other}")))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        self.minor
            .checked_sub(other.minor)
            .map(|minor| Money::new(minor, self.currency))
            .ok_or_else(|| MoneyError::Overflow(format!("{self} - {other}")))
    }

    /// The sum of `items`, all in `currency`; an overflow or another currency is an error, never a wrap.
    pub fn checked_sum(currency: Currency, items: impl IntoIterator<Item = Money>) -> Result<Money, MoneyError> {
        items.into_iter().try_fold(Money::zero(currency), Money::checked_add)
    }

    /// The amount itself when its absolute value is at most `max_major` major
    /// units (e.g. [`DEFAULT_MAX_AMOUNT`]), else [`MoneyError::OutOfRange`].
    /// Inputs are checked with it so that no stored amount comes near the
    /// limits of `i64`.
    pub fn check_range(self, max_major: u64) -> Result<Money, MoneyError> {
        let limit = i128::from(max_major) * 10i128.pow(u32::from(self.currency.exponent()));
        if i128::from(self.minor).abs() > limit {
            return Err(MoneyError::OutOfRange { amount: self.to_string(), max: max_major, currency: self.currency });
        }
        Ok(self)
    }

    /// Parses a text amount in the given currency.
    pub fn parse(text: &str, currency: Currency, style: DecimalStyle) -> Result<Money, MoneyError> {
        parse_minor(text, currency.exponent(), style).map(|minor| Money::new(minor, currency))
    }

    /// Parses the canonical decimal form that [`Money::to_decimal_string`]
    /// writes: an optional `-`, digits, then optionally `.` and at most the
    /// currency's number of minor digits (`-1250.50`, `1250.5`, `1250`).
    /// Nothing else is accepted: no spaces, separators, `+`, symbols or
    /// exponents (this reads stored data, not what people type: see
    /// [`Money::parse`] for that).
    pub fn parse_canonical(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let err = || MoneyError::NotAnAmount(text.to_string());
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = match body.split_once('.') {
            Some((_, "")) => return Err(err()),
            Some((int, frac)) => (int, frac),
            None => (body, ""),
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) {
            return Err(err());
        }
        let exponent = usize::from(currency.exponent());
        if frac.len() > exponent {
            return Err(MoneyError::TooPrecise { text: text.to_string(), exponent: currency.exponent() });
        }
        // Accumulated as a negative number, so that i64::MIN itself is read.
        let padding = std::iter::repeat_n(b'0', exponent - frac.len());
        let mut minor: i64 = 0;
        for b in int.bytes().chain(frac.bytes()).chain(padding) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_sub(i64::from(b - b'0')))
                .ok_or_else(|| MoneyError::Overflow(text.to_string()))?;
        }
        if !negative {
            minor = minor.checked_neg().ok_or_else(|| MoneyError::Overflow(text.to_string()))?;
        }
        Ok(Money::new(minor, currency))
    }

    /// The amount as a plain decimal string (`-1250.50`), without currency.
    pub fn to_decimal_string(&self) -> String {
        format_minor(self.minor, self.currency.exponent())
    }
}

/// Serialized as `{"amount": "1250.00", "currency": "EUR"}`: a decimal string, never a float.
/// [`Deserialize`] reads the same shape back (see [`Money::parse_canonical`]).
impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Money", 2)?;
        st.serialize_field("amount", &self.to_decimal_string())?;
        st.serialize_field("currency", self.currency.code())?;
        st.end()
    }
}

/// Reads `{"amount": "1250.00", "currency": "EUR"}`, what [`Serialize`]
/// writes: the amount is a string in the canonical form of
/// [`Money::parse_canonical`] (a JSON number, another field or a malformed
/// amount is an error, never a rounding).
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            amount: String,
            currency: Currency,
        }
        let w = Wire::deserialize(d)?;
        Money::parse_canonical(&w.amount, w.currency).map_err(serde::de::Error::custom)
    }
}

/// The OpenAPI schema of what [`Serialize`] writes: an object with the
/// amount as a decimal string and the ISO 4217 currency code (written by
/// hand, since both serde impls are).
impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .description(Some("An exact amount: a decimal string (never a float) and its currency."))
            .property(
                "amount",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^-?[0-9]+(\.[0-9]+)?$"))
                    .examples([serde_json::json!("1250.00")]),
            )
            .required("amount")
            .property(
                "currency",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[A-Z]{3}$"))
                    .examples([serde_json::json!("EUR")]),
            )
            .required("currency")
            .into()
    }
}

impl utoipa::ToSchema for Money {}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

/// Formats minor units with `exponent` decimals: `format_minor(-125050, 2) == "-1250.50"`.
pub fn format_minor(minor: i64, exponent: u8) -> String {
    let neg = minor < 0;
    let abs = minor.unsigned_abs();
    if exponent == 0 {
        return format!("{}{}", if neg { "-" } else { "" }, abs);
    }
    let scale = 10u64.pow(u32::from(exponent));
    format!("{}{}.{:0width$}", if neg { "-" } else { "" }, abs / scale, abs % scale, width = usize::from(exponent))
}

/// Parses a decimal text into minor units with the given exponent.
///
/// Spaces (including no-break and narrow no-break spaces) and apostrophes are
/// thousands separators; a leading or trailing `-`, or parentheses, make the
/// amount negative; a currency symbol or code around the number is ignored.
pub fn parse_minor(text: &str, exponent: u8, style: DecimalStyle) -> Result<i64, MoneyError> {
    let err = || MoneyError::NotAnAmount(text.to_string());
    let mut s = text.trim();
    let mut negative = false;
    if s.starts_with('(') && s.ends_with(')') && s.len() >= 2 {
        negative = true;
        s = s[1..s.len() - 1].trim();
    }
    // Strip currency symbols and codes around the number.
    let s = s
        .trim_matches(|c: char| c == '€' || c == '$' || c == '£' || c.is_whitespace())
        .trim_start_matches("EUR")
        .trim_end_matches("EUR")
        .trim();
    let mut s = s.to_string();
    if let Some(rest) = s.strip_prefix('-') {
        negative = !negative;
        s = rest.trim_start().to_string();
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest.trim_start().to_string();
    } else if let Some(rest) = s.strip_suffix('-') {
        negative = !negative;
        s = rest.trim_end().to_string();
    }
    // Drop thousands separators that can never be decimal marks.
    let cleaned: String = s.chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\'' | '’')).collect();
    if cleaned.is_empty() || !cleaned.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',') {
        return Err(err());
    }
    let decimal_mark = decimal_mark(&cleaned, exponent, style).ok_or_else(err)?;
    let (int_part, frac_part) = match decimal_mark {
        Some(mark) => {
            let pos = cleaned.rfind(mark).ok_or_else(err)?;
            (&cleaned[..pos], &cleaned[pos + 1..])
        }
        None => (cleaned.as_str(), ""),
    };
    let int_digits: String = int_part.chars().filter(|c| c.is_ascii_digit()).collect();
    // Thousands groups must really be groups of three.
    if let Some(mark) = decimal_mark
        && int_part.contains(mark)
    {
        return Err(err());
    }
    check_groups(int_part).ok_or_else(err)?;
    if !frac_part.chars().all(|c| c.is_ascii_digit()) {
        return Err(err());
    }
    if int_digits.is_empty() && frac_part.is_empty() {
        return Err(err());
    }
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > usize::from(exponent) {
        return Err(MoneyError::TooPrecise { text: text.to_string(), exponent });
    }
    let overflow = || MoneyError::Overflow(text.to_string());
    let mut value: i64 = 0;
    for c in int_digits.chars() {
        value = value.checked_mul(10).and_then(|v| v.checked_add(i64::from(c as u8 - b'0'))).ok_or_else(overflow)?;
    }
    for i in 0..usize::from(exponent) {
        let digit = frac_trimmed.as_bytes().get(i).map_or(0, |b| b - b'0');
        value = value.checked_mul(10).and_then(|v| v.checked_add(i64::from(digit))).ok_or_else(overflow)?;
    }
    Ok(if negative { -value } else { value })
}

/// Decides which character is the decimal mark: `Some(Some(c))`, none
/// (`Some(None)`), or `None` when the text is inconsistent.
fn decimal_mark(s: &str, exponent: u8, style: DecimalStyle) -> Option<Option<char>> {
    let has_dot = s.contains('.');
    let has_comma = s.contains(',');
    match style {
        DecimalStyle::Comma => {
            if has_comma {
                Some(Some(','))
            } else {
                Some(None)
            }
        }
        DecimalStyle::Dot => {
            if has_dot {
                Some(Some('.'))
            } else {
                Some(None)
            }
        }
        DecimalStyle::Auto => match (has_dot, has_comma) {
            (false, false) => Some(None),
            (true, true) => {
                let last_dot = s.rfind('.')?;
                let last_comma = s.rfind(',')?;
                Some(Some(if last_dot > last_comma { '.' } else { ',' }))
            }
            (true, false) | (false, true) => {
                let mark = if has_dot { '.' } else { ',' };
                let count = s.matches(mark).count();
                if count > 1 {
                    // `1.250.000` : only thousands separators.
                    return Some(None);
                }
                let pos = s.rfind(mark)?;
                let after = s.len() - pos - 1;
                if after == 3 && exponent != 3 && pos > 0 { Some(None) } else { Some(Some(mark)) }
            }
        },
    }
}

/// Checks that thousands separators inside the integer part split it in
/// groups of three digits. Returns `None` when they do not.
fn check_groups(int_part: &str) -> Option<()> {
    let groups: Vec<&str> = int_part.split(['.', ',']).collect();
    if groups.len() == 1 {
        return Some(());
    }
    let first = groups.first()?;
    if first.is_empty() || first.len() > 3 {
        return None;
    }
    if groups[1..].iter().all(|g| g.len() == 3) { Some(()) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(text: &str) -> Result<i64, MoneyError> {
        parse_minor(text, 2, DecimalStyle::Auto)
    }

    #[test]
    fn currency_table_is_sorted_and_valid() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(Currency::parse("eur").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert!(matches!(Currency::parse("EUX"), Err(MoneyError::UnknownCurrency(_))));
        assert!(matches!(Currency::parse("EURO"), Err(MoneyError::UnknownCurrency(_))));
        assert!(matches!(Currency::parse("€"), Err(MoneyError::UnknownCurrency(_))));
        assert_eq!(Currency::parse(" gbp ").unwrap().code(), "GBP");
        // Every code is found by the search, and the frequent ones' shortcut
        // says what the table says.
        for (code, exponent) in CURRENCIES.iter().chain(LEGACY) {
            assert_eq!(Currency::parse(code).map(|c| c.exponent()), Ok(*exponent), "{code}");
        }
        for code in ["EUR", "USD", "GBP", "CHF"] {
            let listed = CURRENCIES.iter().find(|(c, _)| *c == code).map(|(_, e)| *e);
            assert_eq!(listed, lookup(code.as_bytes()), "{code}");
        }
    }

    #[test]
    fn parses_french_and_english_notations() {
        assert_eq!(eur("1 250,00"), Ok(125_000));
        assert_eq!(eur("1\u{a0}250,00"), Ok(125_000));
        assert_eq!(eur("1\u{202f}250,5"), Ok(125_050));
        assert_eq!(eur("1.250,00"), Ok(125_000));
        assert_eq!(eur("1,250.00"), Ok(125_000));
        assert_eq!(eur("1250.00"), Ok(125_000));
        assert_eq!(eur("1250,00"), Ok(125_000));
        assert_eq!(eur("1250"), Ok(125_000));
        assert_eq!(eur("1,250"), Ok(125_000));
        assert_eq!(eur("0,5"), Ok(50));
        assert_eq!(eur("-12,50"), Ok(-1250));
        assert_eq!(eur("12,50-"), Ok(-1250));
        assert_eq!(eur("(12.50)"), Ok(-1250));
        assert_eq!(eur("1 234 567,89 €"), Ok(123_456_789));
        assert_eq!(eur("1.234.567"), Ok(123_456_700));
        assert_eq!(eur("12.300"), Ok(1_230_000));
        assert_eq!(eur(".50"), Ok(50));
    }

    #[test]
    fn explicit_styles_override_the_guess() {
        assert_eq!(parse_minor("1,250", 2, DecimalStyle::Comma), Ok(125));
        assert_eq!(parse_minor("1,25", 2, DecimalStyle::Comma), Ok(125));
        assert_eq!(parse_minor("1.250,5", 2, DecimalStyle::Comma), Ok(125_050));
        assert_eq!(parse_minor("1,250.5", 2, DecimalStyle::Dot), Ok(125_050));
    }

    #[test]
    fn rejects_garbage_and_excess_precision() {
        for bad in ["", "abc", "12,3,4.5", "1.2.3,4.5", "--5", "1 2x", "1,25,0.00", "12.345.6"] {
            assert!(eur(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(eur("1.255"), Ok(125_500)));
        assert!(matches!(eur("1.2555"), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(parse_minor("10.5", 0, DecimalStyle::Auto), Err(MoneyError::TooPrecise { .. })));
        assert_eq!(parse_minor("1.250", 3, DecimalStyle::Auto), Ok(1250));
        assert!(matches!(eur("99999999999999999999"), Err(MoneyError::Overflow(_))));
    }

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(format_minor(125_050, 2), "1250.50");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(1500, 0), "1500");
        assert_eq!(format_minor(1, 3), "0.001");
        let m = Money::parse("1 250,5", Currency::EUR, DecimalStyle::Auto).unwrap();
        assert_eq!(m.to_string(), "1250.50 EUR");
    }

    #[test]
    fn arithmetic_is_checked_and_never_wraps() {
        let gbp = Currency::parse("GBP").unwrap();
        // 92233720368547758.07 GBP is exactly i64::MAX minor units.
        let huge = Money::parse("92233720368547758.07", gbp, DecimalStyle::Dot).unwrap();
        assert_eq!(huge.minor, i64::MAX);
        assert!(matches!(huge.checked_add(huge), Err(MoneyError::Overflow(_))));
        assert!(matches!(Money::checked_sum(gbp, [huge, Money::new(1, gbp)]), Err(MoneyError::Overflow(_))));
        assert_eq!(Money::checked_sum(gbp, [Money::new(2, gbp), Money::new(3, gbp)]), Ok(Money::new(5, gbp)));
        let min = Money::new(i64::MIN, gbp);
        assert!(matches!(Money::zero(gbp).checked_sub(min), Err(MoneyError::Overflow(_))));
        assert!(matches!(min.checked_sub(Money::new(1, gbp)), Err(MoneyError::Overflow(_))));
    }

    #[test]
    fn amounts_are_checked_against_a_range_in_major_units() {
        let gbp = Currency::parse("GBP").unwrap();
        let huge = Money::parse("92233720368547758.07", gbp, DecimalStyle::Dot).unwrap();
        let err = huge.check_range(DEFAULT_MAX_AMOUNT).unwrap_err();
        assert_eq!(
            err.to_string(),
            "92233720368547758.07 GBP is outside the accepted range of ±1000000000000 GBP (setting `max_amount`)"
        );
        let edge = Money::new(100_000_000_000_000, gbp); // 10^12 GBP exactly
        assert_eq!(edge.check_range(DEFAULT_MAX_AMOUNT), Ok(edge));
        assert!(Money::new(-100_000_000_000_001, gbp).check_range(DEFAULT_MAX_AMOUNT).is_err());
        assert!(Money::new(i64::MIN, gbp).check_range(MAX_AMOUNT_LIMIT).is_err());
        let jpy = Currency::parse("JPY").unwrap();
        assert!(Money::new(1_000_001, jpy).check_range(1_000_000).is_err());
        assert!(Money::new(1_000_000, jpy).check_range(1_000_000).is_ok());
        // The largest setting still bounds every currency below i64::MAX.
        let clf = Currency::parse("CLF").unwrap();
        assert!(i128::from(MAX_AMOUNT_LIMIT) * 10i128.pow(u32::from(clf.exponent())) < i128::from(i64::MAX));
    }

    #[test]
    fn canonical_amounts_read_back_exactly() {
        let eur = Currency::EUR;
        let jpy = Currency::parse("JPY").unwrap();
        let kwd = Currency::parse("KWD").unwrap();
        for m in [
            Money::new(125_050, eur),
            Money::new(-5, eur),
            Money::new(0, eur),
            Money::new(i64::MAX, eur),
            Money::new(i64::MIN, eur),
            Money::new(1500, jpy),
            Money::new(-1, kwd),
        ] {
            assert_eq!(Money::parse_canonical(&m.to_decimal_string(), m.currency), Ok(m), "{m}");
        }
        assert_eq!(Money::parse_canonical("12.5", eur), Ok(Money::new(1250, eur)));
        assert_eq!(Money::parse_canonical("12", eur), Ok(Money::new(1200, eur)));
        for bad in ["", "-", "12.", ".5", "1 250.00", "1,250.00", "+12.00", "12.00 EUR", "1e3", "12.0.0", "--1", "٣"] {
            assert!(matches!(Money::parse_canonical(bad, eur), Err(MoneyError::NotAnAmount(_))), "{bad:?}");
        }
        assert!(matches!(Money::parse_canonical("12.345", eur), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(Money::parse_canonical("10.5", jpy), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(Money::parse_canonical("92233720368547758.08", eur), Err(MoneyError::Overflow(_))));
        assert!(matches!(Money::parse_canonical("-92233720368547758.09", eur), Err(MoneyError::Overflow(_))));
    }

    #[test]
    fn money_deserializes_what_it_serializes_and_nothing_else() {
        let m = Money::new(125_000, Currency::EUR);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"1250.00","currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        let kwd: Money = serde_json::from_str(r#"{"amount":"-0.001","currency":"kwd"}"#).unwrap();
        assert_eq!((kwd.minor, kwd.currency.code()), (-1, "KWD"));
        for bad in [
            r#"{"amount":1250.0,"currency":"EUR"}"#,
            r#"{"amount":"1250.001","currency":"EUR"}"#,
            r#"{"amount":"1 250,00","currency":"EUR"}"#,
            r#"{"amount":"1250.00","currency":"EUX"}"#,
            r#"{"amount":"1250.00"}"#,
            r#"{"amount":"1250.00","currency":"EUR","rate":1}"#,
            r#""1250.00 EUR""#,
        ] {
            assert!(serde_json::from_str::<Money>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arithmetic_refuses_mixed_currencies() {
        let a = Money::new(100, Currency::EUR);
        let b = Money::new(100, Currency::parse("USD").unwrap());
        assert!(a.checked_add(b).is_err());
        assert_eq!(a.checked_sub(a).unwrap(), Money::zero(Currency::EUR));
    }

    #[test]
    fn the_schema_names_what_serialize_writes() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(Money::schema()).unwrap();
        let mut declared: Vec<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        declared.sort_unstable();
        let written = serde_json::to_value(Money::new(125_000, Currency::parse("EUR").unwrap())).unwrap();
        let mut keys: Vec<&str> = written.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(declared, keys);
        assert_eq!(schema["required"], serde_json::json!(["amount", "currency"]));
        assert!(written["amount"].is_string());
    }
}
