//! One poll of one stream: its windows are read, every record is judged by the rules, matches
//! become alerts, and the alerts enter the outbox before the watermark moves. The same steps
//! serve the daemon, `backfill` (a fixed past window) and every kind of source:
//! - `window`: AWS streams read in windows behind a watermark (lookup_events, cloudwatch_logs),
//!   and their late sweep;
//! - `files`: a folder, one file at a time; `s3`: an S3 bucket's objects, listed by account and
//!   region or announced on a queue, read here or by a standby for the instance that holds the
//!   lease;
//! - `reading`: one input read record by record, its matches raised as it goes or kept;
//! - `found`: judging records and noting what could not be read as it was;
//! - `raise`: thresholds, routes and the outbox; `report`: what a poll did.

mod files;
mod found;
pub(crate) mod past;
mod raise;
mod reading;
mod report;
pub(crate) mod s3;
mod window;

pub use self::files::poll_folder;
pub(crate) use self::found::Found;
pub use self::found::NoteKind;
pub use self::raise::Judge;
pub(crate) use self::raise::{expire, raise_all};
pub(crate) use self::report::PollError;
pub use self::report::PollReport;
pub(crate) use self::window::poll_stream_measured;
pub use self::window::{poll_stream, read_window, sweep_stream};
