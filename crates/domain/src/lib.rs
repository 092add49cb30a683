//! The collections domain: money with its currency, identifiers, invoices,
//! customers, payments and their statuses, as plain data with the rules
//! that need no I/O.
//!
//! This crate is the bottom of the dependency graph: every other Relance
//! crate may use it, it uses none of them, and it knows nothing of storage,
//! networks or files (its `Cargo.toml` lists only serde, chrono,
//! thiserror and utoipa, a derive library for the API's OpenAPI schemas).

#![forbid(unsafe_code)]

pub mod iban;
pub mod money;
mod records;
pub mod replies;
pub mod users;

pub use records::*;
