//! Delivery: from the outbox to the sinks. The worker (`worker`) drains the outbox in order,
//! with retries per sink (`health`) and repeats summed up (`grouping`), storms summed up (`storm`), sinks paced; each alert is rendered
//! (`render`) through the templates (`template`) for the sink it goes to.

pub(crate) mod grouping;
pub(crate) mod health;
pub(crate) mod render;
pub(crate) mod router;
pub(crate) mod storm;
pub(crate) mod template;
pub(crate) mod worker;

pub(crate) use health::SinkHealth;
pub(crate) use worker::Deliverer;
