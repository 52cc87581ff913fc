//! trailwatch: watches AWS CloudTrail for dangerous activity and alerts people within minutes.
//!
//! Data flows one way, source → rules → alert → sinks, with state beside it.

pub mod alert;
pub mod backoff;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod defaults;
pub mod delivery;
pub mod format;
pub mod logging;
pub mod metrics;
pub mod pattern;
pub mod poll;
pub mod record;
pub mod rules;
pub mod scan;
pub mod secret;
pub mod severity;
pub mod sink;
pub mod source;
pub mod state;
pub mod when;
