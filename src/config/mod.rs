//! The configuration file as written: its TOML model (`file`), the `[[rules]]` entry shared by
//! configurations, rules files and built-in packs (`rule`), and where an error is in it
//! (`location`). A leaf: sources, sinks and rules parse their own entries with it, and
//! `settings` puts the validated parts together.

pub mod file;
pub mod location;
pub mod rule;

pub use file::{Config, FileError};
pub use location::{ConfigError, SourceText};
pub use rule::{RuleConfig, TestConfig, TestRecord};
