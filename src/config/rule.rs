//! A `[[rules]]` entry as written, in a configuration file, a rules file or a built-in pack
//! (all three share the form); `set` compiles it into a `Rule`.

use serde::Deserialize;
use toml::Spanned;

use crate::severity::Severity;

/// One `[[rules]]` entry.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Required, but for a Sigma entry (its file's name, or each file's of a folder).
    #[serde(default = "unnamed")]
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
    /// A Sigma rule file (`.yml`), or a folder of them (each a rule), relative to this file.
    pub sigma: Option<Spanned<String>>,
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    pub enabled: Option<bool>,
    pub sinks: Option<Vec<String>>,
    pub group_window: Option<String>,
    /// Message templates of this rule (minijinja), overriding the sink's and the defaults.
    pub subject_template: Option<String>,
    pub template: Option<String>,
    /// MITRE ATT&CK techniques (`T1562.008`).
    pub tags: Option<Vec<String>>,
    /// What to check and what to do, shown in messages (`runbook_ko` in Korean ones).
    pub runbook: Option<String>,
    pub runbook_ko: Option<String>,
    /// Words for one kind of event (`[rules.events.DeleteUser]`): its title (`{target}` and
    /// `{principal}` filled in) and runbook, instead of the rule's.
    #[serde(default)]
    pub events: std::collections::BTreeMap<String, EventWords>,
    /// What the rule deliberately does not catch (for docs and `rules list`).
    pub does_not_cover: Option<String>,
    /// Variables the rule cannot work without: while one is empty, the rule stays quiet and
    /// `check` says what to set.
    pub needs_vars: Option<Vec<String>>,
    /// Alert only when `threshold` matches happen within `period` for one `group_by` key.
    pub threshold: Option<u32>,
    pub period: Option<String>,
    pub group_by: Option<Vec<String>>,
    /// Alert only when the values at `fields` have not been seen together within `window`
    /// (after learning for `learn` from the first record of an account).
    pub first_seen: Option<FirstSeenConfig>,
    /// Records the rule must match, or must not.
    #[serde(default)]
    pub tests: Vec<TestConfig>,
    /// `live` (the default) or `shadow`: judged and recorded, never delivered.
    pub mode: Option<Spanned<String>>,
    /// Records the rule does not alert on, each until a date and for a reason.
    #[serde(default)]
    pub exceptions: Vec<Spanned<ExceptionConfig>>,
}

/// What a rule says of one event name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventWords {
    /// The alert's title for this event: `{target}` and `{principal}` are filled in.
    pub title: Option<String>,
    pub title_ko: Option<String>,
    /// The runbook for this event.
    pub runbook: Option<String>,
    pub runbook_ko: Option<String>,
}

/// A rule's `first_seen = { fields = ["userIdentity.arn", "enrich.network"], window = "30d",
/// learn = "7d" }`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct FirstSeenConfig {
    /// Record paths (`enrich.*` included) whose values together make a combination.
    pub fields: Vec<String>,
    /// How long a combination is remembered after it was last seen (default 30d).
    pub window: Option<String>,
    /// How long, from the first record the rule judges in an account, it only learns
    /// (default 7d; "0s": never).
    pub learn: Option<String>,
}

/// One entry of a rule's `exceptions`: `{ match = { "userIdentity.arn" = "…" }, until =
/// "2027-03-31", reason = "…" }`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ExceptionConfig {
    /// Record paths and the values they must have (`*` matches anything; `${vars}` allowed;
    /// a list: any of them). All must hold.
    #[serde(rename = "match")]
    pub when: std::collections::BTreeMap<String, OneOrMany>,
    /// The day (in UTC) or time the exception ends.
    pub until: String,
    /// Why it exists: shown by `check` and `rules list`.
    pub reason: String,
}

/// A string, or a list of strings.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn values(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

fn unnamed() -> Spanned<String> {
    Spanned::new(0..0, String::new())
}

/// One `[[rules.tests]]` entry: a record (JSON text, a table, or a file) and whether the rule
/// matches it.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TestConfig {
    pub name: String,
    pub record: Option<TestRecord>,
    /// A file holding the record, relative to the file that names it.
    pub path: Option<String>,
    pub matches: bool,
    /// Variables for this test only (an allowlist the near miss is on).
    pub vars: Option<toml::Table>,
}

/// A test's record as written.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum TestRecord {
    Json(String),
    Table(toml::Table),
}
