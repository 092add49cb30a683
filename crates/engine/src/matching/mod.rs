//! Cash application: matching incoming payments to open invoices. Pure: no
//! I/O, the caller gives the open invoices and known payers and applies the
//! result.
//!
//! How a credit is matched, as a credit clerk would:
//! 1. **References** in the remittance text, structured reference and
//!    end-to-end id. Invoice numbers are indexed under normalized keys (as
//!    typed, without their letter prefix, with leading zeros dropped); the text
//!    is cut into atoms and every run of up to six consecutive atoms is looked up,
//!    so separators, case, missing prefixes, dropped zeros and several
//!    references in one text are handled in one pass over the text (a hash
//!    multi-pattern index: no scan of the invoices). ISO 11649 `RF` and
//!    Belgian `+++…+++` references are validated and looked up by payload.
//!    One typo is tolerated against the invoices of the identified payer or of
//!    the same amount.
//! 2. **Payer** by IBAN (customer data and IBANs learned from earlier
//!    payments) or by fuzzy name (legal forms and accents ignored). An IBAN
//!    of several customers is a shared payer (factor, parent, payment
//!    provider): never evidence against a customer, not by itself for one.
//! 3. **Amounts**: exact, several open items of one payer (bounded subset
//!    search; credit notes are open items with negative amounts), partial,
//!    overpayment, small shortfalls within the fee tolerance, early-payment
//!    discount.
//!
//! Every candidate carries a confidence and its reasons. **The rule**: a
//! credit is `matched` only when one explanation accounts for the whole
//! amount and no other comes close; a partial payment only when one
//! reference names one invoice, the payer confirms it and nothing else
//! explains the amount exactly; a net payment (referenced invoices less a
//! referenced credit note) when its items are all of one customer. An
//! overpayment, a reference to a closed invoice or to another currency, a
//! credit note the remittance does not name (even the only one that fits:
//! suggested, ranked first) and any rival go to review, the reason named in
//! the decision ([`Matcher::match_credit`], `decide`).
//!
//! The index is compact and built in time linear in the invoices (see
//! [`index`]): one 64-byte slot per invoice (number inline), grouped by
//! customer, oldest first; customers, IBANs and name words interned as
//! `u32`; invoice keys and amounts in bucketed hash arrays of
//! `(fingerprint, invoice)`; no allocation per invoice or per key. Payers
//! by name, in bounded time whatever the number of customers: [`names`].

mod index;
mod names;
pub mod text;

use rustc_hash::FxHashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use index::{HashIndex, HashIndexBuilder, Interner, Postings, Tagged, mix, str_hash, vec_bytes};
use names::NameIndex;
use relance_domain::money::{Currency, Money};
use relance_domain::{BankLine, InvoiceStatus, PaymentStatus};
use text::{
    DigitProfile, atoms, belgian_references, canonical, damerau1, index_keys, invoice_keys, joined, ocr_references,
    rf_references,
};

thread_local! {
    /// A key buffer per thread for verifying index hits without allocating.
    static KEYS: std::cell::RefCell<text::KeyBuf> = std::cell::RefCell::new(text::KeyBuf::default());
}

/// `span` with the century of its years dropped (`2026`→`26`, `202604`→`2604`)
/// when a year is followed by another group of the span, or at the head of
/// a run of digits that glues the counter to it (`VF2026000345` for
/// `VF26000345`: seven digits or more starting with `19` or `20`); `None`
/// when there is none. Only tried when the span as written names nothing,
/// and only an invoice key found that way counts.
fn century_dropped(span: &[String]) -> Option<Vec<String>> {
    let y = match span.iter().position(|a| text::is_year(a)) {
        Some(y) if y + 1 < span.len() => y,
        _ => span.iter().position(|a| {
            a.len() >= 7 && (a.starts_with("19") || a.starts_with("20")) && a.bytes().all(|b| b.is_ascii_digit())
        })?,
    };
    let mut out = span.to_vec();
    out[y] = out[y][2..].to_string();
    Some(out)
}

/// Widths at which banks cut the remittance they pass on: UK Faster Payments
/// references (18 characters), US banks' OFX `NAME`/`MEMO` (32).
const CUT_WIDTHS: [usize; 2] = [18, 32];

/// `key` is one of `number`'s [`index_keys`] (a hash hit verified).
fn has_index_key(number: &str, key: &str) -> bool {
    KEYS.with(|buf| match buf.try_borrow_mut() {
        Ok(mut buf) => buf.index_keys(number).iter().any(|k| k == key),
        Err(_) => index_keys(number).iter().any(|k| k == key),
    })
}

/// 64-bit hash of a normalized invoice key; hits are verified against the invoice.
fn key_hash(key: &str) -> u64 {
    str_hash(key)
}

/// 64-bit hash of an amount.
fn amount_hash(minor: i64, currency: Currency) -> u64 {
    let c = currency.code().as_bytes();
    let code = c.iter().fold(0u64, |h, b| (h << 8) | u64::from(*b));
    mix((minor as u64) ^ mix(code))
}

/// Most invoices one matcher indexes (keys are counted in `u32`, four per invoice at most).
const MAX_INVOICES: usize = 1 << 30;

/// An open invoice as the matcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInvoice {
    pub number: String,
    pub customer_id: String,
    pub issue_date: Option<NaiveDate>,
    pub due_date: NaiveDate,
    pub total: Money,
    pub open: Money,
}

/// An invoice no longer open (paid, closed, cancelled), known by number
/// only: a credit that references it raises the question (paid twice? wrong
/// reference?) instead of being matched elsewhere silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedInvoice {
    pub number: String,
    pub customer_id: String,
    pub status: InvoiceStatus,
}

/// A known customer: name and bank accounts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payer {
    pub customer_id: String,
    pub name: String,
    pub ibans: Vec<String>,
}

/// Tenant settings of the matcher.
///
/// `[matching]`: how this tenant's bank credits are matched to its open invoices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    /// Confidence from which a match is applied without a human.
    pub auto_threshold: f64,
    /// Largest shortfall accepted as bank fees, in minor units…
    pub fee_tolerance_minor: i64,
    /// …and as a share of the amount due, in basis points (100 = 1 %).
    pub fee_tolerance_bp: i64,
    /// Largest excess of a small overpayment applied without a person, in minor units…
    /// (the named invoice is paid and the rest stays on the customer's account)
    pub overpayment_tolerance_minor: i64,
    /// …and as a share of the amount due, in basis points (500 = 5 %); 0 sends every overpayment to review.
    pub overpayment_tolerance_bp: i64,
    /// Early-payment discount in basis points (200 = 2 %), 0 to disable…
    pub discount_bp: i64,
    /// …when paid within this many days of the invoice date.
    pub discount_days: i64,
    /// Subset search: at most this many open invoices of the payer…
    pub subset_max_invoices: usize,
    /// …combined by at most this many.
    pub subset_max_size: usize,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            auto_threshold: 0.9,
            fee_tolerance_minor: 1_500,
            fee_tolerance_bp: 100,
            overpayment_tolerance_minor: 5_000,
            overpayment_tolerance_bp: 500,
            discount_bp: 200,
            discount_days: 10,
            subset_max_invoices: 20,
            subset_max_size: 5,
        }
    }
}

/// The matcher's verdict on a credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchStatus {
    /// Sure enough to apply without a person.
    Matched,
    /// Candidates, none sure enough: a person decides.
    Suggested,
    /// Nothing explains it.
    Unmatched,
}

impl MatchStatus {
    /// The payment's status once the verdict is recorded (and, for
    /// `Matched`, applied).
    pub fn payment_status(self) -> PaymentStatus {
        match self {
            MatchStatus::Matched => PaymentStatus::Matched,
            MatchStatus::Suggested => PaymentStatus::Suggested,
            MatchStatus::Unmatched => PaymentStatus::Unmatched,
        }
    }
}

/// Part of the credit applied to one invoice; `write_off` is what the
/// invoice still owed and is closed as fee or discount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub invoice: String,
    pub amount: Money,
    pub write_off: Option<Money>,
}

/// One way to explain a credit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub customer_id: Option<String>,
    pub allocations: Vec<Allocation>,
    pub confidence: f64,
    pub reasons: Vec<String>,
}

/// The decision for one credit: the best candidate first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchResult {
    pub status: MatchStatus,
    pub candidates: Vec<Candidate>,
    /// Why the decision is what it is (ambiguity, threshold…).
    pub decision: Vec<String>,
}

