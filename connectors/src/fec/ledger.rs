//! Pure building of open items from the customer lines of a FEC.
//!
//! - A *customer line* is on an account starting with one of the customer
//!   prefixes (`411` by default); its customer is the auxiliary account
//!   (`CompAuxNum`) when set, else the account (`CompteNum`).
//! - Lettering counts when `EcritureLet` is set and its `DateLet` is not
//!   after the export's as-of date (the closing date of the file's name):
//!   lettering done later is ignored, as the file describes the books at
//!   that date. A lettering group is the lines of one customer with one
//!   code. A group that balances settles all its lines. One that does not
//!   (*partial lettering*) leaves the difference open on its lines of the
//!   difference's side, the newest ones (payments settle the oldest first).
//!   Amounts of a group are compared in the foreign currency when every
//!   line of it has the same `Idevise`, else in the book currency; a group
//!   that mixes currencies and does not balance cannot be split exactly: it
//!   is an [`Issue`].
//! - Lines of sales (and opening) journals make the open items: grouped by
//!   customer and invoice number (`PieceRef`, else `<JournalCode>-<EcritureNum>`).
//!   Opening entries whose piece is shared by several customers make one
//!   item per customer, `<PieceRef>/<customer>`. A positive total is an invoice, a negative one a credit note (negative
//!   open amount); the open amount is the sum of the lines' open parts. The
//!   issue date is the earliest `PieceDate` (else `EcritureDate`); the due
//!   date the earliest due date of the lines (extra column), else the issue
//!   date plus the customer's terms.
//! - Customer lines of other journals (bank, OD…) only settle through
//!   lettering; what stays open of them is reported: credits as unapplied
//!   payments, debits as unattributed debits. Neither is an invoice.
//!
//! Every sum is checked: an overflow is an [`Issue`], never a wrong amount.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;

use relance_domain::money::{Currency, Money};

use super::parse::FecLine;

/// Which journals and accounts mean what.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Account prefixes of customers (`411`).
    pub customer_prefixes: Vec<String>,
    /// Sales journal codes (upper case); `None`: every code starting with `V`.
    pub sales_journals: Option<Vec<String>>,
    /// Opening-balance journal codes (upper case), read like sales journals.
    pub opening_journals: Vec<String>,
    pub book_currency: Currency,
    pub default_terms_days: u32,
    /// Payment terms by customer id, in days.
    pub terms_days: BTreeMap<String, u32>,
    /// Lettering dated after this is ignored.
    pub as_of: Option<NaiveDate>,
}

impl Rules {
    /// Whether `account` is a customer account.
    pub fn is_customer(&self, account: &str) -> bool {
        self.customer_prefixes.iter().any(|p| account.starts_with(p.as_str()))
    }

    /// Whether lines of `journal` make open items.
    pub fn makes_items(&self, journal: &str) -> bool {
        let j = journal.to_ascii_uppercase();
        if self.opening_journals.contains(&j) {
            return true;
        }
        match &self.sales_journals {
            Some(list) => list.contains(&j),
            None => j.starts_with('V'),
        }
    }

    /// Whether `journal` is an opening-balance journal.
    pub fn is_opening(&self, journal: &str) -> bool {
        self.opening_journals.contains(&journal.to_ascii_uppercase())
    }

    fn terms(&self, customer: &str) -> u32 {
        self.terms_days.get(customer).copied().unwrap_or(self.default_terms_days)
    }
}

/// The customer of a customer line.
pub fn customer_of(account: &str, aux: Option<&str>) -> String {
    aux.unwrap_or(account).to_string()
}

/// The invoice number of a line of a sales journal.
pub fn number_of(journal: &str, entry: &str, piece_ref: Option<&str>) -> String {
    piece_ref.map_or_else(|| format!("{journal}-{entry}"), str::to_string)
}

/// The number of a customer's item of an opening entry whose piece is shared by several customers.
pub fn opening_number(piece: &str, customer: &str) -> String {
    format!("{piece}/{customer}")
}

/// An invoice or credit note as the FEC leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenItem {
    pub number: String,
    pub customer_id: String,
    pub customer_name: String,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    /// Negative for a credit note.
    pub total: Money,
    /// What is still owed (0 when settled); negative for a credit note not used up.
    pub open: Money,
    /// Line numbers it comes from.
    pub lines: Vec<u64>,
}

/// An open customer line of a journal other than sales.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Residual {
    pub customer_id: String,
    pub journal: String,
    pub entry: String,
    pub date: NaiveDate,
    /// Positive for a debit, negative for a credit (an unapplied payment).
    pub open: Money,
    pub line: u64,
}

