//! Delivery: from the outbox to the sinks. The worker (`worker`) drains the outbox in order,
//! with retries per sink (`health`) and repeats summed up (`grouping`); each alert is rendered
//! (`render`) through the templates (`template`) for the sink it goes to.

pub mod grouping;
pub mod health;
pub mod render;
pub mod router;
pub mod template;
pub mod worker;

pub use health::SinkHealth;
pub use worker::Deliverer;