impl MatchResult {
    pub fn best(&self) -> Option<&Candidate> {
        self.candidates.first()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RefKind {
    /// As typed (separators aside).
    Exact,
    /// Without prefix or leading zeros.
    Partial,
    /// A validated structured reference.
    Structured,
    /// One edit away.
    Typo,
    /// Without prefix, under a key of fewer than six characters (`1842` for
    /// `INV-001842`): many numbers end so, weak evidence.
    Short,
}

impl RefKind {
    fn strength(self) -> f64 {
        match self {
            RefKind::Exact | RefKind::Structured => 1.0,
            RefKind::Partial => 0.9,
            RefKind::Typo => 0.75,
            RefKind::Short => 0.8,
        }
    }
    fn label(self) -> &'static str {
        match self {
            RefKind::Exact => "exact",
            RefKind::Partial => "without prefix or leading zeros",
            RefKind::Structured => "structured reference",
            RefKind::Typo => "one typo",
            RefKind::Short => "a short key only",
        }
    }
}

/// How a candidate's invoices explain the amount.
#[derive(Debug, Clone, PartialEq)]
enum Fit {
    Exact,
    Fee(i64),
    Discount(i64),
    Partial,
    /// Paid more than due by this much; `small` when within the overpayment tolerance.
    Over {
        excess: i64,
        small: bool,
    },
}

impl Fit {
    /// The amount is fully explained (exactly, or with a tolerated fee or discount).
    fn is_full(&self) -> bool {
        matches!(self, Fit::Exact | Fit::Fee(_) | Fit::Discount(_))
    }
}

/// A reference found in a credit's texts: the invoice (slot, or closed
/// invoice), how it was found and the token that matched.
type RefHit = (u32, RefKind, String);

/// Evidence that a customer is the payer.
#[derive(Debug, Clone)]
struct PayerHint {
    customer: String,
    /// 0.95 for an IBAN of one customer, 0.6–0.8 by name, lower for weaker hints.
    strength: f64,
    why: String,
    /// The IBAN pays for several customers (factor, parent, payment
    /// provider): never evidence against a customer, not by itself evidence for one.
    shared: bool,
    /// The payer's name is this customer's name exactly, and no other
    /// customer's name comes close (similarity 0.9 or more).
    unique_name: bool,
}

/// A candidate with what the decision needs to know about it.
#[derive(Debug, Clone)]
struct Explained {
    cand: Candidate,
    fit: Fit,
    /// Invoices named by references in the text (0 for payer/amount candidates).
    referenced: usize,
    /// It offsets open credit notes (negative allocations).
    credit_notes: bool,
    /// Some of those credit notes are not referenced in the text.
    unreferenced_notes: bool,
}

/// An invoice number: inline when short (nearly all are), else in
/// `Matcher::long_numbers` (byte 0: length, or `IN_ARENA` followed by start and length).
#[derive(Clone, Copy)]
struct NumberRef([u8; 26]);

const INLINE: usize = 25;
const IN_ARENA: u8 = u8::MAX;

impl NumberRef {
    fn new(number: &str, long: &mut String) -> NumberRef {
        let mut b = [0u8; 26];
        match b.get_mut(1..=number.len()) {
            Some(inline) if number.len() <= INLINE => {
                inline.copy_from_slice(number.as_bytes());
                b[0] = number.len() as u8;
            }
            _ => {
                b[0] = IN_ARENA;
                b[1..9].copy_from_slice(&(long.len() as u64).to_le_bytes());
                b[9..17].copy_from_slice(&(number.len() as u64).to_le_bytes());
                long.push_str(number);
            }
        }
        NumberRef(b)
    }

    fn get<'a>(&'a self, long: &'a str) -> &'a str {
        let b = &self.0;
        if b[0] != IN_ARENA {
            // Copied from a `&str` whole: valid UTF-8.
            return b.get(1..=b[0] as usize).and_then(|s| std::str::from_utf8(s).ok()).unwrap_or_default();
        }
        long.get(self.arena_range()).unwrap_or_default()
    }

    /// The number's bytes (they sort as the string does).
    fn bytes<'a>(&'a self, long: &'a str) -> &'a [u8] {
        let b = &self.0;
        if b[0] != IN_ARENA {
            return b.get(1..=b[0] as usize).unwrap_or_default();
        }
        long.as_bytes().get(self.arena_range()).unwrap_or_default()
    }

    fn arena_range(&self) -> std::ops::Range<usize> {
        let (mut start, mut len) = ([0u8; 8], [0u8; 8]);
        start.copy_from_slice(&self.0[1..9]);
        len.copy_from_slice(&self.0[9..17]);
        let start = u64::from_le_bytes(start) as usize;
        start..start.saturating_add(u64::from_le_bytes(len) as usize)
    }
}

/// An open invoice as stored in the index (one cache line). Slots are
/// grouped by customer, each customer's oldest first (due date, then
/// number); `position` is the invoice's rank in the input, which orders
/// every list the matching reads (hits of a key, invoices of an amount).
#[derive(Clone, Copy)]
struct Slot {
    open: i64,
    total: i64,
    position: u32,
    customer: u32,
    due_date: NaiveDate,
    issue_date: Option<NaiveDate>,
    open_currency: Currency,
    total_currency: Currency,
    number: NumberRef,
}

const _: () = assert!(std::mem::size_of::<Slot>() <= 64);

/// Groups the slots by customer, each customer's oldest first (due date,
/// then number, then position), in place; renames the indexes' values from
/// positions to slots. Returns where each customer's slots start (and, last,
/// where they end).
fn group_by_customer(
    slots: &mut [Slot],
    customers: usize,
    long_numbers: &str,
    indexes: &mut [&mut HashIndex],
) -> Vec<u32> {
    // Counting sort by customer (positions ascending within a customer)…
    let by_customer = Postings::build(customers, slots.iter().map(|s| (s.customer, s.position)));
    let (customer_start, mut order) = by_customer.into_parts();
    // …then each customer's by due date: each slot read once, numbers only on equal dates.
    let mut keyed: Vec<(NaiveDate, u32)> = Vec::new();
    let number = |p: u32| slots[p as usize].number.bytes(long_numbers);
    for c in 0..customers {
        let group = &mut order[customer_start[c] as usize..customer_start[c + 1] as usize];
        keyed.clear();
        keyed.extend(group.iter().map(|p| (slots[*p as usize].due_date, *p)));
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| number(a.1).cmp(number(b.1))).then(a.1.cmp(&b.1)));
        for (g, k) in group.iter_mut().zip(&keyed) {
            *g = k.1;
        }
    }
    // `order[k]` is the position slot `k` takes. The indexes name slots from now on.
    let mut slot_of = vec![0u32; order.len()];
    for (k, p) in order.iter().enumerate() {
        slot_of[*p as usize] = k as u32;
    }
    for index in indexes {
        index.map_values(|p| slot_of[p as usize]);
    }
    drop(slot_of);
    // The slots move in place, cycle by cycle (each read once); `order` marks the slots done.
    for start in 0..order.len() {
        if order[start] as usize == start {
            continue;
        }
        let first = slots[start];
        let mut to = start;
        loop {
            let from = std::mem::replace(&mut order[to], to as u32) as usize;
            if from == start {
                slots[to] = first;
                break;
            }
            slots[to] = slots[from];
            to = from;
        }
    }
    customer_start
}

/// An open invoice of the index, as [`OpenInvoice`]; number and customer
/// are read only when asked for (hot loops read amounts and dates only).
#[derive(Clone, Copy)]
struct Inv<'a> {
    m: &'a Matcher,
    i: u32,
    issue_date: Option<NaiveDate>,
    due_date: NaiveDate,
    total: Money,
    open: Money,
}

impl<'a> Inv<'a> {
    fn number(&self) -> &'a str {
        self.m.number_of(self.i)
    }

    fn customer_id(&self) -> &'a str {
        self.m.slots.get(self.i as usize).map_or("", |s| self.m.customers.resolve(s.customer))
    }
}

/// Invoices by open amount: the amounts at build time in a static index, and
/// the invoices whose open amount changed since (`consume`) in a small map.
/// Lists keep the order of the earlier multimap: unchanged invoices by
/// position, then changed ones in the order they changed.
#[derive(Default)]
struct Amounts {
    initial: HashIndex,
    /// Bit per invoice: its open amount changed since the build.
    changed: Vec<u64>,
    moved: FxHashMap<(i64, Currency), Vec<u32>>,
}

