//! The pattern engines (CloudWatch Logs filter patterns, EventBridge event patterns, Sigma
//! rules): pure, synchronous functions over JSON, with no AWS or async inside, so
//! any tool can reuse them. Compile a pattern once, evaluate it many times.

pub mod event;
pub mod filter;
pub mod literals;
pub mod reads;
pub mod sigma;
