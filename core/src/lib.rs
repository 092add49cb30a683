//! Relance core: the domain model, storage, configuration, connector roles,
//! the daemon runtime and the HTTP API.
//!
//! Pure logic (`money`, `domain`, `iban`, config parsing) does no I/O; the
//! store is the only module that talks to the database and `api` the only one
//! that knows HTTP. See ARCHITECTURE.md for the map and the invariants.

#![forbid(unsafe_code)]

pub mod api;
pub mod cash;
pub mod config;
pub mod connector;
pub mod delivery;
pub mod domain;
pub mod dunning;
pub mod iban;
pub mod letter;
pub mod matching;
pub mod metrics;
pub mod money;
pub mod reminders;
pub mod replies;
pub mod runtime;
pub mod store;
pub mod telemetry;
