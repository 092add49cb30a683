//! The Relance runtime: the daemon that schedules connectors per tenant
//! (`daemon`), the HTTP API (`api`), cash application as a tenant service
//! (`cash`), reminders from plan to delivery (`reminders`), the connector
//! registry with plugins (`registry`), metrics and telemetry.
//!
//! This is the layer that owns I/O and time: it reads the clock and files
//! and passes them to the engines as data.

#![forbid(unsafe_code)]

pub mod api;
pub mod cash;
pub mod cluster;
pub mod daemon;
pub mod events;
pub mod metrics;
pub mod registry;
pub mod reminders;
pub mod replies_model;
pub mod telemetry;
