//! CSV invoice exports (`relance_connectors::csv_invoices::parse::parse_all`,
//! the canonical layout): the input's length picks the decimal style and
//! date order (so that seed files are used as they are).

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::csv_invoices::parse::{ColumnMap, DateOrder, ValueFormat, parse_all};
use relance_domain::money::{Currency, DecimalStyle};

fuzz_target!(|data: &[u8]| {
    let options = data.len();
    let fmt = ValueFormat {
        decimal: [DecimalStyle::Auto, DecimalStyle::Comma, DecimalStyle::Dot][options % 3],
        date_order: if options & 4 == 0 { DateOrder::Dmy } else { DateOrder::Mdy },
        default_currency: Currency::EUR,
        max_amount: relance_domain::money::DEFAULT_MAX_AMOUNT,
    };
    let _ = parse_all(data, &ColumnMap::default(), &fmt);
});
