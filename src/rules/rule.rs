//! A rule: a named pattern (CloudWatch filter, EventBridge event pattern or Sigma rule) with a title,
//! severity and message subject, optional exclusions, and the sinks its alerts go to.

use std::sync::Arc;
use std::time::Duration;

use super::quiet::{Exception, Mode};
use crate::alert::{headline, Alert, Event, Kind, RuleFacts};
use crate::config::rule::EventWords;
use crate::language::Language;
use crate::pattern::event::EventPattern;
use crate::pattern::filter::FilterPattern;
use crate::pattern::literals::Requirement;
use crate::pattern::reads::Reads;
use crate::pattern::sigma::SigmaRule;
use crate::record::Record;
use crate::severity::Severity;

/// A rule's pattern, in one of the three languages.
#[derive(Debug, Clone)]
pub enum RulePattern {
    Filter(FilterPattern),
    Event(EventPattern),
    /// A Sigma rule, and the file it came from.
    Sigma(Arc<SigmaRule>, String),
}

impl RulePattern {
    /// An exclusion or pattern string whose language is not stated: a JSON object is an event
    /// pattern, anything else (including `{ $.a = 1 }`, which is not JSON) a filter pattern.
    pub fn detect(src: &str) -> Result<RulePattern, String> {
        if Self::looks_like_event(src) {
            Self::event(src)
        } else {
            Self::filter(src)
        }
    }

    /// True for a JSON object (an event pattern); a filter pattern is not JSON.
    pub fn looks_like_event(src: &str) -> bool {
        matches!(
            serde_json::from_str::<serde_json::Value>(src),
            Ok(serde_json::Value::Object(_))
        )
    }

    pub fn filter(src: &str) -> Result<RulePattern, String> {
        FilterPattern::new(src)
            .map(RulePattern::Filter)
            .map_err(|e| format!("invalid filter pattern: {e}"))
    }

    pub fn event(src: &str) -> Result<RulePattern, String> {
        EventPattern::new(src)
            .map(RulePattern::Event)
            .map_err(|e| e.to_string())
    }

    /// Evaluates the pattern on a record: filter patterns read its JSON text, event patterns see
    /// it as EventBridge would deliver it.
    pub fn is_match(&self, r: &Record<'_>) -> bool {
        match self {
            RulePattern::Filter(f) => f.is_match_parsed(&r.text, &r.value),
            RulePattern::Event(e) => match &r.event {
                Some(ev) => e.is_match(ev),
                None => e.is_match_with(&|k| r.envelope_member(k)),
            },
            RulePattern::Sigma(s, _) => s.is_match(&r.value),
        }
    }

    /// The top-level members of a record the pattern reads (an event pattern through the
    /// envelope EventBridge puts around it).
    pub fn reads(&self) -> Reads {
        match self {
            RulePattern::Filter(f) => f.reads(),
            RulePattern::Event(e) => crate::record::reads_through_envelope(&e.reads()),
            RulePattern::Sigma(s, _) => s.reads(),
        }
    }

    /// The Sigma rule, for a rule written in Sigma.
    pub fn sigma(&self) -> Option<&SigmaRule> {
        match self {
            RulePattern::Sigma(s, _) => Some(s),
            _ => None,
        }
    }

    pub fn requirement(&self) -> Requirement {
        match self {
            RulePattern::Filter(f) => f.requirement(),
            RulePattern::Event(e) => e.requirement(),
            RulePattern::Sigma(s, _) => s.requirement(),
        }
    }

    /// True when the pattern may read the `enrich` member (which no record's text holds: it
    /// is put in by the evaluator); said of any pattern whose text names it.
    pub fn reads_enrich(&self) -> bool {
        let text = match self {
            RulePattern::Sigma(s, _) => s.as_str(),
            other => other.as_str(),
        };
        text.contains("enrich")
    }

