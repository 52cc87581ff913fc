//! The configuration: the file as written (`file`), where an error is in it (`location`), and
//! the whole of it validated and resolved with defaults (`settings`), which every command
//! starts from.
//!
//! `file` and `location` are leaves: sources, sinks and rules parse their own entries with
//! them. `settings` is the one place that puts the parts together.

pub mod file;
pub mod location;
pub mod settings;

pub use file::{Config, FileError, RuleConfig};
pub use location::{ConfigError, SourceText};
pub use settings::{Language, LogFormat, Settings, SettingsError, DEFAULT_CONFIG};
