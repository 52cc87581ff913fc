//! trailwatch: watches AWS CloudTrail for dangerous activity and alerts people within minutes.
//!
//! Data flows one way, source → rules → alert → sinks, with state beside it.

pub mod cmd;
pub mod config;
pub mod input;
pub mod pattern;
pub mod record;
pub mod rules;
pub mod scan;
