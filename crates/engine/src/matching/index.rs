//! Compact index structures of the matcher, built once per matching pass.
//!
//! The matcher holds every open invoice of a tenant (millions for large ones),
//! so its structures avoid one heap allocation per invoice or per key:
//!
//! - [`Strings`]: many strings in one arena (one allocation, an end offset each);
//! - [`Interner`]: strings to dense `u32` ids (customers, name words, IBANs),
//!   the table holding only ids;
//! - [`HashIndex`]: a static multimap from 64-bit hashes to `u32` values, laid
//!   out as buckets in one array (counting sort: linear build, about 9 bytes
//!   per entry); hits carry a 32-bit fingerprint and are verified by the caller;
//! - [`Postings`]: many `u32` lists in one array (customer → invoices, word →
//!   customers, customer → words).

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// Heap bytes of a vector's buffer.
pub(crate) fn vec_bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}

/// 64-bit hash of a string (FxHash, then mixed so that high and low bits are both usable).
pub(crate) fn str_hash(s: &str) -> u64 {
    mix(FxBuildHasher.hash_one(s))
}

/// The splitmix64 finalizer: every output bit depends on every input bit.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Many strings in one arena, addressed by position.
#[derive(Default)]
pub(crate) struct Strings {
    arena: String,
    ends: Vec<usize>,
}

impl Strings {
    /// Appends `s`; returns its position.
    pub(crate) fn push(&mut self, s: &str) -> usize {
        self.arena.push_str(s);
        self.ends.push(self.arena.len());
        self.ends.len() - 1
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends.get(i - 1).copied().unwrap_or(0) };
        let end = self.ends.get(i).copied().unwrap_or(start);
        // Offsets always fall between two pushed strings, hence on char boundaries.
        self.arena.get(start..end).unwrap_or_default()
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.arena.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.arena.capacity() + vec_bytes(&self.ends)
    }
}

/// Strings to dense ids `0, 1, 2…` in order of first appearance. The table
/// holds entries of type `E`: [`Short`] keeps short strings (customer ids,
/// most words) in the entry itself, so a lookup reads no arena; [`Tagged`]
/// keeps 32 bits of the hash (long strings such as IBANs).
pub(crate) struct Interner<E = Short> {
    strings: Strings,
    table: HashTable<E>,
}

impl<E> Default for Interner<E> {
    fn default() -> Self {
        Interner { strings: Strings::default(), table: HashTable::default() }
    }
}

/// An entry of an [`Interner`]'s table.
pub(crate) trait TableEntry: Copy {
    fn new(id: u32, s: &str) -> Self;
    fn id(&self) -> u32;
    /// The table's hash of the entry's string, computed from the entry alone.
    fn hash(&self) -> u64;
    /// The table's hash of a string (what [`TableEntry::hash`] gives back).
    fn hash_of(s: &str) -> u64;
    fn is(&self, s: &str, strings: &Strings) -> bool;
}

/// An entry with the string inline when it has at most `SHORT` bytes (then
/// `len` is its length), else `len = LONG` and 32 bits of its hash in `bytes[..4]`.
#[derive(Clone, Copy)]
pub(crate) struct Short {
    id: u32,
    len: u8,
    bytes: [u8; SHORT],
}

const SHORT: usize = 11;
const LONG: u8 = u8::MAX;

fn tag_hash(tag: u32) -> u64 {
    mix(u64::from(tag) | 1 << 32)
}

impl TableEntry for Short {
    fn new(id: u32, s: &str) -> Short {
        let mut e = Short { id, len: LONG, bytes: [0; SHORT] };
        match e.bytes.get_mut(..s.len()) {
            Some(b) => {
                b.copy_from_slice(s.as_bytes());
                e.len = s.len() as u8;
            }
            None => e.bytes[..4].copy_from_slice(&(str_hash(s) as u32).to_le_bytes()),
        }
        e
    }

    fn id(&self) -> u32 {
        self.id
    }

