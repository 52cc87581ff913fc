//! Where events come from. Each `[[sources]]` entry (`config`) becomes one or more streams
//! (`stream`), each read in windows behind its own watermark (`window`) by its kind's reader:
//! `lookup_events`, `cloudwatch_logs` (both through `aws`), or `files`. `explain` puts a
//! source's plan into words.

pub mod aws;
pub mod cloudwatch_logs;
pub mod config;
pub mod coverage;
pub mod explain;
pub mod files;
pub mod lookup_events;
pub mod open;
mod page;
pub mod s3;
pub mod stream;
pub mod window;

pub use config::{SourceKind, SourceSpec};
pub use explain::explain;
pub use open::{open_source, open_source_on, open_streams, Opened, SourceError, Unreachable};
pub use stream::{Query, Stream};
pub use window::Window;