/// Items that cannot be built exactly; their lines are quarantined and
/// their numbers kept open as they were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub lines: Vec<u64>,
    pub numbers: Vec<String>,
    pub reason: String,
    /// Held only because another line (quarantined on its own) could not be read.
    pub follows_unreadable: bool,
}

/// What the customer lines of a FEC make.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// By number.
    pub items: Vec<OpenItem>,
    /// Unlettered credits of other journals: payments not applied to an invoice.
    pub unapplied: Vec<Residual>,
    /// Unlettered debits of other journals.
    pub unattributed: Vec<Residual>,
    pub issues: Vec<Issue>,
}

/// Lines left out because a line of theirs could not be read.
#[derive(Debug, Clone, Default)]
pub struct Tainted {
    /// (customer, invoice number).
    pub items: HashSet<(String, String)>,
    /// (customer, lettering code).
    pub letterings: HashSet<(String, String)>,
}

/// A line's amount in the unit its lettering group is compared in.
fn own(line: &FecLine, book: Currency) -> Money {
    line.foreign.unwrap_or(Money::new(line.amount, book))
}

/// Builds the open items from customer lines.
pub fn build(lines: &[&FecLine], rules: &Rules, tainted: &Tainted) -> Ledger {
    let book = rules.book_currency;
    let mut ledger = Ledger::default();
    // Open part of each line (by index in `lines`), in the line's own currency.
    let mut open: Vec<Money> = lines.iter().map(|l| own(l, book)).collect();
    // Letterings that cannot be settled: (customer, code) → reason.
    let mut bad_letterings: HashMap<(String, String), (String, bool)> = tainted
        .letterings
        .iter()
        .map(|k| (k.clone(), (format!("lettering {} of customer {} has an unreadable line", k.1, k.0), true)))
        .collect();

    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(code) = &l.lettering else { continue };
        if rules.as_of.is_some_and(|as_of| l.letter_date.is_some_and(|d| d > as_of)) {
            continue;
        }
        groups.entry((customer_of(&l.account, l.aux.as_deref()), code.clone())).or_default().push(i);
    }
    for (key, members) in &groups {
        if bad_letterings.contains_key(key) {
            continue;
        }
        match settle(lines, members, book) {
            Ok(opens) => {
                for (i, o) in members.iter().zip(opens) {
                    open[*i] = o;
                }
            }
            Err(reason) => {
                let reason = format!("lettering {} of customer {}: {reason}", key.1, key.0);
                bad_letterings.insert(key.clone(), (reason, false));
            }
        }
    }
    let lettering_problem = |l: &FecLine| -> Option<&(String, bool)> {
        let code = l.lettering.as_ref()?;
        bad_letterings.get(&(customer_of(&l.account, l.aux.as_deref()), code.clone()))
    };

    // Items of sales and opening journals.
    let mut pieces: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        let customer = customer_of(&l.account, l.aux.as_deref());
        if rules.makes_items(&l.journal) {
            pieces.entry((customer, number_of(&l.journal, &l.entry, l.piece_ref.as_deref()))).or_default().push(i);
        } else if let Some((reason, follows_unreadable)) = lettering_problem(l) {
            let (reason, follows_unreadable) = (reason.clone(), *follows_unreadable);
            ledger.issues.push(Issue { lines: vec![l.line], numbers: vec![], reason, follows_unreadable });
        } else if open[i].minor != 0 {
            let r = Residual {
                customer_id: customer,
                journal: l.journal.clone(),
                entry: l.entry.clone(),
                date: l.entry_date,
                open: open[i],
                line: l.line,
            };
            if r.open.minor < 0 { ledger.unapplied.push(r) } else { ledger.unattributed.push(r) }
        }
    }
    let mut customers_by_number: HashMap<&str, Vec<&str>> = HashMap::new();
    for (customer, number) in pieces.keys() {
        customers_by_number.entry(number).or_default().push(customer);
    }
    for ((customer, piece), members) in &pieces {
        let owners = customers_by_number.get(piece.as_str()).map_or(1, Vec::len);
        // Opening entries often share one piece for every customer's balance: one item each.
        let opening = members.iter().all(|i| rules.is_opening(&lines[*i].journal));
        let number = if owners > 1 && opening { opening_number(piece, customer) } else { piece.clone() };
        let line_numbers: Vec<u64> = members.iter().map(|i| lines[*i].line).collect();
        let issue = |reason: String, follows_unreadable: bool| Issue {
            lines: line_numbers.clone(),
            numbers: vec![number.clone()],
            reason,
            follows_unreadable,
        };
        if tainted.items.contains(&(customer.clone(), piece.clone())) {
            ledger.issues.push(issue(format!("invoice {number} of customer {customer} has an unreadable line"), true));
            continue;
        }
        if let Some((reason, follows_unreadable)) = members.iter().find_map(|i| lettering_problem(lines[*i])) {
            ledger.issues.push(issue(reason.clone(), *follows_unreadable));
            continue;
        }
        if owners > 1 && !opening {
            ledger.issues.push(issue(format!("invoice number {number} is used for {owners} customers"), false));
            continue;
        }
        if number.chars().count() > 64 {
            ledger.issues.push(issue(format!("invoice number {number} is longer than 64 characters"), false));
            continue;
        }
        match item(lines, members, &open, rules, customer, &number) {
            Ok(Some(it)) => ledger.items.push(it),
            Ok(None) => {}
            Err(reason) => ledger.issues.push(issue(reason, false)),
        }
    }
    ledger.items.sort_by(|a, b| a.number.cmp(&b.number));
    ledger
}