    fn hash(&self) -> u64 {
        match self.bytes.get(..self.len as usize) {
            Some(b) => mix(FxBuildHasher.hash_one(b)),
            None => {
                let mut tag = [0u8; 4];
                tag.copy_from_slice(&self.bytes[..4]);
                tag_hash(u32::from_le_bytes(tag))
            }
        }
    }

    fn hash_of(s: &str) -> u64 {
        if s.len() <= SHORT { mix(FxBuildHasher.hash_one(s.as_bytes())) } else { tag_hash(str_hash(s) as u32) }
    }

    fn is(&self, s: &str, strings: &Strings) -> bool {
        match self.bytes.get(..self.len as usize) {
            Some(b) => b == s.as_bytes(),
            None => s.len() > SHORT && strings.get(self.id as usize) == s,
        }
    }
}

/// An entry with 32 bits of its string's hash (growth reads no string).
#[derive(Clone, Copy)]
pub(crate) struct Tagged {
    id: u32,
    tag: u32,
}

impl TableEntry for Tagged {
    fn new(id: u32, s: &str) -> Tagged {
        Tagged { id, tag: str_hash(s) as u32 }
    }

    fn id(&self) -> u32 {
        self.id
    }

    fn hash(&self) -> u64 {
        tag_hash(self.tag)
    }

    fn hash_of(s: &str) -> u64 {
        tag_hash(str_hash(s) as u32)
    }

    fn is(&self, s: &str, strings: &Strings) -> bool {
        self.tag == str_hash(s) as u32 && strings.get(self.id as usize) == s
    }
}

impl<E: TableEntry> Interner<E> {
    pub(crate) fn with_capacity(n: usize) -> Interner<E> {
        Interner { strings: Strings::default(), table: HashTable::with_capacity(n) }
    }

    /// The id of `s`, if it was interned.
    pub(crate) fn get(&self, s: &str) -> Option<u32> {
        self.table.find(E::hash_of(s), |e| e.is(s, &self.strings)).map(E::id)
    }

    /// The id of `s`, interning it if new.
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        let hash = E::hash_of(s);
        let Interner { strings, table } = self;
        if let Some(e) = table.find(hash, |e| e.is(s, strings)) {
            return e.id();
        }
        let id = strings.push(s) as u32;
        table.insert_unique(hash, E::new(id, s), E::hash);
        id
    }

    #[inline]
    pub(crate) fn resolve(&self, id: u32) -> &str {
        self.strings.get(id as usize)
    }

    pub(crate) fn len(&self) -> usize {
        self.strings.len()
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.strings.shrink_to_fit();
        self.table.shrink_to_fit(E::hash);
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        // One entry and one control byte per bucket.
        self.strings.heap_bytes() + self.table.capacity() * (std::mem::size_of::<E>() + 1)
    }
}

/// Collects the hashes of a [`HashIndex`], value by value: the hashes of
/// value 0, then those of value 1… (the values themselves are not stored).
#[derive(Default)]
pub(crate) struct HashIndexBuilder {
    hashes: Vec<u64>,
    /// Number of hashes pushed up to the end of each value.
    ends: Vec<u32>,
}

impl HashIndexBuilder {
    pub(crate) fn with_capacity(values: usize, hashes: usize) -> HashIndexBuilder {
        HashIndexBuilder { hashes: Vec::with_capacity(hashes), ends: Vec::with_capacity(values) }
    }

    /// Adds a hash of the current value.
    pub(crate) fn push(&mut self, hash: u64) {
        self.hashes.push(hash);
    }

    /// Closes the current value: the next hashes are the next value's.
    pub(crate) fn next_value(&mut self) {
        self.ends.push(self.hashes.len() as u32);
    }

    /// `(hash, value)` in push order.
    fn pairs(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        let mut value = 0u32;
        self.hashes.iter().enumerate().map(move |(j, h)| {
            while self.ends.get(value as usize).is_some_and(|e| (*e as usize) <= j) {
                value += 1;
            }
            (*h, value)
        })
    }