    /// `filter` or `event_pattern`, as the configuration names the languages.
    pub fn language(&self) -> &'static str {
        match self {
            RulePattern::Filter(_) => "filter",
            RulePattern::Event(_) => "event_pattern",
            RulePattern::Sigma(..) => "sigma",
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            RulePattern::Filter(f) => f.as_str(),
            RulePattern::Event(e) => e.as_str(),
            RulePattern::Sigma(_, file) => file,
        }
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub title: String,
    /// The title in Korean messages.
    pub title_ko: Option<String>,
    pub severity: Severity,
    /// Short subject for messages ("root 계정" → "root 계정 경보 발생하였습니다"), in any
    /// language; `subject_en`/`subject_ko` win for theirs.
    pub subject: String,
    pub subject_en: Option<String>,
    pub subject_ko: Option<String>,
    pub pattern: RulePattern,
    /// Patterns that suppress the rule when they match.
    pub exclude: Vec<RulePattern>,
    pub enabled: bool,
    /// Sink names; `None` sends to every sink.
    pub sinks: Option<Vec<String>>,
    /// This rule's own grouping window, when set.
    pub group_window: Option<Duration>,
    /// This rule's message templates (subject, body), when set.
    pub subject_template: Option<String>,
    pub template: Option<String>,
    /// Where the rule was defined: a pack name or a file.
    pub origin: String,
    /// MITRE ATT&CK techniques (`T1562.008`).
    pub tags: Vec<String>,
    /// What to check and what to do, in messages.
    pub runbook: Option<String>,
    pub runbook_ko: Option<String>,
    /// Its words for some events (a title that says what happened to whom, a runbook that
    /// fits), by event name.
    pub events: std::collections::BTreeMap<String, EventWords>,
    /// What the rule deliberately does not catch.
    pub does_not_cover: Option<String>,
    /// Alert only past a count of matches in a period (`None`: every match).
    pub threshold: Option<Threshold>,
    /// Alert only on what is new for an account (`None`: every match).
    pub first_seen: Option<FirstSeen>,
    /// Records it must match, or must not.
    pub tests: Vec<RuleTest>,
    /// Why it can never match (its pattern uses an empty list variable), if it cannot.
    pub inert: Option<String>,
    /// Live (delivered) or shadow (recorded only).
    pub mode: Mode,
    /// Records it does not alert on, until a date.
    pub exceptions: Vec<Exception>,
}

/// Alert only when the values at `fields` have not been seen together within `window`; during
/// `learn` from the first record of an account, every sighting is recorded, nothing alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstSeen {
    /// Record paths (`enrich.*` included), as written.
    pub fields: Vec<String>,
    pub window: Duration,
    pub learn: Duration,
}

impl FirstSeen {
    /// The longest `window` or `learn` a rule may have.
    pub const MAX: Duration = Duration::from_secs(400 * 86400);
    /// The most fields a combination has.
    pub const MAX_FIELDS: usize = 4;
}

/// Alert when `count` matches happen within `period` for one key (the values at `group_by`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    pub count: u32,
    pub period: Duration,
    /// Record paths (`userIdentity.arn`), as written.
    pub group_by: Vec<String>,
}

impl Threshold {
    /// The longest `period` a threshold may have (counts idle longer are forgotten).
    pub const MAX_PERIOD: Duration = Duration::from_secs(24 * 3600);
}

/// One test of a rule.
#[derive(Debug, Clone)]
pub struct RuleTest {
    pub name: String,
    /// The record's JSON text, or why it could not be read.
    pub record: Result<String, String>,
    pub matches: bool,
    /// Variables set for this test only.
    pub vars: crate::rules::vars::Vars,
}

impl Rule {
    /// A rule with its name as title and subject, medium severity, enabled, to every sink.
    pub fn new(name: String, pattern: RulePattern) -> Rule {
        Rule {
            title: name.clone(),
            title_ko: None,
            subject: name.clone(),
            subject_en: None,
            subject_ko: None,
            severity: Severity::Medium,
            pattern,
            exclude: Vec::new(),
            enabled: true,
            sinks: None,
            group_window: None,
            subject_template: None,
            template: None,
            origin: String::new(),
            tags: Vec::new(),
            runbook: None,
            runbook_ko: None,
            events: Default::default(),
            does_not_cover: None,
            threshold: None,
            first_seen: None,
            tests: Vec::new(),
            inert: None,
            mode: Mode::Live,
            exceptions: Vec::new(),
            name,
        }
    }

