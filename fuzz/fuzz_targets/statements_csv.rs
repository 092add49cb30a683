//! CSV statements (`relance_connectors::statements::csv::parse`): the
//! input's length picks the decimal style and date order (so that seed files
//! are used as they are).

#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use relance_connectors::csv_invoices::parse::DateOrder;
use relance_connectors::statements::csv::{CsvMapping, parse};
use relance_domain::money::DecimalStyle;

fuzz_target!(|data: &[u8]| {
    let options = data.len();
    let mapping = CsvMapping {
        decimal: [DecimalStyle::Auto, DecimalStyle::Comma, DecimalStyle::Dot][options % 3],
        date_order: if options & 4 == 0 { DateOrder::Dmy } else { DateOrder::Mdy },
        ..CsvMapping::default()
    };
    relance_fuzz::check_statement(&parse(data, &mapping));
});