/// The open part of each line of a lettering group.
fn settle(lines: &[&FecLine], members: &[usize], book: Currency) -> Result<Vec<Money>, String> {
    let first = lines[members[0]].foreign.map(|m| m.currency);
    let same = members.iter().all(|i| lines[*i].foreign.map(|m| m.currency) == first);
    let amounts: Vec<Money> = if same {
        members.iter().map(|i| own(lines[*i], book)).collect()
    } else {
        members.iter().map(|i| Money::new(lines[*i].amount, book)).collect()
    };
    let unit = amounts[0].currency;
    let residual = amounts
        .iter()
        .try_fold(0i64, |acc, m| acc.checked_add(m.minor))
        .ok_or_else(|| "amounts out of range".to_string())?;
    let mut opens: Vec<Money> = members.iter().map(|i| Money::new(0, own(lines[*i], book).currency)).collect();
    if residual == 0 {
        return Ok(opens);
    }
    if !same {
        return Err("partially lettered across currencies: the open part cannot be told exactly".to_string());
    }
    // The residual stays on its side's newest lines.
    let mut side: Vec<usize> = (0..members.len()).filter(|k| amounts[*k].minor.signum() == residual.signum()).collect();
    side.sort_by_key(|k| (lines[members[*k]].entry_date, lines[members[*k]].line));
    let mut left = residual.unsigned_abs();
    for k in side.into_iter().rev() {
        if left == 0 {
            break;
        }
        let take = amounts[k].minor.unsigned_abs().min(left);
        left -= take;
        let take = i64::try_from(take).map_err(|_| "amounts out of range".to_string())?;
        opens[k] = Money::new(take * residual.signum(), unit);
    }
    Ok(opens)
}

/// One open item from its lines; `None` when its lines cancel out.
fn item(
    lines: &[&FecLine],
    members: &[usize],
    open: &[Money],
    rules: &Rules,
    customer: &str,
    number: &str,
) -> Result<Option<OpenItem>, String> {
    let currency = own(lines[members[0]], rules.book_currency).currency;
    if members.iter().any(|i| own(lines[*i], rules.book_currency).currency != currency) {
        return Err(format!("invoice {number} has lines in several currencies"));
    }
    let overflow = || format!("invoice {number}: amounts out of range");
    let mut total = 0i64;
    let mut left = 0i64;
    for i in members {
        total = total.checked_add(own(lines[*i], rules.book_currency).minor).ok_or_else(overflow)?;
        left = left.checked_add(open[*i].minor).ok_or_else(overflow)?;
    }
    if total == 0 {
        return Ok(None);
    }
    let within = if total > 0 { (0..=total).contains(&left) } else { (total..=0).contains(&left) };
    if !within {
        return Err(format!(
            "invoice {number}: open amount {} is outside 0..{} (the invoice total)",
            Money::new(left, currency).to_decimal_string(),
            Money::new(total, currency).to_decimal_string()
        ));
    }
    let first = lines[members[0]];
    let issue_date =
        members.iter().map(|i| lines[*i].piece_date.unwrap_or(lines[*i].entry_date)).min().unwrap_or(first.entry_date);
    let due_date = match members.iter().filter_map(|i| lines[*i].due_date).min() {
        Some(d) => d,
        None => issue_date
            .checked_add_days(chrono::Days::new(u64::from(rules.terms(customer))))
            .ok_or_else(|| format!("invoice {number}: due date out of range"))?,
    };
    let customer_name = members
        .iter()
        .map(|i| lines[*i])
        .map(|l| if l.aux.is_some() { &l.aux_label } else { &l.account_label })
        .find(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| customer.to_string());
    Ok(Some(OpenItem {
        number: number.to_string(),
        customer_id: customer.to_string(),
        customer_name,
        issue_date,
        due_date,
        total: Money::new(total, currency),
        open: Money::new(left, currency),
        lines: members.iter().map(|i| lines[*i].line).collect(),
    }))
}