    /// Lays the pairs out by bucket; values of one hash keep their push order.
    pub(crate) fn build(self) -> HashIndex {
        let n = self.hashes.len();
        // About two to four entries per bucket: one cache line per lookup.
        let bits = (n.max(4).next_power_of_two().trailing_zeros() - 2).max(1);
        let shift = 64 - bits;
        let buckets = 1usize << bits;
        let mut starts = vec![0u32; buckets + 1];
        for &h in &self.hashes {
            starts[(h >> shift) as usize + 1] += 1;
        }
        for b in 0..buckets {
            starts[b + 1] += starts[b];
        }
        let mut next: Vec<u32> = starts[..buckets].to_vec();
        let mut entries = vec![(0u32, 0u32); n];
        for (h, v) in self.pairs() {
            let slot = &mut next[(h >> shift) as usize];
            entries[*slot as usize] = (h as u32, v);
            *slot += 1;
        }
        HashIndex { shift, starts, entries }
    }
}

/// A static multimap from 64-bit hashes to `u32` values (see the module documentation).
pub(crate) struct HashIndex {
    /// Bucket of a hash: its top bits.
    shift: u32,
    /// Entries of bucket `b`: `entries[starts[b]..starts[b + 1]]`.
    starts: Vec<u32>,
    /// (low 32 bits of the hash, value).
    entries: Vec<(u32, u32)>,
}

impl Default for HashIndex {
    fn default() -> Self {
        HashIndexBuilder::default().build()
    }
}

impl HashIndex {
    /// The values stored under `hash`, in push order (and, rarely, values of
    /// another hash with the same bucket and fingerprint: callers verify).
    pub(crate) fn get(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        let b = (hash >> self.shift) as usize;
        let (from, to) = match (self.starts.get(b), self.starts.get(b + 1)) {
            (Some(&f), Some(&t)) => (f as usize, t as usize),
            _ => (0, 0),
        };
        let fp = hash as u32;
        self.entries.get(from..to).unwrap_or_default().iter().filter(move |e| e.0 == fp).map(|e| e.1)
    }

    /// Renames every value (order unchanged).
    pub(crate) fn map_values(&mut self, f: impl Fn(u32) -> u32) {
        for e in &mut self.entries {
            e.1 = f(e.1);
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        vec_bytes(&self.starts) + vec_bytes(&self.entries)
    }
}

/// Many `u32` lists in one array.
#[derive(Default)]
pub(crate) struct Postings {
    starts: Vec<u32>,
    items: Vec<u32>,
}

impl Postings {
    /// Groups `(list, item)` pairs into `lists` lists, items in pair order
    /// (the pairs are walked twice: count, then place). Pairs naming a list
    /// beyond `lists` are left out.
    pub(crate) fn build<I>(lists: usize, pairs: I) -> Postings
    where
        I: Iterator<Item = (u32, u32)> + Clone,
    {
        let mut starts = vec![0u32; lists + 1];
        for (l, _) in pairs.clone() {
            if let Some(s) = starts.get_mut(l as usize + 1) {
                *s += 1;
            }
        }
        for l in 0..lists {
            starts[l + 1] += starts[l];
        }
        let mut next: Vec<u32> = starts[..lists].to_vec();
        let mut items = vec![0u32; starts[lists] as usize];
        for (l, item) in pairs {
            if let Some(slot) = next.get_mut(l as usize) {
                items[*slot as usize] = item;
                *slot += 1;
            }
        }
        Postings { starts, items }
    }

    /// The start of every list, then the end of the last; and the items.
    pub(crate) fn into_parts(self) -> (Vec<u32>, Vec<u32>) {
        (self.starts, self.items)
    }

    /// List `l` (empty when there is no such list).
    pub(crate) fn get(&self, l: u32) -> &[u32] {
        match (self.starts.get(l as usize), self.starts.get(l as usize + 1)) {
            (Some(&f), Some(&t)) => self.items.get(f as usize..t as usize).unwrap_or_default(),
            _ => &[],
        }
    }

