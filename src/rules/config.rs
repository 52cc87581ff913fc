//! A `[[rules]]` entry as written, in a configuration file, a rules file or a built-in pack
//! (all three share the form); `set` compiles it into a `Rule`.

use serde::Deserialize;
use toml::Spanned;

use crate::severity::Severity;

/// One `[[rules]]` entry.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: Spanned<String>,
    pub title: Option<String>,
    /// The title in Korean messages (`title` otherwise).
    pub title_ko: Option<String>,
    pub severity: Option<Severity>,
    /// The message subject, in any language; `subject_en`/`subject_ko` win for theirs.
    pub subject: Option<String>,
    pub subject_en: Option<String>,
    pub subject_ko: Option<String>,
    /// A CloudWatch Logs filter pattern.
    pub filter: Option<Spanned<String>>,
    /// An EventBridge event pattern, as JSON text.
    pub event_pattern: Option<Spanned<String>>,
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    pub enabled: Option<bool>,
    pub sinks: Option<Vec<String>>,
    pub group_window: Option<String>,
    /// Message templates of this rule (minijinja), overriding the sink's and the defaults.
    pub subject_template: Option<String>,
    pub template: Option<String>,
}
