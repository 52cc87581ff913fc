//! trailwatch: watches AWS CloudTrail for dangerous activity and alerts people within minutes.
//!
//! Data flows one way, source → rules → alert → delivery → sinks, with state beside it. The
//! groups below follow that path; docs/architecture.md draws it.

#![warn(unreachable_pub)]

// What is configured.
/// The file as written and where an error is in it.
pub mod config;
/// Every default window, rate, timeout and retry count.
pub(crate) mod defaults;
/// The whole configuration validated: the parts put together.
pub(crate) mod settings;

// Where records come from.
/// CloudTrail files and their shapes → JSON values → records.
pub mod format;
/// One stream's poll: read, judge, raise, move the watermark.
pub mod poll;
/// lookup_events, cloudwatch_logs, s3, files: where records are read from.
pub mod source;

// What is judged.
/// Conditions on a record's paths: exceptions and silences.
pub(crate) mod conditions;
/// The network of a record's source address: what the record cannot say for itself.
pub mod enrich;
/// The three pattern languages (CloudWatch Logs filters, EventBridge patterns, Sigma), pure
/// functions over JSON.
pub mod pattern;
/// A CloudTrail record and its EventBridge envelope.
pub(crate) mod record;
/// What the members of a CloudTrail record are, for conditions people write.
pub(crate) mod record_paths;
/// Rules, packs, the prefilter, the one evaluator, pushdown plans.
pub mod rules;
/// `scan`: the evaluator over whole files, in parallel.
pub mod scan;

// What is raised, and where it goes.
/// An alert and the facts messages show.
pub mod alert;
/// The outbox worker: order, retries, grouping, rendering.
pub(crate) mod delivery;
/// Korean or English.
pub mod language;
/// Info … critical.
pub mod severity;
/// Dooray, Slack, Teams, PagerDuty, webhooks, email, console: transports only.
pub(crate) mod sink;

// Beside the path.
/// Retry timing.
pub(crate) mod backoff;
/// One file per command.
pub mod cmd;
/// The control socket: commands reach the running daemon's state.
pub(crate) mod control;
/// `run`: tasks, signals, reload, health.
pub(crate) mod daemon;
/// Several instances sharing one state (a DynamoDB table), one working at a time.
pub(crate) mod instances;
/// CloudTrail's signed digests: what was delivered, proven.
pub(crate) mod integrity;
/// Tracing set-up.
pub(crate) mod logging;
/// The names trailwatch gives what it makes: its own alerts, the ids it makes up.
pub(crate) mod names;
/// Metrics, readiness and the endpoint that serves them.
pub(crate) mod ops;
/// AWS partitions: endpoints and console hosts by region.
pub(crate) mod partition;
/// `env:`/`file:` secrets that never print.
pub(crate) mod secret;
/// sled: watermarks, raised alerts, outbox, dead letters.
pub mod state;
/// What trailwatch shows of itself at a glance: the status page and the report file.
pub(crate) mod status;
/// Attacker-controlled text made safe to show.
pub(crate) mod text;
/// Durations and points in time as users write them.
pub(crate) mod when;
