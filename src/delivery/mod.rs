//! Delivery: from the outbox to the sinks.

pub mod template;
