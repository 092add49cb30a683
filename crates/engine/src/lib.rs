//! The pure engines of Relance: cash application (`matching`), reply
//! understanding (`replies`), reminder decisions (`dunning`: scenarios,
//! calendars, templates) and collections reporting (`reports`: aged balance,
//! DSO, DMP).
//!
//! Engines take data and the current date or time as arguments and return
//! typed results; they do no I/O. The build enforces it: this crate depends
//! on no async runtime, database, HTTP, plugin-loading or file-watching
//! crate (`scripts/check-architecture.sh` fails if one appears in
//! `cargo tree -e normal -p relance-engine`).

#![forbid(unsafe_code)]

pub mod dunning;
pub mod matching;
pub mod refs;
pub mod replies;
pub mod reports;
