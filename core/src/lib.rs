//! Relance core: the domain model, storage, configuration, connector roles,
//! the daemon runtime and the HTTP API.
//!
//! Pure logic (`money`, `domain`, `iban`, config parsing) does no I/O; the
//! store is the only module that talks to the database and `api` the only one
//! that knows HTTP. See ARCHITECTURE.md for the map and the invariants.

// `unsafe` is denied everywhere but in `plugins`, the plugin host, where the
// C ABI of connector plugins is handled.
#![deny(unsafe_code)]

pub mod api;
pub mod cash;
pub mod config;
pub mod connector;
pub mod delivery;
pub mod domain;
pub mod dunning;
pub mod guard;
pub mod iban;
pub mod letter;
pub mod matching;
pub mod metrics;
pub mod money;
#[allow(unsafe_code)]
pub mod plugins;
pub mod reminders;
pub mod replies;
pub mod runtime;
pub mod store;
pub mod sync;
pub mod telemetry;
