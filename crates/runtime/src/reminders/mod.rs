//! Reminders, from decision to delivery: [`plan`] decides with the engine's
//! scenarios and queues rendered messages; [`deliver`] sends what is due
//! through the tenant's outbound channels. The queue itself lives in the
//! store (`relance_store::OutboxItem`).

pub mod claims;
pub mod deliver;
pub mod handoff;
pub mod plan;
