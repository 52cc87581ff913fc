//! trailwatch: watches AWS CloudTrail for dangerous activity and alerts people within minutes.
//!
//! Data flows one way, source → rules → alert → sinks, with state beside it.

pub mod pattern;
pub mod config;
pub mod record;
pub mod rules;
pub mod input;
pub mod scan;
pub mod cmd;