    /// List `l`, to reorder its items in place.
    pub(crate) fn get_mut(&mut self, l: u32) -> &mut [u32] {
        match (self.starts.get(l as usize), self.starts.get(l as usize + 1)) {
            (Some(&f), Some(&t)) => self.items.get_mut(f as usize..t as usize).unwrap_or_default(),
            _ => &mut [],
        }
    }

    #[cfg(test)]
    pub(crate) fn lists(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        vec_bytes(&self.starts) + vec_bytes(&self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_gives_dense_ids_in_order() {
        interner_gives_dense_ids_in_order_with::<Short>();
        interner_gives_dense_ids_in_order_with::<Tagged>();
    }

    fn interner_gives_dense_ids_in_order_with<E: TableEntry>() {
        let mut i = Interner::<E>::default();
        assert_eq!(i.intern("C1"), 0);
        assert_eq!(i.intern("C2"), 1);
        assert_eq!(i.intern("C1"), 0);
        assert_eq!(i.intern(""), 2);
        assert_eq!(i.get("C2"), Some(1));
        assert_eq!(i.get("C3"), None);
        let long = "FR7630006000011234567890189";
        assert_eq!(i.intern(long), 3);
        assert_eq!((i.get(long), i.get("FR7630006000011234567890188")), (Some(3), None));
        assert_eq!(i.resolve(3), long);
        assert_eq!((i.resolve(0), i.resolve(1), i.resolve(2)), ("C1", "C2", ""));
        assert_eq!(i.len(), 4);
        // Growth re-hashes entries without their strings: all still found.
        for k in 0..10_000 {
            assert_eq!(i.intern(&format!("customer-{k}")), 4 + k);
        }
        assert_eq!(i.get("customer-9999"), Some(10_003));
        assert_eq!(i.get("C1"), Some(0));
    }

    #[test]
    fn hash_index_keeps_every_value_in_push_order() {
        // Value v has the hashes of v % 1,000 and, when v is even, of 5,000 + v % 7.
        let mut b = HashIndexBuilder::default();
        for v in 0..10_000u64 {
            b.push(mix(v % 1_000));
            if v % 2 == 0 {
                b.push(mix(5_000 + v % 7));
            }
            b.next_value();
        }
        b.next_value(); // a value without hashes
        let index = b.build();
        for k in 0..1_000u64 {
            let got: Vec<u32> = index.get(mix(k)).collect();
            let want: Vec<u32> = (0..10_000u32).filter(|v| u64::from(*v) % 1_000 == k).collect();
            assert_eq!(got, want, "key {k}");
        }
        let got: Vec<u32> = index.get(mix(5_003)).collect();
        let want: Vec<u32> = (0..10_000u32).filter(|v| v % 2 == 0 && v % 7 == 3).collect();
        assert_eq!(got, want);
        assert_eq!(index.get(mix(4_999)).count(), 0);
        assert_eq!(HashIndex::default().get(42).count(), 0);
    }

    #[test]
    fn postings_group_pairs_and_ignore_unknown_lists() {
        let pairs = [(2u32, 10u32), (0, 11), (2, 12), (5, 13), (0, 14)];
        let p = Postings::build(3, pairs.iter().copied());
        assert_eq!(p.get(0), &[11, 14]);
        assert_eq!(p.get(1), &[] as &[u32]);
        assert_eq!(p.get(2), &[10, 12]);
        assert_eq!(p.get(3), &[] as &[u32], "list 5 is beyond the 3 lists");
        assert_eq!(p.lists(), 3);
    }

    #[test]
    fn strings_live_in_one_arena() {
        let mut s = Strings::default();
        assert_eq!(s.push("FA-2026-0012"), 0);
        assert_eq!(s.push("Éclair"), 1);
        assert_eq!((s.get(0), s.get(1), s.get(7)), ("FA-2026-0012", "Éclair", ""));
    }
}