impl Amounts {
    fn is_changed(&self, i: u32) -> bool {
        self.changed.get(i as usize / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn heap_bytes(&self) -> usize {
        let moved: usize = self.moved.values().map(vec_bytes).sum();
        self.initial.heap_bytes()
            + vec_bytes(&self.changed)
            + moved
            + self.moved.capacity() * (std::mem::size_of::<((i64, Currency), Vec<u32>)>() + 1)
    }
}

/// The index and the matching logic.
pub struct Matcher {
    config: MatchConfig,
    /// The invoices (see [`Slot`]); indexes below are slot indexes.
    slots: Vec<Slot>,
    /// Invoice numbers too long to be inline.
    long_numbers: String,
    /// Customer ids (payers first, then customers of invoices, then learned ones).
    customers: Interner,
    /// Slots of customer `c`: `customer_start[c]..customer_start[c + 1]`.
    customer_start: Vec<u32>,
    /// Normalized invoice-number keys (as hashes) → invoices.
    keys: HashIndex,
    /// Length of the shortest and of the longest key.
    key_lengths: (usize, usize),
    amounts: Amounts,
    /// IBAN → customers paying from it (first owner; further owners, rare, in `more_owners`).
    ibans: Interner<Tagged>,
    iban_owner: Vec<u32>,
    more_owners: FxHashMap<u32, Vec<u32>>,
    names: NameIndex,
    /// Recently closed invoices ([`Matcher::with_closed`]) and their keys (as hashes).
    closed: Vec<ClosedInvoice>,
    closed_keys: FxHashMap<u64, Vec<u32>>,
}

impl Matcher {
    /// Builds the index over the open invoices and known payers.
    pub fn new(invoices: Vec<OpenInvoice>, payers: &[Payer], config: MatchConfig) -> Matcher {
        Matcher::from_invoices(invoices, payers, config)
    }

    /// Same as [`Matcher::new`], reading the invoices one at a time: a caller
    /// can stream them rather than hold them all. The index holds up to 2^30
    /// invoices; any beyond are left out.
    pub fn from_invoices(
        invoices: impl IntoIterator<Item = OpenInvoice>,
        payers: &[Payer],
        config: MatchConfig,
    ) -> Matcher {
        let invoices = invoices.into_iter();
        let hint = invoices.size_hint().0.min(MAX_INVOICES);
        let mut customers = Interner::with_capacity(payers.len());
        let payer_ids: Vec<u32> = payers.iter().map(|p| customers.intern(&p.customer_id)).collect();
        let mut slots: Vec<Slot> = Vec::with_capacity(hint);
        let mut long_numbers = String::new();
        let mut keys = HashIndexBuilder::with_capacity(hint, hint * 4);
        let mut amounts = HashIndexBuilder::with_capacity(hint, hint);
        let mut buf = text::KeyBuf::default();
        // Invoices often come customer by customer: the last one is tried first.
        let mut last: Option<u32> = None;
        let mut key_lengths = (usize::MAX, 0);
        for inv in invoices.take(MAX_INVOICES) {
            let position = slots.len() as u32;
            let customer = match last {
                Some(c) if customers.resolve(c) == inv.customer_id => c,
                _ => customers.intern(&inv.customer_id),
            };
            last = Some(customer);
            for k in buf.index_keys(&inv.number) {
                keys.push(key_hash(k));
                key_lengths = (key_lengths.0.min(k.len()), key_lengths.1.max(k.len()));
            }
            keys.next_value();
            amounts.push(amount_hash(inv.open.minor, inv.open.currency));
            amounts.next_value();
            slots.push(Slot {
                open: inv.open.minor,
                total: inv.total.minor,
                position,
                customer,
                due_date: inv.due_date,
                issue_date: inv.issue_date,
                open_currency: inv.open.currency,
                total_currency: inv.total.currency,
                number: NumberRef::new(&inv.number, &mut long_numbers),
            });
        }
        slots.shrink_to_fit();
        long_numbers.shrink_to_fit();
        // The indexes first (their builders' memory is freed before the slots are regrouped).
        let (mut keys, mut amounts) = (keys.build(), amounts.build());
        let customer_start =
            group_by_customer(&mut slots, customers.len(), &long_numbers, &mut [&mut keys, &mut amounts]);

        let names = NameIndex::build(customers.len(), payer_ids.iter().zip(payers).map(|(c, p)| (*c, p.name.as_str())));
        let mut m = Matcher {
            config,
            slots,
            long_numbers,
            customers,
            customer_start,
            keys,
            key_lengths,
            amounts: Amounts { initial: amounts, ..Default::default() },
            ibans: Interner::with_capacity(payers.iter().map(|p| p.ibans.len()).sum()),
            iban_owner: Vec::new(),
            more_owners: FxHashMap::default(),
            names,
            closed: Vec::new(),
            closed_keys: FxHashMap::default(),
        };
        for (owner, p) in payer_ids.into_iter().zip(payers) {
            for iban in &p.ibans {
                m.add_iban_owner(iban, owner);
            }
        }
        m.customers.shrink_to_fit();
        m.ibans.shrink_to_fit();
        m.iban_owner.shrink_to_fit();
        m
    }

    /// Adds invoices no longer open (the caller bounds how many): a credit
    /// that references one of them is sent to review with that question.
    pub fn with_closed(mut self, closed: impl IntoIterator<Item = ClosedInvoice>) -> Matcher {
        for c in closed {
            let id = self.closed.len() as u32;
            for k in index_keys(&c.number) {
                self.closed_keys.entry(key_hash(&k)).or_default().push(id);
            }
            self.closed.push(c);
        }
        self
    }

    /// Closed invoices under a key, verified.
    fn lookup_closed<'a>(&'a self, key: &'a str) -> impl Iterator<Item = u32> + 'a {
        self.closed_keys.get(&key_hash(key)).into_iter().flatten().copied().filter(move |i| {
            self.closed.get(*i as usize).is_some_and(|c| index_keys(&c.number).iter().any(|k| k == key))
        })
    }

    fn number_of(&self, i: u32) -> &str {
        self.slots.get(i as usize).map_or("", |s| s.number.get(&self.long_numbers))
    }

    /// The open invoices as they stand (open amounts reduced by `consume`), rebuilt.
    pub fn invoices(&self) -> Vec<OpenInvoice> {
        let mut by_position: Vec<u32> = (0..self.slots.len() as u32).collect();
        by_position.sort_unstable_by_key(|i| self.slots[*i as usize].position);
        by_position
            .into_iter()
            .map(|i| {
                let inv = self.open(i);
                OpenInvoice {
                    number: inv.number().to_string(),
                    customer_id: inv.customer_id().to_string(),
                    issue_date: inv.issue_date,
                    due_date: inv.due_date,
                    total: inv.total,
                    open: inv.open,
                }
            })
            .collect()
    }

    /// Heap bytes held by the index (capacity of its buffers; allocator overhead aside).
    pub fn heap_bytes(&self) -> usize {
        let more: usize = self.more_owners.values().map(vec_bytes).sum();
        vec_bytes(&self.slots)
            + self.long_numbers.capacity()
            + self.customers.heap_bytes()
            + vec_bytes(&self.customer_start)
            + self.keys.heap_bytes()
            + self.amounts.heap_bytes()
            + self.ibans.heap_bytes()
            + vec_bytes(&self.iban_owner)
            + more
            + self.more_owners.capacity() * (std::mem::size_of::<(u32, Vec<u32>)>() + 1)
            + self.names.heap_bytes()
    }

    /// Records that `amount` of an invoice was paid, so later credits see the rest.
    pub fn consume(&mut self, invoice: &str, amount: Money, write_off: Option<Money>) {
        let Some(idx) = self.find_invoice(invoice) else { return };
        let Some(inv) = self.slots.get_mut(idx as usize) else { return };
        let before = (inv.open, inv.open_currency);
        // In i128, then clamped: an invoice's open amount never goes below zero, a
        // credit note's (negative, consumed by a negative amount) never below its
        // open amount nor above zero; nothing wraps.
        let paid = i128::from(amount.minor) + i128::from(write_off.map_or(0, |w| w.minor));
        let credit_note = inv.open < 0 || inv.total < 0;
        let (lo, hi) = if credit_note { (i128::from(inv.open.min(0)), 0) } else { (0, i128::from(i64::MAX)) };
        let left = (i128::from(inv.open) - paid).clamp(lo, hi);
        inv.open = i64::try_from(left).unwrap_or(0);
        let after = (inv.open, inv.open_currency);
        // The invoice leaves its amount's list and, while it owes something, joins the end of the new one's.
        let a = &mut self.amounts;
        if a.is_changed(idx) {
            if let Some(list) = a.moved.get_mut(&before) {
                list.retain(|x| *x != idx);
            }
        } else {
            let word = idx as usize / 64;
            if a.changed.len() <= word {
                a.changed.resize(word + 1, 0);
            }
            a.changed[word] |= 1 << (idx % 64);
        }
        if after.0 != 0 {
            a.moved.entry(after).or_default().push(idx);
        }
    }

    /// Learns that an IBAN paid for a customer.
    pub fn learn_iban(&mut self, iban: &str, customer_id: &str) {
        let owner = self.customers.intern(customer_id);
        self.add_iban_owner(iban, owner);
    }

    fn add_iban_owner(&mut self, iban: &str, owner: u32) {
        let id = self.ibans.intern(iban) as usize;
        if id == self.iban_owner.len() {
            self.iban_owner.push(owner);
        } else if self.iban_owner.get(id) != Some(&owner) {
            let more = self.more_owners.entry(id as u32).or_default();
            if !more.contains(&owner) {
                more.push(owner);
            }
        }
    }

    /// Customers paying from an IBAN, in the order they were learned.
    fn iban_owners(&self, iban: &str) -> impl Iterator<Item = &str> + '_ {
        let id = self.ibans.get(iban);
        let first = id.and_then(|id| self.iban_owner.get(id as usize)).copied();
        let more = id.and_then(|id| self.more_owners.get(&id)).into_iter().flatten().copied();
        first.into_iter().chain(more).map(|c| self.customers.resolve(c))
    }

    /// Open invoices of an amount: unchanged ones by position, then those that reached it by `consume`.
    fn of_amount(&self, minor: i64, currency: Currency) -> impl Iterator<Item = u32> + '_ {
        let initial = self.amounts.initial.get(amount_hash(minor, currency)).filter(move |i| {
            let s = &self.slots[*i as usize];
            s.open == minor && s.open_currency == currency && !self.amounts.is_changed(*i)
        });
        initial.chain(self.amounts.moved.get(&(minor, currency)).into_iter().flatten().copied())
    }

    fn find_invoice(&self, number: &str) -> Option<u32> {
        invoice_keys(number)
            .iter()
            .map(|k| key_hash(k))
            .find_map(|h| self.keys.get(h).find(|i| self.number_of(*i) == number))
    }

    /// Invoices under a key, verified (a hash collision never makes a hit).
    /// A key of a length no invoice key has is not looked up.
    fn lookup<'a>(&'a self, key: &'a str) -> impl Iterator<Item = u32> + 'a {
        let (shortest, longest) = self.key_lengths;
        let possible = (shortest..=longest).contains(&key.len());
        possible
            .then(|| self.keys.get(key_hash(key)))
            .into_iter()
            .flatten()
            .filter(move |i| has_index_key(self.number_of(*i), key))
    }

