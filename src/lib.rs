//! trailwatch: watches AWS CloudTrail for dangerous activity and alerts people within minutes.
//!
//! Data flows one way, source → rules → alert → sinks, with state beside it.

pub(crate) mod alert;
pub(crate) mod backoff;
pub mod cmd;
pub mod config;
pub(crate) mod daemon;
pub(crate) mod defaults;
pub(crate) mod delivery;
pub mod format;
pub(crate) mod logging;
pub(crate) mod metrics;
pub mod pattern;
pub mod poll;
pub(crate) mod record;
pub mod rules;
pub mod scan;
pub(crate) mod secret;
pub(crate) mod severity;
pub(crate) mod sink;
pub mod source;
pub mod state;
pub(crate) mod when;
