//! The configuration file as written: its TOML model (`file`), the `[[rules]]` entry shared by
//! configurations, rules files and built-in packs (`rule`), and where an error is in it
//! (`location`). A leaf: sources, sinks and rules parse their own entries with it, and
//! `settings` puts the validated parts together.

pub(crate) mod file;
pub(crate) mod location;
pub(crate) mod rule;

pub use file::Config;
pub(crate) use file::FileError;
pub(crate) use location::ConfigError;
pub use location::SourceText;
pub(crate) use rule::{RuleConfig, TestConfig, TestRecord};
