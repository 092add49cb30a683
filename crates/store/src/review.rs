//! Payments as a person looks for them in the cash review: by status, and by
//! what they remember of a payment (the payer's name or account, words of the
//! remittance, a reference, an invoice number among the candidates or the
//! allocations, an amount), searched in SQL over the whole list, newest or
//! oldest first, with keyset pagination.
//!
//! Every word of the search must be found (in any of those places). A word
//! that reads as an amount in a currency of the tenant's payments (with that
//! currency's minor digits, `1 250,00` or `1,250.00` alike) also finds the
//! payments of exactly that amount. Letters are compared ASCII-case-insensitively
//! (SQLite's `lower`).
//!
//! The queue (oldest first) lists first the credits that hold reminders
//! (see `credit_holds`), each with the reasons of its holds.

use super::db::{Value, args};
use super::payments::{PAYMENT_COLUMNS, payment_of};
use super::{Page, Store, StoreError, StoredPayment, Window, cut_page};
use relance_domain::money::{Currency, DecimalStyle, parse_minor};
use relance_domain::{PaymentStatus, TenantId};

/// Most words of a search that count (the rest are ignored).
pub const MAX_SEARCH_WORDS: usize = 6;

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentSearch {
    /// Any of these statuses (all when empty).
    pub statuses: Vec<PaymentStatus>,
    /// Words that must all be found; blank for no text filter.
    pub text: String,
    /// Newest first (the applied payments a person may undo) instead of oldest first (the queue).
    pub newest_first: bool,
}

impl PaymentSearch {
    fn words(&self) -> Vec<String> {
        self.text.split_whitespace().take(MAX_SEARCH_WORDS).map(str::to_lowercase).collect()
    }
}

/// The text the words are looked for in, per payment.
const HAYSTACK: &str = "lower(coalesce(counterparty_name,'')||' '||coalesce(counterparty_iban,'')||' '||
    coalesce(remittance,'')||' '||coalesce(structured_ref,'')||' '||coalesce(end_to_end_id,'')||' '||coalesce(bank_ref,''))";

/// Whether a word is found in an invoice number of a payment's match
/// candidates (parameter `?n`): SQLite reads the JSON with `json_each`,
/// PostgreSQL with `jsonb_array_elements` (the match result is JSON the
/// store wrote).
fn in_candidates(postgres: bool, n: usize) -> String {
    if postgres {
        format!(
            "EXISTS (SELECT 1 FROM JSONB_ARRAY_ELEMENTS(CAST(payments.match_result AS JSONB) -> 'candidates') cand,
               JSONB_ARRAY_ELEMENTS(cand.value -> 'allocations') al
               WHERE STRPOS(LOWER(COALESCE(al.value ->> 'invoice', '')), ?{n}) > 0)"
        )
    } else {
        format!(
            "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(payments.match_result)
               THEN payments.match_result END, '$.candidates') cand, json_each(cand.value, '$.allocations') al
               WHERE instr(lower(coalesce(json_extract(al.value, '$.invoice'), '')), ?{n}) > 0)"
        )
    }
}

impl Store {
    /// The payments of `q`, a page at a time: `page.after` is the id of the
    /// last payment of the previous page, in the list's order.
    pub fn search_payments(
        &self,
        tenant: &TenantId,
        q: &PaymentSearch,
        page: Window<i64>,
    ) -> Result<Page<StoredPayment, i64>, StoreError> {
        self.db.read_any(|db| {
            let names: Vec<&str> = q.statuses.iter().map(PaymentStatus::as_str).collect();
            let mut sql = format!("WHERE tenant_id=?1{}", super::status_filter(&names));
            let mut args: Vec<Value> = vec![Value::Text(tenant.as_str().to_string())];
            let words = q.words();
            let currencies: Vec<Currency> = if words.is_empty() {
                Vec::new()
            } else {
                let rows =
                    db.query("SELECT DISTINCT currency FROM payments WHERE tenant_id=?1", args![tenant.as_str()])?;
                let codes = rows.iter().map(|r| r.get::<String>(0)).collect::<Result<Vec<_>, _>>()?;
                codes.iter().filter_map(|code| Currency::parse(code).ok()).collect()
            };
            for word in &words {
                args.push(Value::Text(word.clone()));
                let n = args.len();
                let mut any = vec![
                    format!("instr({HAYSTACK}, ?{n}) > 0"),
                    format!(
                        "EXISTS (SELECT 1 FROM allocations a WHERE a.tenant_id=payments.tenant_id
                           AND a.payment_id=payments.id AND instr(lower(a.invoice_number), ?{n}) > 0)"
                    ),
                    in_candidates(db.is_postgres(), n),
                ];
                for ccy in &currencies {
                    if let Ok(minor) = parse_minor(word, ccy.exponent(), DecimalStyle::Auto) {
                        args.push(Value::Text(ccy.code().to_string()));
                        args.push(Value::Int(minor.abs()));
                        any.push(format!("(currency=?{} AND abs(amount_minor)=?{})", args.len() - 1, args.len()));
                    }
                }
                sql.push_str(&format!(" AND ({})", any.join(" OR ")));
            }
            let total: i64 = db.query_one(&format!("SELECT count(*) FROM payments {sql}"), &args)?.get(0)?;
            args.push(Value::Text(super::credit_holds::today_text()));
            let today = format!("?{}", args.len());
            let held = super::credit_holds::holding_sql("payments.id", &today);
            let order = if q.newest_first {
                if let Some(after) = page.after {
                    args.push(Value::Int(after));
                    sql.push_str(&format!(" AND id < ?{}", args.len()));
                }
                "id DESC".to_string()
            } else {
                // Credits holding reminders first, then by id; the cursor is the last id seen.
                if let Some(after) = page.after {
                    args.push(Value::Int(after));
                    let n = args.len();
                    let held_after = super::credit_holds::holding_sql(&format!("?{n}"), &today);
                    sql.push_str(&format!(" AND ({held} < {held_after} OR ({held} = {held_after} AND id > ?{n}))"));
                }
                format!("{held} DESC, id ASC")
            };
            args.push(Value::Int(page.probe()));
            let rows = db.query(
                &format!("SELECT {PAYMENT_COLUMNS} FROM payments {sql} ORDER BY {order} LIMIT ?{}", args.len()),
                &args,
            )?;
            let mut items = rows.iter().map(payment_of).collect::<Result<Vec<_>, _>>()?;
            let ids: Vec<i64> = items.iter().map(|p| p.id).collect();
            let mut reasons = super::credit_holds::holding_reasons(db, tenant.as_str(), &ids)?;
            for p in &mut items {
                p.holds_reminders = reasons.remove(&p.id).unwrap_or_default();
            }
            let (items, next_after) = cut_page(items, page.limit, |p: &StoredPayment| p.id);
            Ok(Page { items, total: u64::try_from(total).unwrap_or(0), limit: page.limit, offset: 0, next_after })
        })
    }
}
