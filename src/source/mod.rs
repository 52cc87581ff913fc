//! Where events come from. Each `[[sources]]` entry (`config`) becomes one or more streams
//! (`stream`), each read in windows behind its own watermark (`window`) by its kind's reader:
//! `lookup_events`, `cloudwatch_logs` (both through `aws`), or `files`. `explain` puts a
//! source's plan into words.

pub mod aws;
pub(crate) mod cloudwatch_logs;
pub(crate) mod config;
pub mod coverage;
pub(crate) mod explain;
pub mod files;
pub(crate) mod lookup_events;
pub(crate) mod open;
mod page;
pub mod s3;
pub(crate) mod stream;
pub(crate) mod window;

pub(crate) use config::SourceKind;
pub use config::SourceSpec;
pub(crate) use explain::explain;
pub(crate) use open::SourceError;
pub use open::{open_source, open_source_on, open_streams, Opened};
pub use stream::{Query, Stream};
pub use window::Window;
