//! Delivery: from the outbox to the sinks. The worker (`worker`) drains the outbox in order,
//! with retries per sink (`health`) and repeats summed up (`grouping`); each alert is rendered
//! (`message`) through the templates (`template`) for the sink it goes to.

pub mod grouping;
pub mod health;
pub mod message;
pub mod template;
pub mod worker;

pub use health::SinkHealth;
pub use message::Message;
pub use worker::Deliverer;