    /// The runbook in `lang`.
    pub fn runbook_in(&self, lang: Language) -> Option<&str> {
        match lang {
            Language::Ko => self.runbook_ko.as_deref().or(self.runbook.as_deref()),
            Language::En => self.runbook.as_deref(),
        }
    }

    /// The runbook for events named `event`, in `lang`, when the rule has one of its own.
    pub fn event_runbook_in(&self, event: &str, lang: Language) -> Option<&str> {
        let w = self.events.get(event)?;
        match lang {
            Language::Ko => w.runbook_ko.as_deref().or(w.runbook.as_deref()),
            Language::En => w.runbook.as_deref(),
        }
    }

    /// The title of an alert about `record` (its text: what a record's parse left out is in
    /// it): the words for its event, filled in from it, else the rule's.
    pub(crate) fn title_for(&self, record: &str, lang: Language) -> std::borrow::Cow<'_, str> {
        if self.events.is_empty() {
            return self.title_in(lang).into();
        }
        match serde_json::from_str::<serde_json::Value>(record) {
            Ok(r) => self.title_of(&r, lang),
            Err(_) => self.title_in(lang).into(),
        }
    }

    /// The title of an alert about the record `r` (see `title_for`).
    fn title_of(&self, r: &serde_json::Value, lang: Language) -> std::borrow::Cow<'_, str> {
        let words = r
            .get("eventName")
            .and_then(serde_json::Value::as_str)
            .and_then(|n| self.events.get(n));
        let title = words.and_then(|w| match lang {
            Language::Ko => w.title_ko.as_deref().or(w.title.as_deref()),
            Language::En => w.title.as_deref(),
        });
        match title {
            Some(t) => headline::fill(t, r).into(),
            None => self.title_in(lang).into(),
        }
    }

    /// The title in `lang`.
    pub fn title_in(&self, lang: Language) -> &str {
        match lang {
            Language::Ko => self.title_ko.as_deref().unwrap_or(&self.title),
            Language::En => &self.title,
        }
    }

    /// The subject in `lang`.
    pub fn subject_in(&self, lang: Language) -> &str {
        match lang {
            Language::Ko => self.subject_ko.as_deref().unwrap_or(&self.subject),
            Language::En => self.subject_en.as_deref().unwrap_or(&self.subject),
        }
    }

    /// This rule's alert about `event`, titled in `lang`.
    pub fn alert(&self, lang: Language, event: Event, kind: Kind) -> Alert {
        let title = self.title_for(&event.record, lang);
        let facts = RuleFacts {
            name: &self.name,
            title: &title,
            subject: self.subject_in(lang),
            severity: self.severity,
        };
        Alert::new(facts, event, kind)
    }

    /// What every record this rule matches holds in its text (the prefilter's screen). A rule
    /// that reads the `enrich` member needs nothing of the text: that member is not in it.
    pub fn requirement(&self) -> Requirement {
        if self.pattern.reads_enrich() {
            Requirement::none()
        } else {
            self.pattern.requirement()
        }
    }

    /// The top-level members of a record that judging it reads: the pattern's and the
    /// exclusions', the threshold's and first-seen fields. (A title is made from the record's
    /// text: `title_for`.)
    pub fn reads(&self) -> Reads {
        let fields = (self.threshold.iter().flat_map(|t| &t.group_by))
            .chain(self.first_seen.iter().flat_map(|f| &f.fields))
            .map(|f| Reads::path(f));
        Reads::all(
            std::iter::once(self.pattern.reads())
                .chain(self.exclude.iter().map(RulePattern::reads))
                .chain(fields),
        )
    }

    /// True when the pattern matches and no exclusion does.
    pub fn is_match(&self, r: &Record<'_>) -> bool {
        self.inert.is_none()
            && self.pattern.is_match(r)
            && !self.exclude.iter().any(|x| x.is_match(r))
    }
}