    #[inline]
    fn open(&self, i: u32) -> Inv<'_> {
        let s = &self.slots[i as usize];
        Inv {
            m: self,
            i,
            issue_date: s.issue_date,
            due_date: s.due_date,
            total: Money::new(s.total, s.total_currency),
            open: Money::new(s.open, s.open_currency),
        }
    }

    /// References found in the credit's texts, by invoice: to invoices of
    /// the index (open, or consumed since) and to closed invoices.
    fn references(&self, c: &BankLine) -> (Vec<RefHit>, Vec<RefHit>) {
        let mut hits: Vec<(u32, RefKind, String)> = Vec::new();
        let mut closed: Vec<(u32, RefKind, String)> = Vec::new();
        let push = |hits: &mut Vec<(u32, RefKind, String)>, i: u32, k: RefKind, tok: &str| match hits
            .iter_mut()
            .find(|h| h.0 == i)
        {
            Some(h) if h.1.strength() < k.strength() => *h = (i, k, tok.to_string()),
            Some(_) => {}
            None => hits.push((i, k, tok.to_string())),
        };
        // With its prefix (zeros aside) the number is exact; without, partial (short: weak).
        let kind_of = |number: &str, key: &str| {
            let number = atoms(number);
            if joined(&number) == key || canonical(&number) == key {
                RefKind::Exact
            } else if key.len() < 6 {
                RefKind::Short
            } else {
                RefKind::Partial
            }
        };
        // The year written apart after the number (`FAC 0412 '26`): also read
        // with the year moved before the number it follows (`26 FAC 0412`
        // would not be a spelling; `FAC 26 0412` is, see [`text::year_apart`]).
        let moved = c.remittance.as_deref().and_then(text::year_apart);
        let texts = [c.structured_ref.as_deref(), c.remittance.as_deref(), c.end_to_end_id.as_deref()];
        for text in texts.into_iter().flatten().chain(moved.as_deref()) {
            for payload in rf_references(text).into_iter().chain(belgian_references(text)).chain(ocr_references(text)) {
                let a = atoms(&payload);
                for key in [joined(&a), canonical(&a)] {
                    for i in self.lookup(&key) {
                        push(&mut hits, i, RefKind::Structured, &payload);
                    }
                    for i in self.lookup_closed(&key) {
                        push(&mut closed, i, RefKind::Structured, &payload);
                    }
                }
            }
            let a = atoms(text);
            // This text's hits with their spans of atoms: a hit inside the span
            // of an exact (or prefix-less) hit on another invoice is a collision
            // of keys (the tail `01842` of `2026/01842` is not `INV-001842`,
            // `0269818` of `2026-0269818` is not `FA-2026-0009818` with its year
            // shortened), dropped.
            let mut found: Vec<(u32, RefKind, String, usize, usize)> = Vec::new();
            for start in 0..a.len() {
                for end in start + 1..=(start + 6).min(a.len()) {
                    let span = &a[start..end];
                    if !span.iter().any(|x| x.as_bytes()[0].is_ascii_digit()) {
                        continue;
                    }
                    let (as_typed, canon) = (joined(span), canonical(span));
                    if as_typed.len() > 24 {
                        break;
                    }
                    // Both forms, once when they are the same.
                    let forms = if canon == as_typed { 1 } else { 2 };
                    let before = found.len();
                    for key in [&as_typed, &canon].into_iter().take(forms) {
                        for i in self.lookup(key) {
                            found.push((i, kind_of(self.open(i).number(), key), key.clone(), start, end));
                        }
                        if !self.closed.is_empty() {
                            for i in self.lookup_closed(key) {
                                let number = self.closed.get(i as usize).map_or("", |c| c.number.as_str());
                                push(&mut closed, i, kind_of(number, key), key);
                            }
                        }
                    }
                    // The year written with its century (`2026FA06901` for `26FA06901`,
                    // `F202604/0123` for `F2604/0123`): the span with the century
                    // dropped, when the span as written found nothing.
                    if found.len() == before
                        && let Some(short) = century_dropped(span)
                    {
                        for key in [joined(&short), canonical(&short)] {
                            for i in self.lookup(&key) {
                                if !found[before..].iter().any(|f| f.0 == i) {
                                    found.push((i, kind_of(self.open(i).number(), &key), key.clone(), start, end));
                                }
                            }
                        }
                    }
                }
            }
            for (i, kind, key, start, end) in &found {
                let inside_exact = found.iter().any(|(j, k, _, s, e)| {
                    j != i
                        && matches!(k, RefKind::Exact | RefKind::Partial)
                        && s <= start
                        && end <= e
                        && (e - s) > (end - start)
                });
                if !inside_exact {
                    push(&mut hits, *i, *kind, key);
                }
            }
        }
        (hits, closed)
    }

    /// References to the payer's invoices in the tenant's own numbering but
    /// spelled otherwise ([`crate::refs::RefReader`] learned from the invoices
    /// of the customers the payer evidence names, shared payers aside): a
    /// two- or four-digit year, zero padding dropped (`26/0452` for
    /// `2026/0452`) are read as references without prefix; a missing prefix
    /// or year, or the counter alone (`SOLDE FACTURE 0869`) only when one
    /// invoice of these customers has it, as a short key (weak evidence).
    fn payer_spellings(&self, c: &BankLine, customers: &[&str], bare_counters: bool) -> Vec<RefHit> {
        let texts = [c.structured_ref.as_deref(), c.remittance.as_deref()];
        // Learning a reader costs allocations per number of the pool (hundreds for a large
        // customer): only when some number of the pool may be read at all, which a scan of
        // the numbers' last digit groups against the text's tells without allocating.
        let counters = crate::refs::written_counters(texts.into_iter().flatten());
        if counters.is_empty() {
            return Vec::new();
        }
        let mut pool: Vec<u32> = customers.iter().flat_map(|c| self.customer_slots(c)).collect();
        if !pool.iter().any(|i| crate::refs::may_be_read(self.open(*i).number(), &counters)) {
            return Vec::new();
        }
        pool.sort_unstable();
        pool.dedup();
        let reader = crate::refs::RefReader::learn(pool.iter().map(|i| self.open(*i).number()));
        let mut hits: Vec<RefHit> = Vec::new();
        for text in texts.into_iter().flatten() {
            for f in reader.read_counters(text, bare_counters) {
                let kind = match f.spelling {
                    crate::refs::Spelling::Exact | crate::refs::Spelling::Full => RefKind::Partial,
                    crate::refs::Spelling::Partial | crate::refs::Spelling::CounterOnly => RefKind::Short,
                };
                let Some(i) = pool.iter().copied().find(|i| self.open(*i).number() == f.number) else { continue };
                if !hits.iter().any(|h| h.0 == i) {
                    hits.push((i, kind, f.written));
                }
            }
        }
        hits
    }

    /// Reference-looking tokens of the credit (for typo matching).
    fn ref_tokens(c: &BankLine) -> Vec<String> {
        let mut out = Vec::new();
        for text in [c.remittance.as_deref(), c.structured_ref.as_deref()].into_iter().flatten() {
            let a = atoms(text);
            for start in 0..a.len() {
                for end in start + 1..=(start + 4).min(a.len()) {
                    let span = &a[start..end];
                    let t = joined(span);
                    if t.len() >= 6 && t.len() <= 24 && t.bytes().any(|b| b.is_ascii_digit()) {
                        out.push(t);
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Customers the credit comes from: by IBAN (strong when the IBAN pays
    /// for one customer only) or by name. An IBAN that pays for several
    /// customers is a shared payer (factor, parent, payment provider): its
    /// customers are weak hints, and the name is looked at as well.
    fn payers(&self, c: &BankLine) -> Vec<PayerHint> {
        let mut out: Vec<PayerHint> = Vec::new();
        if let Some(iban) = c.counterparty_iban.as_deref() {
            let owners: Vec<&str> = self.iban_owners(iban).collect();
            let shared = owners.len() > 1;
            for owner in &owners {
                out.push(if shared {
                    PayerHint {
                        customer: owner.to_string(),
                        strength: 0.55,
                        why: format!(
                            "payer IBAN {iban} pays for {} customers, {owner} among them (a shared payer: factor, parent or payment provider)",
                            owners.len()
                        ),
                        shared: true,
                        unique_name: false,
                    }
                } else {
                    PayerHint {
                        customer: owner.to_string(),
                        strength: 0.95,
                        why: format!("payer IBAN {iban} belongs to customer {owner}"),
                        shared: false,
                        unique_name: false,
                    }
                });
            }
        }
        if out.iter().all(|p| p.shared)
            && let Some(name) = c.counterparty_name.as_deref().filter(|n| !n.trim().is_empty())
        {
            // Best first: the strength grows with the similarity.
            let found = self.names.identify(name);
            let close = found.iter().filter(|(_, s)| *s >= 0.9).count();
            for (customer, sim) in found.into_iter().take(3) {
                let cust = self.customers.resolve(customer);
                let why = format!("payer name `{name}` resembles customer {cust} ({:.0} %)", sim * 100.0);
                let unique_name = sim >= 1.0 - 1e-9 && close == 1;
                let hint = PayerHint {
                    customer: cust.to_string(),
                    strength: 0.6 + 0.2 * sim,
                    why,
                    shared: false,
                    unique_name,
                };
                match out.iter_mut().find(|p| p.customer == cust) {
                    // The name picks one of the shared IBAN's customers: the name is the evidence.
                    Some(p) => *p = hint,
                    None => out.push(hint),
                }
            }
            out.sort_by(|a, b| b.strength.total_cmp(&a.strength));
        } else if out.is_empty()
            && c.counterparty_name.as_deref().is_none_or(|n| n.trim().is_empty())
            && let Some(text) = c.remittance.as_deref()
            && let Some(found) = self.names.identify_in_text(text)
        {
            // Some banks write the payer's name only in the remittance text.
            let (sim, window) = (found.similarity, found.window);
            let cust = self.customers.resolve(found.customer);
            out.push(PayerHint {
                customer: cust.to_string(),
                strength: 0.6 + 0.2 * sim,
                why: format!(
                    "the remittance names customer {cust} (`{}`, {:.0} %)",
                    window.trim_matches(|ch: char| !ch.is_alphanumeric()),
                    sim * 100.0
                ),
                shared: false,
                unique_name: sim >= 1.0 - 1e-9 && found.alone,
            });
        }
        out
    }

    /// Open credit notes of a customer in a currency (negative open amounts), oldest first.
    fn payer_credit_notes(&self, customer: &str, ccy: Currency) -> Vec<u32> {
        self.customer_slots(customer)
            .filter(|i| {
                let s = &self.slots[*i as usize];
                s.open < 0 && s.open_currency == ccy
            })
            .collect()
    }

    fn customer_slots(&self, customer: &str) -> impl Iterator<Item = u32> + '_ {
        let range = self
            .customers
            .get(customer)
            .and_then(|c| Some(*self.customer_start.get(c as usize)?..*self.customer_start.get(c as usize + 1)?));
        range.into_iter().flatten()
    }

    fn payer_open(&self, customer: &str, ccy: Currency) -> Vec<u32> {
        // A customer's slots are contiguous, oldest first (due date, then number).
        let range = self
            .customers
            .get(customer)
            .and_then(|c| Some(*self.customer_start.get(c as usize)?..*self.customer_start.get(c as usize + 1)?));
        range
            .into_iter()
            .flatten()
            .filter(|i| {
                let s = &self.slots[*i as usize];
                s.open > 0 && s.open_currency == ccy
            })
            .collect()
    }

    /// How a set of invoices explains `amount`. Sums and products are in
    /// i128 (exact for any i64 amounts); a difference that does not fit in
    /// i64 cannot be a fee or a discount, so it is a partial or over payment.
    fn fit(&self, set: &[u32], c: &BankLine) -> Fit {
        let due: i128 = set.iter().map(|i| i128::from(self.open(*i).open.minor)).sum();
        let paid = i128::from(c.amount.minor);
        if paid == due {
            return Fit::Exact;
        }
        if paid > due {
            let Ok(excess) = i64::try_from(paid - due) else { return Fit::Partial };
            // Cannot overflow: due < 2^64 here and the rate is an i64.
            let share = due * i128::from(self.config.overpayment_tolerance_bp) / 10_000;
            let small = i128::from(excess) <= i128::from(self.config.overpayment_tolerance_minor).min(share);
            return Fit::Over { excess, small };
        }
        let Ok(short) = i64::try_from(due - paid) else { return Fit::Partial };
        if self.config.discount_bp > 0 {
            let discount = set
                .iter()
                .map(|i| {
                    let inv = self.open(*i);
                    let in_time =
                        inv.issue_date.is_some_and(|d| (c.booking_date - d).num_days() <= self.config.discount_days);
                    // Each term is below 2^113 (i64 × i64 / 10^4); the sum is checked all the same.
                    if in_time && inv.open == inv.total && inv.open.minor > 0 {
                        (i128::from(inv.total.minor) * i128::from(self.config.discount_bp) + 5_000) / 10_000
                    } else {
                        0
                    }
                })
                .try_fold(0i128, i128::checked_add)
                .unwrap_or(0);
            if discount > 0 && (i128::from(short) - discount).unsigned_abs() <= (set.len() as u128) {
                return Fit::Discount(short);
            }
        }
        // Cannot overflow: here due ≤ paid + short < 2^64, and the rate is an i64 (< 2^63).
        let share = due * i128::from(self.config.fee_tolerance_bp) / 10_000;
        let tolerance = i128::from(self.config.fee_tolerance_minor).min(share);
        if i128::from(short) <= tolerance { Fit::Fee(short) } else { Fit::Partial }
    }

    /// Splits the credit over the invoices (oldest first). Credit notes come
    /// first, each offset in full (a negative allocation that adds to what the
    /// invoices receive): the allocations of a full explanation sum to the
    /// credit's amount.
    fn allocate(&self, set: &[u32], c: &BankLine, fit: &Fit) -> Vec<Allocation> {
        let mut ordered = set.to_vec();
        ordered.sort_by_key(|i| (self.open(*i).open.minor >= 0, self.open(*i).due_date, self.open(*i).number()));
        let mut left = c.amount.minor;
        let mut out = Vec::new();
        for (n, i) in ordered.iter().enumerate() {
            let inv = self.open(*i);
            if inv.open.minor < 0 {
                left = left.saturating_sub(inv.open.minor);
                out.push(Allocation { invoice: inv.number().to_string(), amount: inv.open, write_off: None });
                continue;
            }
            let last = n + 1 == ordered.len();
            let take = match fit {
                Fit::Fee(_) | Fit::Discount(_) if last => left,
                _ => inv.open.minor.min(left),
            };
            if take <= 0 {
                continue;
            }
            left -= take;
            let write_off = match fit {
                Fit::Fee(_) | Fit::Discount(_) if inv.open.minor > take => {
                    Some(Money::new(inv.open.minor - take, inv.open.currency))
                }
                _ => None,
            };
            out.push(Allocation {
                invoice: inv.number().to_string(),
                amount: Money::new(take, c.amount.currency),
                write_off,
            });
        }
        out
    }

    fn fit_reason(&self, fit: &Fit, set: &[u32], ccy: Currency) -> String {
        let m = |v: i64| Money::new(v, ccy).to_decimal_string();
        let notes = set.iter().filter(|i| self.open(**i).open.minor < 0).count();
        let n = set.len() - notes;
        let mut what = if n == 1 { "the open amount".to_string() } else { format!("the open amounts of {n} invoices") };
        if notes > 0 {
            what.push_str(&format!(" less {notes} open credit note(s) of the customer"));
        }
        match fit {
            Fit::Exact => format!("amount equals {what}"),
            Fit::Fee(s) => format!("amount is {} short of {what}: within the bank-fee tolerance", m(*s)),
            Fit::Discount(s) => format!("amount is {what} less the early-payment discount ({})", m(*s)),
            Fit::Partial => format!("amount is less than {what}: partial payment"),
            Fit::Over { excess, small: false } => {
                format!("amount exceeds {what} by {}: overpayment, left unexplained", m(*excess))
            }
            Fit::Over { excess, small: true } => {
                format!("amount exceeds {what} by {}: small overpayment, left on the customer's account", m(*excess))
            }
        }
    }

    fn candidate(
        &self,
        set: &[u32],
        c: &BankLine,
        base: f64,
        mut reasons: Vec<String>,
        customer: Option<&str>,
    ) -> Explained {
        let fit = self.fit(set, c);
        reasons.push(self.fit_reason(&fit, set, c.amount.currency));
        let confidence = match fit {
            Fit::Exact => base,
            Fit::Fee(_) | Fit::Discount(_) => base - 0.01,
            Fit::Partial | Fit::Over { .. } => base * 0.91,
        };
        let customer = customer.map(str::to_string).or_else(|| {
            let first = self.open(*set.first()?).customer_id();
            set.iter().all(|i| self.open(*i).customer_id() == first).then(|| first.to_string())
        });
        Explained {
            cand: Candidate {
                customer_id: customer,
                allocations: self.allocate(set, c, &fit),
                confidence: confidence.clamp(0.0, 1.0),
                reasons,
            },
            fit,
            referenced: 0,
            credit_notes: set.iter().any(|i| self.open(*i).open.minor < 0),
            unreferenced_notes: false,
        }
    }

    /// Matches one credit: a line the caller picked with
    /// [`BankLine::is_to_match`] (its direction is not looked at again).
    ///
    /// The rule: `matched` only when one explanation accounts for the whole
    /// amount and no other comes close; a partial payment only when one
    /// reference names one invoice, the payer confirms it and nothing else
    /// explains the amount exactly. Anything unexplained (overpayment,
    /// shortfall) and any conflict (a reference to a closed invoice or to
    /// another currency, a rival explanation) goes to review, named.
    pub fn match_credit(&self, c: &BankLine) -> MatchResult {
        let ccy = c.amount.currency;
        let payers = self.payers(c);
        let mut candidates: Vec<Explained> = Vec::new();
        // Conflicts that forbid applying anything automatically.
        let mut conflicts: Vec<String> = Vec::new();

        // 1. References, exact or one edit away.
        let (mut all_refs, closed_refs) = self.references(c);
        if all_refs.is_empty() && closed_refs.is_empty() {
            let named: Vec<&str> = payers.iter().filter(|p| !p.shared).map(|p| p.customer.as_str()).collect();
            all_refs = self.payer_spellings(c, &named, false);
        }
        let specific = |k: RefKind, _: &str| !matches!(k, RefKind::Short | RefKind::Typo);
        // A closed invoice the text names is a question unless the payer is
        // known to be another customer (then the reference is more likely a
        // typo of one of the payer's own invoices, which the rest weighs).
        let known: Vec<&str> = payers.iter().filter(|p| !p.shared).map(|p| p.customer.as_str()).collect();
        let questionable = |owner: &str| known.is_empty() || known.contains(&owner);
        for (i, k, tok) in &closed_refs {
            if let Some(ci) = self.closed.get(*i as usize)
                && specific(*k, tok)
                && questionable(&ci.customer_id)
                && !all_refs.iter().any(|r| self.open(r.0).number() == ci.number)
            {
                conflicts.push(format!(
                    "the remittance references invoice {} of customer {}, which is already {}: paid twice, or a wrong reference?",
                    ci.number, ci.customer_id, ci.status
                ));
            }
        }
        // Invoices the text names specifically (not by a short key or a typo),
        // whatever their state: an explanation that leaves one of them out is
        // contradicted by the text.
        let mut named_specifically: Vec<String> =
            all_refs.iter().filter(|r| specific(r.1, &r.2)).map(|r| self.open(r.0).number().to_string()).collect();
        named_specifically.extend(
            closed_refs
                .iter()
                .filter(|r| specific(r.1, &r.2))
                .filter_map(|r| self.closed.get(r.0 as usize))
                .map(|ci| ci.number.clone()),
        );
        named_specifically.sort();
        named_specifically.dedup();
        let mut refs: Vec<(u32, RefKind, String)> = Vec::new();
        for r in all_refs {
            let inv = self.open(r.0);
            if inv.open.currency != ccy {
                if specific(r.1, &r.2) {
                    conflicts.push(format!(
                        "the remittance references invoice {} in {}, the credit is in {}: never applied automatically",
                        inv.number(),
                        inv.open.currency,
                        ccy
                    ));
                    let reason =
                        format!("reference {} found in the remittance ({}: `{}`)", inv.number(), r.1.label(), r.2);
                    candidates.push(Explained {
                        cand: Candidate {
                            customer_id: Some(inv.customer_id().to_string()),
                            allocations: vec![Allocation {
                                invoice: inv.number().to_string(),
                                amount: c.amount,
                                write_off: None,
                            }],
                            confidence: 0.3,
                            reasons: vec![
                                reason,
                                format!("the invoice is in {}, the credit in {ccy}", inv.open.currency),
                            ],
                        },
                        fit: Fit::Partial,
                        referenced: 1,
                        credit_notes: false,
                        unreferenced_notes: false,
                    });
                }
            } else if inv.open.minor == 0 {
                if specific(r.1, &r.2) && questionable(inv.customer_id()) {
                    conflicts.push(format!(
                        "the remittance references invoice {}, already paid in full: paid twice, or a wrong reference?",
                        inv.number()
                    ));
                }
            } else {
                refs.push(r);
            }
        }
        let exact_refs_fit = !refs.is_empty() && self.fit(&refs.iter().map(|r| r.0).collect::<Vec<_>>(), c).is_full();
        let mut typos: Vec<(u32, RefKind, String)> = Vec::new();
        if !exact_refs_fit {
            // One typo, against the payer's invoices and the invoices of this amount.
            let tokens = Self::ref_tokens(c);
            if !tokens.is_empty() {
                let profiles: Vec<DigitProfile> = tokens.iter().map(|t| DigitProfile::of(t)).collect();
                // Cheap and exact pre-check, before anything else (the payer's invoices may be
                // hundreds): no token is within one edit of any key of this number.
                let near = |i: &u32| {
                    let profile = DigitProfile::of(self.open(*i).number());
                    profiles.iter().any(|p| p.within_one_edit(&profile))
                };
                let mut pool: Vec<u32> =
                    payers.iter().flat_map(|p| self.payer_open(&p.customer, ccy)).filter(near).collect();
                pool.extend(self.of_amount(c.amount.minor, ccy).filter(near));
                // In input order, as the earlier index listed them.
                pool.sort_by_key(|i| self.slots[*i as usize].position);
                pool.dedup();
                let mut buf = text::KeyBuf::default();
                for i in pool {
                    if refs.iter().any(|r| r.0 == i) {
                        continue;
                    }
                    let number = self.open(i).number();
                    let keys = buf.keys(number);
                    if let Some(t) = tokens.iter().find(|t| keys.iter().any(|k| k.len() >= 6 && damerau1(k, t))) {
                        typos.push((i, RefKind::Typo, t.clone()));
                    }
                }
            }
        }
        if !refs.is_empty() {
            let set: Vec<u32> = refs.iter().map(|r| r.0).collect();
            let whole = self.reference_candidate(&refs, &set, c, &payers);
            let short = matches!(whole.fit, Fit::Partial);
            let over = matches!(whole.fit, Fit::Over { .. });
            candidates.push(whole);
            // More than the references: other invoices of the same customers,
            // written in a spelling only their numbering explains, may complete them.
            if over {
                candidates.extend(self.completed(&refs, c, &payers));
            }
            // Several references but the amount is exactly one of them: that one alone.
            if set.len() > 1 {
                for r in &refs {
                    if self.open(r.0).open.minor == c.amount.minor {
                        let mut e = self.reference_candidate(std::slice::from_ref(r), &[r.0], c, &payers);
                        e.cand.reasons.push("the other references in the text are not paid by this amount".into());
                        e.cand.confidence -= 0.05;
                        candidates.push(e);
                    }
                }
            }
            // Short of the references: open credit notes of their customers may explain the difference.
            if short {
                candidates.extend(self.with_credit_notes(&refs, &set, c, &payers));
            }
        }
        // Near misses are alternatives, each its own candidate.
        // A typo is doubtful when the text names another open invoice exactly
        // that the payer evidence points at, or of the same customer: a
        // partial payment of that one is as good an explanation.
        let against: Vec<&PayerHint> = payers.iter().filter(|p| !p.shared).collect();
        for t in &typos {
            let mut e = self.reference_candidate(std::slice::from_ref(t), &[t.0], c, &payers);
            let typo_owner = self.open(t.0).customer_id();
            let literal = refs.iter().find(|r| {
                let owner = self.open(r.0).customer_id();
                owner == typo_owner || against.iter().any(|p| p.customer == owner)
            });
            if let Some(r) = literal {
                e.cand.confidence -= 0.06;
                e.cand.reasons.push(format!(
                    "but the remittance names invoice {} exactly: a typo or a partial payment of it?",
                    self.open(r.0).number()
                ));
            }
            candidates.push(e);
        }

        // 2. Payer and amount, unless a reference explains the whole amount
        // with confidence. The customers the references name are payers too:
        // an amount that one of their other invoices explains is a rival.
        let settled = candidates.iter().any(|e| e.fit.is_full() && e.cand.confidence >= self.config.auto_threshold);
        if !settled {
            let mut hints = payers.clone();
            for r in &refs {
                let owner = self.open(r.0).customer_id();
                if !hints.iter().any(|h| h.customer == owner) {
                    hints.push(PayerHint {
                        customer: owner.to_string(),
                        strength: 0.5,
                        why: format!("customer {owner} of the referenced invoice {}", self.open(r.0).number()),
                        shared: false,
                        unique_name: false,
                    });
                }
            }
            for (n, hint) in hints.iter().enumerate() {
                let named_by_reference = n >= payers.len();
                let cust = hint.customer.as_str();
                let open = self.payer_open(cust, ccy);
                let notes = self.payer_credit_notes(cust, ccy);
                let found = self.explanations(&open, &notes, c);
                let strong = hint.strength >= 0.9 && !hint.shared;
                match found.len() {
                    0 if !open.is_empty() && !named_by_reference => {
                        let r = vec![hint.why.clone(), "no open invoice or combination matches the amount".to_string()];
                        candidates.push(self.candidate(&open, c, 0.4, r, Some(cust)));
                    }
                    0 => {}
                    1 => {
                        let set = &found[0];
                        let what = if set.len() == 1 {
                            "the only open invoice of this customer with this amount".to_string()
                        } else {
                            format!(
                                "the only combination of this customer's open items that sums to the amount ({} items)",
                                set.len()
                            )
                        };
                        // A payer named exactly, by a name no other customer comes close
                        // to, paying the one open item (or the one combination) of that
                        // customer with this exact amount, with no reference pointing
                        // elsewhere: a clerk applies it.
                        let sole_exact = || refs.is_empty() && hint.unique_name && !hint.shared;
                        let base = match (named_by_reference, strong, set.len()) {
                            (true, _, _) => 0.7,
                            (false, true, 1) => 0.93,
                            (false, true, _) => 0.91,
                            (false, false, _) if sole_exact() => 0.91,
                            (false, false, 1) => hint.strength.min(0.8),
                            (false, false, _) => hint.strength.min(0.75),
                        };
                        let mut e = self.candidate(set, c, base, vec![hint.why.clone(), what], Some(cust));
                        if e.credit_notes {
                            e.cand.confidence -= 0.02;
                            e.unreferenced_notes = true;
                        }
                        // A reference to another invoice, open or not, contradicts an
                        // explanation by payer and amount: a person decides.
                        // Unless the text also names an invoice of the set within one typo
                        // (a transposition that happens to be another real number).
                        let in_set = |n: &str| set.iter().any(|i| self.open(*i).number() == n);
                        let typo_of_set = typos.iter().any(|t| set.contains(&t.0));
                        if let Some(n) = named_specifically.iter().find(|n| !in_set(n)).filter(|_| !typo_of_set) {
                            e.cand.confidence -= 0.1;
                            e.cand.reasons.push(format!(
                                "but the remittance names invoice {n}, which this explanation leaves out"
                            ));
                        }
                        candidates.push(e);
                    }
                    n => {
                        for set in found.iter().take(5) {
                            let r = vec![
                                hint.why.clone(),
                                format!(
                                    "one of {n} sets of this customer's open items that explain the amount: ambiguous"
                                ),
                            ];
                            candidates.push(self.candidate(set, c, 0.5, r, Some(cust)));
                        }
                    }
                }
            }
        }

        // 3. Amount alone: never enough to apply.
        if candidates.is_empty() {
            let same: Vec<u32> = self.of_amount(c.amount.minor, ccy).collect();
            let n = same.len();
            for i in same.iter().take(5) {
                let r = vec![format!("no reference and no known payer; {n} open invoice(s) have exactly this amount")];
                candidates.push(self.candidate(&[*i], c, if n == 1 { 0.45 } else { 0.3 }, r, None));
            }
        }

        self.identifier_lookalikes(c, &payers, &mut candidates);
        self.decide(candidates, conflicts)
    }

    /// A customer, order or contract number in the remittance that is also the
    /// counter of exactly one open invoice of the payer (`Kundennr KN00226`
    /// and invoice `FF26040226`) is a rival reference: an explanation that
    /// leaves that invoice out loses confidence, with the reason named.
    fn identifier_lookalikes(&self, c: &BankLine, payers: &[PayerHint], candidates: &mut [Explained]) {
        let ids: Vec<String> = [c.remittance.as_deref(), c.structured_ref.as_deref()]
            .into_iter()
            .flatten()
            .flat_map(crate::refs::other_identifiers)
            .collect();
        if ids.is_empty() || candidates.is_empty() {
            return;
        }
        let ccy = c.amount.currency;
        let mut pool: Vec<u32> =
            payers.iter().filter(|p| !p.shared).flat_map(|p| self.payer_open(&p.customer, ccy)).collect();
        pool.sort_unstable();
        pool.dedup();
        for id in &ids {
            let hits: Vec<&str> = pool
                .iter()
                .map(|i| self.open(*i).number())
                .filter(|n| crate::refs::number_groups(n).iter().any(|g| g == id))
                .collect();
            let [n] = hits.as_slice() else { continue };
            for e in candidates.iter_mut() {
                if !e.cand.allocations.iter().any(|a| a.invoice == *n) {
                    e.cand.confidence -= 0.1;
                    e.cand.reasons.push(format!(
                        "but the identifier `{id}` the remittance gives for a customer or an order is also the counter of invoice {n}: which one is meant?"
                    ));
                }
            }
        }
    }

    /// Sets of a customer's open items that explain the whole amount: one
    /// invoice (exactly, or with a tolerated fee or discount), or a
    /// combination of invoices and open credit notes summing to it exactly.
    /// Bounded: at most 4 combinations are looked for.
    fn explanations(&self, open: &[u32], notes: &[u32], c: &BankLine) -> Vec<Vec<u32>> {
        let mut found: Vec<Vec<u32>> =
            open.iter().filter(|i| self.fit(&[**i], c).is_full()).map(|i| vec![*i]).collect();
        // Credit-note combinations: none, each one, each pair (of the oldest few).
        let notes: Vec<u32> = notes.iter().copied().take(8).collect();
        let mut offsets: Vec<Vec<u32>> = vec![Vec::new()];
        for (a, x) in notes.iter().enumerate() {
            offsets.push(vec![*x]);
            for y in &notes[a + 1..] {
                offsets.push(vec![*x, *y]);
            }
        }
        for offset in offsets {
            if found.len() >= 5 {
                break;
            }
            let credit: i128 = offset.iter().map(|i| i128::from(self.open(*i).open.minor)).sum();
            let Ok(target) = i64::try_from(i128::from(c.amount.minor) - credit) else { continue };
            let min = if offset.is_empty() { 2 } else { 1 };
            for mut set in self.subsets(open, target, min) {
                set.extend(&offset);
                found.push(set);
            }
        }
        found
    }

    /// The references' invoices completed by other open invoices of the
    /// customers the evidence names (the references' owners, the payers,
    /// shared payers' customers too), each written in the text in a spelling
    /// the customers' numbering explains (`FAC2603-0696`, `25/0636`, the
    /// counter alone `0509` when one of their invoices has it), such that
    /// together they account for the whole amount. Each completion that does
    /// is a candidate: two of them are rivals, which [`Matcher::decide`] sees.
    fn completed(&self, refs: &[RefHit], c: &BankLine, payers: &[PayerHint]) -> Vec<Explained> {
        let ccy = c.amount.currency;
        let Some(left) = self.left_by(refs, c) else { return Vec::new() };
        let mut customers: Vec<&str> = refs.iter().map(|r| self.open(r.0).customer_id()).collect();
        customers.extend(payers.iter().map(|p| p.customer.as_str()));
        customers.sort_unstable();
        customers.dedup();
        let extra: Vec<RefHit> = self
            .payer_spellings(c, &customers, true)
            .into_iter()
            .filter(|h| !refs.iter().any(|r| r.0 == h.0))
            .filter(|h| {
                let inv = self.open(h.0);
                inv.open.minor > 0 && inv.open.currency == ccy
            })
            .take(8)
            .collect();
        let base: Vec<u32> = refs.iter().map(|r| r.0).collect();
        let mut out = Vec::new();
        // Every non-empty subset of at most four of the extra references (≤ 162 of 8).
        let n = extra.len();
        for mask in 1u32..(1u32 << n) {
            if mask.count_ones() > 4 {
                continue;
            }
            let chosen: Vec<&RefHit> = (0..n).filter(|b| mask & (1 << b) != 0).map(|b| &extra[b]).collect();
            let mut set = base.clone();
            set.extend(chosen.iter().map(|h| h.0));
            if !self.fit(&set, c).is_full() {
                continue;
            }
            let mut hits: Vec<RefHit> = refs.to_vec();
            hits.extend(chosen.iter().map(|h| (*h).clone()));
            let mut e = self.reference_candidate(&hits, &set, c, payers);
            e.cand.reasons.push(format!(
                "the references written in full leave {}; the other references, read in the customer's numbering, account for it",
                Money::new(left, ccy).to_decimal_string()
            ));
            out.push(e);
            if out.len() >= 4 {
                break;
            }
        }
        if out.is_empty() {
            out.extend(self.completed_by_counter(refs, left, c, payers));
        }
        if out.is_empty() {
            out.extend(self.completed_after_cut(refs, left, c, payers));
        }
        out
    }

    /// A remittance the bank cut at its field width (US banks' OFX `MEMO`,
    /// UK Faster Payments references) may have lost the references after the
    /// first ones (`Invoice FV/2026/01/0317 and` and no more). The references
    /// it kept, of one customer the payer confirms, are completed by other
    /// open invoices of that customer when exactly one set of them accounts
    /// for what the references leave, and that set with the references is
    /// the only combination of the customer's open invoices that sums to the
    /// whole amount: the clerk's "the payer is known and one set of its open
    /// invoices sums to the amount", with the references agreeing.
    fn completed_after_cut(&self, refs: &[RefHit], left: i64, c: &BankLine, payers: &[PayerHint]) -> Vec<Explained> {
        let Some(text) = c.remittance.as_deref() else { return Vec::new() };
        if !CUT_WIDTHS.contains(&text.chars().count()) || c.structured_ref.is_some() {
            return Vec::new();
        }
        let Some(first) = refs.first() else { return Vec::new() };
        let customer = self.open(first.0).customer_id();
        if refs.iter().any(|r| self.open(r.0).customer_id() != customer)
            || !payers.iter().any(|p| !p.shared && p.customer == customer && (p.strength >= 0.9 || p.unique_name))
        {
            return Vec::new();
        }
        let ccy = c.amount.currency;
        let open = self.payer_open(customer, ccy);
        let rest: Vec<u32> = open.iter().copied().filter(|i| !refs.iter().any(|r| r.0 == *i)).collect();
        let completions = self.subsets(&rest, left, 1);
        let [completion] = completions.as_slice() else { return Vec::new() };
        let mut set: Vec<u32> = refs.iter().map(|r| r.0).collect();
        set.extend(completion);
        let mut whole = self.subsets(&open, c.amount.minor, 1);
        if whole.len() != 1 {
            return Vec::new();
        }
        let mut sorted = set.clone();
        sorted.sort_unstable();
        whole[0].sort_unstable();
        if whole[0] != sorted || !self.fit(&set, c).is_full() {
            return Vec::new();
        }
        let mut e = self.reference_candidate(refs, &set, c, payers);
        e.cand.reasons.push(format!(
            "the remittance is cut at {} characters; the references it kept leave {}, which one set of the customer's other open invoices accounts for, and no other combination of them sums to the amount",
            text.chars().count(),
            Money::new(left, ccy).to_decimal_string()
        ));
        vec![e]
    }

    /// What the credit leaves once the references' open amounts are paid:
    /// `None` unless it is more than nothing (exact, in i128).
    fn left_by(&self, refs: &[RefHit], c: &BankLine) -> Option<i64> {
        let named: i128 = refs.iter().map(|r| i128::from(self.open(r.0).open.minor)).sum();
        i64::try_from(i128::from(c.amount.minor) - named).ok().filter(|left| *left > 0)
    }

    /// The references written in full, completed by one open invoice of any
    /// customer (a factor or a parent pays for several) whose open amount is
    /// exactly what they leave and whose counter (last digit group, three
    /// digits or more) stands alone in the text (`REF CESSION 02153`). Each
    /// such invoice is a candidate, so two of them are rivals.
    fn completed_by_counter(&self, refs: &[RefHit], left: i64, c: &BankLine, payers: &[PayerHint]) -> Vec<Explained> {
        let ccy = c.amount.currency;
        let counter = |number: &str| -> Option<String> {
            let digits: Vec<String> = atoms(number).into_iter().filter(|a| a.as_bytes()[0].is_ascii_digit()).collect();
            // The last digit group; a counter written before a two-digit year (`07090/26`) comes
            // first, one before a four-digit year (`FT/05236/2026`) is the one before it.
            let last = match digits.as_slice() {
                [first, .., year] if year.len() == 2 => first.clone(),
                [.., counter, year] if text::is_year(year) => counter.clone(),
                [.., last] => last.clone(),
                [] => return None,
            };
            (last.len() >= 3).then(|| last.trim_start_matches('0').to_string()).filter(|t| !t.is_empty())
        };
        // The counters written alone in the text, less those of the references' own numbers.
        let own: Vec<String> = refs.iter().filter_map(|r| counter(self.open(r.0).number())).collect();
        let mut written: Vec<String> = Vec::new();
        for text in [c.structured_ref.as_deref(), c.remittance.as_deref()].into_iter().flatten() {
            for word in text.split(|ch: char| !ch.is_ascii_alphanumeric()) {
                if word.len() >= 3 && word.bytes().all(|b| b.is_ascii_digit()) {
                    let t = word.trim_start_matches('0');
                    if !t.is_empty() && !own.iter().any(|o| o == t) {
                        written.push(t.to_string());
                    }
                }
            }
        }
        if written.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for i in self.of_amount(left, ccy).filter(|i| !refs.iter().any(|r| r.0 == *i)).take(50) {
            let number = self.open(i).number();
            let Some(k) = counter(number) else { continue };
            if !written.contains(&k) {
                continue;
            }
            let mut hits: Vec<RefHit> = refs.to_vec();
            hits.push((i, RefKind::Short, k.clone()));
            let mut set: Vec<u32> = refs.iter().map(|r| r.0).collect();
            set.push(i);
            let mut e = self.reference_candidate(&hits, &set, c, payers);
            e.cand.reasons.push(format!(
                "the references written in full leave {}, the open amount of invoice {number} whose counter `{k}` the text gives",
                Money::new(left, ccy).to_decimal_string()
            ));
            out.push(e);
            if out.len() >= 4 {
                break;
            }
        }
        out
    }

    /// The references' invoices plus open credit notes of their customers
    /// (one, or two) that together explain the whole amount.
    fn with_credit_notes(
        &self,
        refs: &[(u32, RefKind, String)],
        set: &[u32],
        c: &BankLine,
        payers: &[PayerHint],
    ) -> Vec<Explained> {
        let ccy = c.amount.currency;
        let mut owners: Vec<&str> = set.iter().map(|i| self.open(*i).customer_id()).collect();
        owners.sort_unstable();
        owners.dedup();
        let notes: Vec<u32> =
            owners.iter().flat_map(|o| self.payer_credit_notes(o, ccy)).filter(|i| !set.contains(i)).take(8).collect();
        let mut out = Vec::new();
        let mut tries: Vec<Vec<u32>> = notes.iter().map(|n| vec![*n]).collect();
        for (a, x) in notes.iter().enumerate() {
            for y in &notes[a + 1..] {
                tries.push(vec![*x, *y]);
            }
        }
        for t in tries {
            let mut full = set.to_vec();
            full.extend(&t);
            if !self.fit(&full, c).is_full() {
                continue;
            }
            let mut e = self.reference_candidate(refs, &full, c, payers);
            for n in &t {
                e.cand.reasons.push(format!(
                    "less open credit note {} ({}) of the same customer, not referenced",
                    self.open(*n).number(),
                    self.open(*n).open.to_decimal_string()
                ));
            }
            e.cand.confidence -= 0.02;
            e.unreferenced_notes = true;
            // Applied only when nothing contradicts the offset: the payer looks like
            // another customer, or another open invoice of these customers has
            // exactly the amount (paid that one, with a wrong reference?).
            let against = payers.iter().any(|p| !p.shared && !owners.contains(&p.customer.as_str()));
            let confirmed = payers.iter().any(|p| owners.contains(&p.customer.as_str()));
            if against && !confirmed {
                e.cand.confidence -= 0.05;
                e.cand.reasons.push("but the payer looks like another customer: the offset is a person's call".into());
            }
            let same_amount = owners
                .iter()
                .flat_map(|o| self.payer_open(o, ccy))
                .find(|i| !full.contains(i) && self.open(*i).open.minor == c.amount.minor);
            if let Some(i) = same_amount {
                e.cand.confidence -= 0.1;
                e.cand.reasons.push(format!(
                    "but open invoice {} of the same customer has exactly the amount",
                    self.open(i).number()
                ));
            }
            out.push(e);
            if out.len() >= 4 {
                break;
            }
        }
        out
    }

    /// A candidate explained by references, scored from the reference
    /// strength, the payer evidence and how the amount fits. `set` is the
    /// referenced invoices, perhaps with credit notes that complete them.
    fn reference_candidate(
        &self,
        refs: &[(u32, RefKind, String)],
        set: &[u32],
        c: &BankLine,
        payers: &[PayerHint],
    ) -> Explained {
        let weakest = refs.iter().map(|r| r.1.strength()).fold(1.0, f64::min);
        let mut reasons: Vec<String> = refs
            .iter()
            .map(|(i, k, tok)| {
                format!("reference {} found in the remittance ({}: `{tok}`)", self.open(*i).number(), k.label())
            })
            .collect();
        let owners: Vec<&str> = set.iter().map(|i| self.open(*i).customer_id()).collect();
        let confirming: Vec<&PayerHint> = payers.iter().filter(|p| owners.contains(&p.customer.as_str())).collect();
        // A shared payer is never evidence against a customer.
        let against: Vec<&PayerHint> = payers.iter().filter(|p| !p.shared).collect();
        let conflicting = confirming.is_empty() && !against.is_empty();
        reasons.extend(confirming.iter().map(|p| p.why.clone()));
        let fit = self.fit(set, c);
        let confirmed = confirming.iter().any(|p| !p.shared);
        let mut confidence: f64 = match (fit.is_full(), weakest) {
            (true, w) if w >= 1.0 => 0.99,
            (true, w) if w >= 0.9 => 0.97,
            (true, _) => 0.93,
            // A partial payment, or a small overpayment, is applied only when the payer confirms the reference.
            (false, w) if w >= 0.9 && confirmed && matches!(fit, Fit::Partial | Fit::Over { small: true, .. }) => 0.92,
            // A short key (`0438` for `2026/0438`) counts as much when the invoice is of a payer
            // known surely: by its own account, or by a name no other customer's comes close to.
            (false, w)
                if w >= RefKind::Short.strength()
                    && refs.iter().all(|(_, k, tok)| *k != RefKind::Short || tok.len() >= 4)
                    && confirming.iter().any(|p| !p.shared && (p.strength >= 0.9 || p.unique_name))
                    && matches!(fit, Fit::Partial | Fit::Over { small: true, .. }) =>
            {
                0.91
            }
            (false, w) if w >= 0.9 => 0.85,
            (false, _) => 0.6,
        };
        if let Some(p) = confirming.iter().filter(|p| !p.shared).map(|p| p.strength).reduce(f64::max) {
            confidence += if p >= 0.9 { 0.005 } else { 0.0 };
        }
        if conflicting {
            let strongest = against.iter().map(|p| p.strength).fold(0.0, f64::max);
            confidence -= if strongest >= 0.9 { 0.15 } else { 0.06 };
            reasons.push(format!("but the payer looks like another customer ({})", against[0].why));
        }
        let mut e = self.candidate(set, c, 1.0, reasons, None);
        e.cand.confidence = confidence.clamp(0.0, 1.0);
        e.referenced = refs.len();
        e
    }

    /// Ranks candidates and decides the status (see [`Matcher::match_credit`]).
    fn decide(&self, mut candidates: Vec<Explained>, conflicts: Vec<String>) -> MatchResult {
        candidates.sort_by(|a, b| b.cand.confidence.total_cmp(&a.cand.confidence));
        candidates.dedup_by(|a, b| a.cand.allocations == b.cand.allocations);
        let mut decision = Vec::new();
        let Some(best) = candidates.first() else {
            let mut decision = conflicts;
            decision.push("no candidate invoice".into());
            return MatchResult { status: MatchStatus::Unmatched, candidates: Vec::new(), decision };
        };
        let threshold = self.config.auto_threshold;
        // A part of the best explanation is no rival of it: the referenced invoices
        // paid in part, when they less an open credit note account for the whole amount.
        let part_of_best = |r: &Explained| {
            best.fit.is_full()
                && best.credit_notes
                && !r.fit.is_full()
                && r.cand.allocations.iter().all(|a| best.cand.allocations.iter().any(|b| b.invoice == a.invoice))
        };
        let rival = candidates
            .iter()
            .skip(1)
            .filter(|r| !part_of_best(r))
            .find(|r| r.cand.confidence >= best.cand.confidence - 0.05);
        // What blocks a partial payment: another explanation of the exact amount
        // (a shortfall within the fee tolerance is too loose to compete with a reference).
        let full_rival = candidates.iter().skip(1).find(|r| matches!(r.fit, Fit::Exact | Fit::Discount(_)));
        // Every reason to send the credit to review, named.
        if let Some(r) = rival {
            let items: Vec<&str> = r.cand.allocations.iter().map(|a| a.invoice.as_str()).collect();
            decision.push(format!(
                "ambiguous: another candidate is as likely ({:.2} vs {:.2}): {}",
                r.cand.confidence,
                best.cand.confidence,
                items.join(" + ")
            ));
        }
        decision.extend(conflicts.iter().cloned());
        match &best.fit {
            Fit::Over { small: false, .. } => {
                decision.push("overpayment: part of the amount is explained by no open item: for review".into());
            }
            Fit::Over { .. } if best.referenced != 1 || best.cand.allocations.len() != 1 => {
                decision.push(
                    "overpayment that no single reference accounts for: how to apply it is a person's call".into(),
                );
            }
            Fit::Over { .. } => {
                if let Some(r) = full_rival {
                    decision.push(format!(
                        "small overpayment of the referenced invoice, but another explanation accounts for the whole amount ({}): for review",
                        r.cand.reasons.join("; ")
                    ));
                }
            }
            Fit::Partial if best.referenced != 1 || best.cand.allocations.len() != 1 => {
                decision.push(
                    "partial payment that no single reference accounts for: how to apply it is a person's call".into(),
                );
            }
            Fit::Partial => {
                if let Some(r) = full_rival {
                    decision.push(format!(
                        "partial payment of the referenced invoice, but another explanation accounts for the whole amount ({}): for review",
                        r.cand.reasons.join("; ")
                    ));
                }
            }
            _ => {}
        }
        // A net payment (invoices less open credit notes) is applied like any other
        // explanation, when its invoices and credit notes are all of one customer.
        if best.credit_notes && best.cand.customer_id.is_none() {
            decision.push(
                "the explanation offsets credit notes against invoices of another customer: a person decides".into(),
            );
        }
        // A credit note the remittance does not name may have been meant for
        // another payment, or not be known to the payer: a person confirms it.
        if best.unreferenced_notes {
            decision.push(
                "the explanation offsets an open credit note the remittance does not name: a person confirms it".into(),
            );
        }
        let review = !decision.is_empty() || best.cand.confidence < threshold;
        if !review {
            decision.push(format!("confidence {:.2} ≥ threshold {threshold:.2}", best.cand.confidence));
        } else if best.cand.confidence < threshold {
            decision.push(format!("confidence {:.2} < threshold {threshold:.2}: for review", best.cand.confidence));
        }
        let status = if review { MatchStatus::Suggested } else { MatchStatus::Matched };
        let has_rival = rival.is_some();
        if review {
            // The conflict is named on the candidate a person looks at first.
            if let Some(b) = candidates.first_mut() {
                for why in &conflicts {
                    if !b.cand.reasons.contains(why) {
                        b.cand.reasons.push(why.clone());
                    }
                }
                if has_rival {
                    b.cand.confidence = b.cand.confidence.min(0.6);
                }
                b.cand.confidence = b.cand.confidence.min(threshold - 0.01).max(0.0);
            }
        }
        MatchResult { status, candidates: candidates.into_iter().map(|e| e.cand).collect(), decision }
    }

    /// Combinations (`min` to `subset_max_size` invoices) of the oldest open
    /// invoices that sum exactly to `amount`; stops after 4 solutions.
    fn subsets(&self, open: &[u32], amount: i64, min: usize) -> Vec<Vec<u32>> {
        let pool: Vec<u32> = open.iter().copied().take(self.config.subset_max_invoices).collect();
        let mut out = Vec::new();
        let mut chosen = Vec::new();
        #[allow(clippy::too_many_arguments)]
        fn walk(
            m: &Matcher,
            pool: &[u32],
            start: usize,
            left: i64,
            min: usize,
            chosen: &mut Vec<u32>,
            out: &mut Vec<Vec<u32>>,
        ) {
            if out.len() >= 4 {
                return;
            }
            if left == 0 && chosen.len() >= min {
                out.push(chosen.clone());
                return;
            }
            if left <= 0 || chosen.len() >= m.config.subset_max_size {
                return;
            }
            for k in start..pool.len() {
                let v = m.open(pool[k]).open.minor;
                if v <= left {
                    chosen.push(pool[k]);
                    walk(m, pool, k + 1, left - v, min, chosen, out);
                    chosen.pop();
                }
            }
        }
        walk(self, &pool, 0, amount, min.max(1), &mut chosen, &mut out);
        out
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod index_tests;
