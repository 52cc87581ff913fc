//! The set of rules that will run: built-in packs, users' `[[rules]]` and ad-hoc patterns from
//! the command line, compiled once, in definition order.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::packs::{names as pack_names, pack};
use super::quiet::{valid_path, Condition, Conditions, Exception, Mode};
use super::rule::{FirstSeen, RuleTest, Threshold};
use super::vars::{expand_event, expand_filter, expand_values, Expanded, Var, Vars};
use super::{Prefilter, Rule, RulePattern};
use crate::config::{
    Config, ConfigError, FileError, RuleConfig, SourceText, TestConfig, TestRecord,
};
use crate::names::OwnAlert;
use crate::pattern::sigma::SigmaRule;
use crate::record::Record;
use crate::severity::Severity;
use crate::when;

/// Rules that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(
        "no rule pack or file named '{spec}' (built-in packs: {})",
        pack_names()
    )]
    Unknown { spec: String },
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// A `[[rules]]` entry as written, with where it came from: rules are compiled again when
/// variables arrive later (a pack loaded before the configuration's `[vars]`).
#[derive(Debug, Clone)]
struct Raw {
    rc: RuleConfig,
    src: Arc<SourceText>,
    origin: String,
    /// The folder of the file it came from (test records' paths are relative to it).
    dir: Option<PathBuf>,
    /// The mode its pack was loaded in (`rule_packs = [{ name = "…", mode = "shadow" }]`).
    pack_mode: Option<Mode>,
}

/// The rules that will run, in definition order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    /// Where each rule is in `rules`, by name (alerts look their rule up by name, several
    /// times each: a fast hash).
    at: std::collections::HashMap<String, usize, hashbrown::DefaultHashBuilder>,
    raw: Vec<Raw>,
    adhoc: Vec<Rule>,
    /// Variables set by configurations and rules files, and the packs' defaults.
    vars: Vars,
    pack_vars: Vars,
}

impl RuleSet {
    /// Every rule, enabled or not.
    pub fn all(&self) -> &[Rule] {
        &self.rules
    }

    /// The enabled rules.
    pub fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.enabled)
    }

    /// Adds a rule; one of the same name replaces the earlier definition in place.
    fn add(&mut self, rule: Rule) {
        match self.at.get(&rule.name) {
            Some(&i) => self.rules[i] = rule,
            None => {
                self.at.insert(rule.name.clone(), self.rules.len());
                self.rules.push(rule);
            }
        }
    }

    /// The mode a pack gives a rule that does not say its own: a rule two packs share is live
    /// when a live pack loaded it first (a shadow pack tries its own rules, not those running).
    fn pack_mode(&self, raw: &Raw, name: &str) -> Option<Mode> {
        let live_before = self
            .get(name)
            .is_some_and(|r| r.mode == Mode::Live && r.origin != raw.origin);
        raw.pack_mode.filter(|_| !live_before)
    }

    /// Where a rule is defined among all the rules.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.at.get(name).copied()
    }

    /// A rule by name.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.position(name).map(|i| &self.rules[i])
    }

    /// A rule's pattern and exclusions as written, with their `${variables}` (the last
    /// definition of `name`).
    pub fn written(&self, name: &str) -> Option<(&str, Vec<&str>)> {
        let rc = &self
            .raw
            .iter()
            .rev()
            .find(|r| r.rc.name.get_ref().trim() == name)?
            .rc;
        let pattern = rc.event_pattern.as_ref().or(rc.filter.as_ref())?;
        let exclude = rc.exclude.iter().map(|x| x.get_ref().as_str()).collect();
        Some((pattern.get_ref().as_str(), exclude))
    }

    /// The variables in force: the packs' defaults, overridden by what was set.
    pub fn vars(&self) -> Vars {
        let mut v = self.pack_vars.clone();
        v.extend(self.vars.clone());
        v
    }

    /// The rule `name` alone, compiled with `vars` set on top (a rule test's own variables):
    /// an error names that rule, whatever the others would make of the variables.
    pub fn with_vars_for(&self, name: &str, vars: &Vars) -> Result<RuleSet, RulesError> {
        let mut s = RuleSet {
            raw: self
                .raw
                .iter()
                .filter(|r| r.rc.name.get_ref().trim() == name)
                .cloned()
                .collect(),
            vars: self.vars.clone(),
            pack_vars: self.pack_vars.clone(),
            ..RuleSet::default()
        };
        s.vars.extend(vars.clone());
        s.rebuild()?;
        Ok(s)
    }

    /// Loads `default`, `cis`, `threats`, or a TOML file (with `rule_packs`, `[vars]` and
    /// `[[rules]]`).
    pub fn add_spec(&mut self, spec: &str) -> Result<(), RulesError> {
        self.add_spec_in(spec, None)
    }

    /// `add_spec`, a pack's rules in `mode` when given.
    fn add_spec_in(&mut self, spec: &str, mode: Option<Mode>) -> Result<(), RulesError> {
        if let Some(text) = pack(spec) {
            let src = Arc::new(SourceText {
                name: format!("(built-in pack {spec})"),
                text: text.to_string(),
            });
            let cfg = Config::parse(&src)?;
            for (k, v) in read_vars(&cfg, &src)? {
                self.pack_vars.entry(k).or_insert(v);
            }
            self.push_raw(&cfg.rules, &src, spec, None)?;
            for r in self.raw.iter_mut().filter(|r| r.origin == spec) {
                r.pack_mode = mode;
            }
            return self.rebuild();
        }
        let path = Path::new(spec);
        if !path.exists() {
            return Err(RulesError::Unknown { spec: spec.into() });
        }
        if path.is_dir() || is_sigma_file(path) {
            // Sigma rules as they are: one entry naming the file or folder.
            let full = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            let quoted = serde_json::to_string(&full.display().to_string()).expect("a path quotes");
            let src = SourceText {
                name: format!("(--rules {spec})"),
                text: format!("rule_packs = []\n[[rules]]\nsigma = {quoted}\n"),
            };
            let cfg = Config::parse(&src)?;
            return self.add_config(&cfg, &src);
        }
        let (cfg, src) = Config::load(path)?;
        self.add_config(&cfg, &src)
    }

    /// Adds the packs a configuration names (`["default"]` when it names none), its variables
    /// and its rules.
    pub fn add_config(&mut self, cfg: &Config, src: &SourceText) -> Result<(), RulesError> {
        for p in cfg.packs(src)? {
            let name = p.name.get_ref();
            if pack(name).is_none() {
                return Err(src
                    .error_at(
                        p.name.span().start,
                        format!(
                            "unknown rule pack '{name}' (built-in packs: {})",
                            pack_names()
                        ),
                    )
                    .into());
            }
            let mode = p
                .mode
                .as_deref()
                .map(Mode::parse)
                .transpose()
                .map_err(|e| {
                    src.error_at(p.name.span().start, format!("rule pack '{name}': {e}"))
                })?;
            self.add_spec_in(name, mode)?;
        }
        let src = Arc::new(src.clone());
        self.vars.extend(read_vars(cfg, &src)?);
        let dir = Path::new(&src.name).parent().map(Path::to_path_buf);
        let origin = src.name.clone();
        self.push_raw(&cfg.rules, &src, &origin, dir)?;
        self.rebuild()
    }

    fn push_raw(
        &mut self,
        rules: &[RuleConfig],
        src: &Arc<SourceText>,
        origin: &str,
        dir: Option<PathBuf>,
    ) -> Result<(), ConfigError> {
        for rc in rules {
            for rc in sigma_entries(rc, src, dir.as_deref())? {
                self.raw.push(Raw {
                    rc,
                    src: src.clone(),
                    origin: origin.to_string(),
                    dir: dir.clone(),
                    pack_mode: None,
                });
            }
        }
        Ok(())
    }

    /// Compiles every rule again, in definition order, with the variables in force.
    fn rebuild(&mut self) -> Result<(), RulesError> {
        let vars = self.vars();
        self.rules.clear();
        self.at.clear();
        for raw in self.raw.clone() {
            self.add_rule_config(&raw, &vars)?;
        }
        for r in self.adhoc.clone() {
            self.add(r);
        }
        Ok(())
    }

    /// An entry with a name and no pattern changes a rule defined before it (a pack's):
    /// `enabled`, `mode`, `exceptions` (added to its own), `sinks`.
    fn change_earlier(
        &mut self,
        rc: &RuleConfig,
        src: &SourceText,
        name: &str,
        mode: Option<Mode>,
        exceptions: Vec<Exception>,
    ) -> Result<(), ConfigError> {
        let at_name = |m: String| src.error_at(rc.name.span().start, m);
        let Some(r) = self.at.get(name).map(|&i| &mut self.rules[i]) else {
            return Err(at_name(format!(
                "rule '{name}' needs a filter or an event_pattern (or the name of a rule defined before it, to change)"
            )));
        };
        if let Some(key) = not_an_override(rc) {
            return Err(at_name(format!(
                "rule '{name}' changes a rule defined before it, which takes only enabled, mode, exceptions and sinks, not `{key}` (to redefine it, give its pattern)"
            )));
        }
        if let Some(e) = rc.enabled {
            r.enabled = e;
        }
        if let Some(m) = mode {
            r.mode = m;
        }
        r.exceptions.extend(exceptions);
        if let Some(k) = &rc.sinks {
            r.sinks = Some(k.clone());
        }
        Ok(())
    }

    fn add_rule_config(&mut self, raw: &Raw, vars: &Vars) -> Result<(), ConfigError> {
        let (rc, src) = (&raw.rc, &*raw.src);
        let name = rc.name.get_ref().trim().to_string();
        let at_name = |m: String| src.error_at(rc.name.span().start, m);
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(at_name(
                "a rule name must be non-empty and contain no spaces".into(),
            ));
        }
        if OwnAlert::is_own(&name) {
            return Err(at_name(format!(
                "rule '{name}': names beginning '{}' are trailwatch's own alerts (never silenced, grouped or summed up): choose another name",
                crate::names::PREFIX
            )));
        }
        let mode = compile_mode(rc, src, &name)?;
        let exceptions = compile_exceptions(rc, src, &name, vars)?;
        let Some((pattern, inert)) = compile_pattern(rc, src, &name, vars)? else {
            return self.change_earlier(rc, src, &name, mode, exceptions);
        };
        let exclude = compile_excludes(rc, src, &name, vars)?;
        let group_window: Option<Duration> = rc
            .group_window
            .as_deref()
            .map(|g| {
                when::duration(g).map_err(|e| at_name(format!("rule '{name}', group_window: {e}")))
            })
            .transpose()?;
        let threshold = threshold(rc).map_err(|m| at_name(format!("rule '{name}': {m}")))?;
        let first_seen =
            first_seen(rc).map_err(|m| at_name(format!("rule '{name}', first_seen: {m}")))?;
        let tests = rc
            .tests
            .iter()
            .map(|t| test_of(t, raw.dir.as_deref()))
            .collect();
        let inert = inert.map(|v| format!("the list variable `${{{v}}}` is empty"));
        let (title, severity, tags, runbook) = described(rc, &pattern, &name);
        self.add(Rule {
            subject: rc.subject.clone().unwrap_or_else(|| title.clone()),
            subject_en: rc.subject_en.clone(),
            // Without a subject of its own, a Korean message takes the Korean title.
            subject_ko: rc
                .subject_ko
                .clone()
                .or_else(|| rc.subject.is_none().then(|| rc.title_ko.clone()).flatten()),
            title,
            title_ko: rc.title_ko.clone(),
            severity,
            exclude,
            enabled: rc.enabled.unwrap_or(true),
            sinks: rc.sinks.clone(),
            group_window,
            subject_template: rc.subject_template.clone(),
            template: rc.template.clone(),
            origin: match &pattern {
                RulePattern::Sigma(_, file) => file.clone(),
                _ => raw.origin.clone(),
            },
            tags,
            runbook,
            runbook_ko: rc.runbook_ko.clone(),
            events: rc.events.clone(),
            does_not_cover: rc.does_not_cover.clone(),
            threshold,
            first_seen,
            tests,
            inert: inert.or_else(|| needs_unset(rc, vars)),
            mode: mode
                .or_else(|| self.pack_mode(raw, &name))
                .unwrap_or_default(),
            exceptions,
            ..Rule::new(name, pattern)
        });
        Ok(())
    }

    /// Adds an ad-hoc rule from the command line (`--filter`, `--event-pattern`).
    pub fn add_adhoc(&mut self, name: String, pattern: RulePattern) {
        let r = Rule {
            origin: "command line".into(),
            ..Rule::new(name, pattern)
        };
        self.adhoc.push(r.clone());
        self.add(r);
    }

    /// The enabled rules that match a record.
    pub fn matching(&self, r: &Record<'_>) -> Vec<&Rule> {
        self.enabled().filter(|rule| rule.is_match(r)).collect()
    }

    /// The prefilter for the enabled rules, in `enabled()` order.
    pub fn prefilter(&self) -> Prefilter {
        let reqs: Vec<_> = self.enabled().map(Rule::requirement).collect();
        Prefilter::new(&reqs)
    }
}

/// A rule entry's pattern compiled with `vars` (and the empty list variable that keeps it from
/// ever matching, if one does); `None` when it has neither a filter nor an event pattern.
fn compile_pattern(
    rc: &RuleConfig,
    src: &SourceText,
    name: &str,
    vars: &Vars,
) -> Result<Option<(RulePattern, Option<String>)>, ConfigError> {
    let at = |x: &toml::Spanned<String>, m: String| {
        src.error_at(x.span().start, format!("rule '{name}': {m}"))
    };
    if let Some(file) = &rc.sigma {
        if rc.filter.is_some() || rc.event_pattern.is_some() {
            return Err(at(file, "a Sigma rule has its own detection: give sigma alone, without filter or event_pattern".into()));
        }
        let text = std::fs::read_to_string(file.get_ref())
            .map_err(|e| at(file, format!("cannot read {}: {e}", file.get_ref())))?;
        let rule =
            SigmaRule::parse(&text).map_err(|e| at(file, format!("{}: {e}", file.get_ref())))?;
        return Ok(Some((
            RulePattern::Sigma(Arc::new(rule), file.get_ref().clone()),
            None,
        )));
    }
    let compiled = match (&rc.filter, &rc.event_pattern) {
        (Some(_), Some(e)) => {
            return Err(src.error_at(
                e.span().start,
                format!("rule '{name}' has both filter and event_pattern: keep one"),
            ));
        }
        (Some(f), None) => match expand_filter(f.get_ref(), vars).map_err(|m| at(f, m))? {
            Expanded::Pattern(p) => (RulePattern::filter(&p).map_err(|m| at(f, m))?, None),
            Expanded::Never(v) => (never(), Some(v)),
        },
        (None, Some(e)) => match expand_event(e.get_ref(), vars).map_err(|m| at(e, m))? {
            Expanded::Pattern(p) => (RulePattern::event(&p).map_err(|m| at(e, m))?, None),
            Expanded::Never(v) => (never(), Some(v)),
        },
        (None, None) => return Ok(None),
    };
    Ok(Some(compiled))
}

/// A rule entry's exclusions, in either language, compiled with `vars` (one that needs an
/// empty list excludes nothing).
fn compile_excludes(
    rc: &RuleConfig,
    src: &SourceText,
    name: &str,
    vars: &Vars,
) -> Result<Vec<RulePattern>, ConfigError> {
    let mut exclude = Vec::new();
    for x in &rc.exclude {
        let at = |m: String| src.error_at(x.span().start, format!("rule '{name}': exclude: {m}"));
        let text = x.get_ref();
        let expanded = if RulePattern::looks_like_event(text) {
            expand_event(text, vars)
        } else {
            expand_filter(text, vars)
        }
        .map_err(at)?;
        if let Expanded::Pattern(p) = expanded {
            exclude.push(RulePattern::detect(&p).map_err(at)?);
        }
    }
    Ok(exclude)
}

/// True for a `.yml` or `.yaml` file.
fn is_sigma_file(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}

/// An entry as one or more: a `sigma` folder gives one entry per rule file in it (sorted, each
/// named by its file), a `sigma` file one entry (named by the file unless it has a name); paths
/// relative to the file the entry is in. Anything else is itself.
fn sigma_entries(
    rc: &RuleConfig,
    src: &SourceText,
    dir: Option<&Path>,
) -> Result<Vec<RuleConfig>, ConfigError> {
    let Some(s) = &rc.sigma else {
        return Ok(vec![rc.clone()]);
    };
    let at = |m: String| src.error_at(s.span().start, m);
    let path = match dir {
        Some(d) if Path::new(s.get_ref()).is_relative() => d.join(s.get_ref()),
        _ => PathBuf::from(s.get_ref()),
    };
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut f: Vec<PathBuf> = walkdir::WalkDir::new(&path)
            .into_iter()
            .filter_map(Result::ok)
            .map(walkdir::DirEntry::into_path)
            .filter(|p| is_sigma_file(p))
            .collect();
        f.sort();
        if f.is_empty() {
            return Err(at(format!("sigma: {} holds no .yml rule", path.display())));
        }
        f
    } else if path.is_file() {
        vec![path.clone()]
    } else {
        return Err(at(format!(
            "sigma: {} is neither a rule file nor a folder",
            path.display()
        )));
    };
    let many = files.len() > 1 || path.is_dir();
    Ok(files
        .into_iter()
        .map(|f| {
            let mut one = rc.clone();
            if many || one.name.get_ref().trim().is_empty() {
                let stem = f
                    .file_stem()
                    .map_or_else(String::new, |x| x.to_string_lossy().into_owned());
                one.name = toml::Spanned::new(s.span(), stem);
            }
            one.sigma = Some(toml::Spanned::new(s.span(), f.display().to_string()));
            one
        })
        .collect())
}

/// What a rule says of itself: its entry's title, severity, tags and runbook, else a Sigma
/// rule's (`level` as severity, informational as info; the ATT&CK tags; the description and
/// false positives as the runbook).
fn described(
    rc: &RuleConfig,
    pattern: &RulePattern,
    name: &str,
) -> (String, Severity, Vec<String>, Option<String>) {
    let sigma = pattern.sigma();
    let title = rc
        .title
        .clone()
        .or_else(|| sigma.map(|s| s.title.clone()))
        .unwrap_or_else(|| name.to_string());
    let level = sigma
        .and_then(|s| s.level.as_deref())
        .and_then(|l| match l {
            "informational" => Some(Severity::Info),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        });
    let severity = rc.severity.or(level).unwrap_or(Severity::Medium);
    let tags = rc
        .tags
        .clone()
        .or_else(|| sigma.map(SigmaRule::techniques))
        .unwrap_or_default();
    let runbook = rc.runbook.clone().or_else(|| {
        let s = sigma?;
        let mut t = s.description.clone().unwrap_or_default();
        if !s.falsepositives.is_empty() {
            t.push_str(&format!(
                " False positives: {}.",
                s.falsepositives.join("; ")
            ));
        }
        (!t.trim().is_empty()).then(|| t.trim().to_string())
    });
    (title, severity, tags, runbook)
}

/// A rule's `mode`, when written.
fn compile_mode(
    rc: &RuleConfig,
    src: &SourceText,
    name: &str,
) -> Result<Option<Mode>, ConfigError> {
    rc.mode
        .as_ref()
        .map(|m| {
            Mode::parse(m.get_ref())
                .map_err(|e| src.error_at(m.span().start, format!("rule '{name}': {e}")))
        })
        .transpose()
}

/// A rule's `exceptions`: each with its conditions (variables put in), its end and its reason.
fn compile_exceptions(
    rc: &RuleConfig,
    src: &SourceText,
    name: &str,
    vars: &Vars,
) -> Result<Vec<Exception>, ConfigError> {
    let mut out = Vec::new();
    for x in &rc.exceptions {
        let at = |m: String| src.error_at(x.span().start, format!("rule '{name}', exception: {m}"));
        let e = x.get_ref();
        if e.reason.trim().is_empty() {
            return Err(at(
                "`reason` may not be empty: say why the records are expected".into(),
            ));
        }
        if e.when.is_empty() {
            return Err(at("`match` needs at least one record path".into()));
        }
        let mut conditions = Vec::new();
        for (path, values) in &e.when {
            if !valid_path(path) {
                return Err(at(format!(
                    "`{path}` is not a record path (such as userIdentity.arn)"
                )));
            }
            let mut any = Vec::new();
            for v in values.values() {
                any.extend(expand_values(&v, vars).map_err(&at)?);
            }
            conditions.push(Condition {
                path: path.clone(),
                any,
            });
        }
        out.push(Exception {
            when: Conditions(conditions),
            until: until(&e.until).map_err(at)?,
            reason: e.reason.clone(),
        });
    }
    Ok(out)
}

/// An exception's end: a day (`2027-03-31`, the end of that day in UTC) or a time.
fn until(s: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let day: jiff::civil::Date = s.parse().map_err(|_| {
        format!("until '{s}' is neither a day (2027-03-31) nor a time (2027-03-31T18:00:00Z)")
    })?;
    day.tomorrow()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC))
        .map(|z| z.timestamp())
        .map_err(|e| format!("until '{s}': {e}"))
}

/// The first key of an entry that only names an earlier rule which such an entry cannot change.
fn not_an_override(rc: &RuleConfig) -> Option<&'static str> {
    [
        (rc.title.is_some(), "title"),
        (rc.severity.is_some(), "severity"),
        (rc.subject.is_some(), "subject"),
        (!rc.exclude.is_empty(), "exclude"),
        (rc.threshold.is_some(), "threshold"),
        (rc.first_seen.is_some(), "first_seen"),
        (rc.group_window.is_some(), "group_window"),
        (rc.template.is_some(), "template"),
        (rc.subject_template.is_some(), "subject_template"),
        (rc.runbook.is_some(), "runbook"),
        (!rc.tests.is_empty(), "tests"),
    ]
    .into_iter()
    .find_map(|(present, key)| present.then_some(key))
}

/// The first of a rule's `needs_vars` that is not set, said as why the rule stays quiet.
fn needs_unset(rc: &RuleConfig, vars: &Vars) -> Option<String> {
    rc.needs_vars.iter().flatten().find_map(|v| {
        let empty = match vars.get(v) {
            None => true,
            Some(Var::List(l)) => l.is_empty(),
            Some(Var::Text(t)) => t.is_empty(),
        };
        empty.then(|| format!("it needs [vars] {v}, which is not set"))
    })
}

/// A pattern that matches nothing (a rule whose own pattern needs an empty list): it only
/// fills the place, since an inert rule never matches (`Rule::is_match`).
fn never() -> RulePattern {
    RulePattern::filter(r#"{ $.trailwatch_inert = "never" }"#).expect("a valid filter pattern")
}

/// A file's `[vars]`.
fn read_vars(cfg: &Config, src: &SourceText) -> Result<Vars, ConfigError> {
    let Some(t) = &cfg.vars else {
        return Ok(Vars::new());
    };
    t.get_ref()
        .iter()
        .map(|(k, v)| {
            Var::from_toml(v)
                .map(|v| (k.clone(), v))
                .map_err(|m| src.error_at(t.span().start, format!("[vars] {k}: {m}")))
        })
        .collect()
}

/// A rule's threshold: `threshold` (2 or more), `period`, `group_by` (default: the caller's
/// ARN).
fn threshold(rc: &RuleConfig) -> Result<Option<Threshold>, String> {
    let Some(count) = rc.threshold else {
        if rc.period.is_some() || rc.group_by.is_some() {
            return Err("`period` and `group_by` need `threshold`".into());
        }
        return Ok(None);
    };
    if count < 2 {
        return Err("threshold must be 2 or more (1 is every match: leave it out)".into());
    }
    let period = match &rc.period {
        Some(p) => when::duration(p).map_err(|e| format!("period: {e}"))?,
        None => return Err("`threshold` needs `period` (such as \"10m\")".into()),
    };
    if period.is_zero() || period > Threshold::MAX_PERIOD {
        return Err("period must be positive and at most 24h".into());
    }
    let group_by = rc
        .group_by
        .clone()
        .unwrap_or_else(|| vec!["userIdentity.arn".to_string()]);
    if group_by.iter().any(|p| p.is_empty() || p.starts_with('$')) {
        return Err("group_by takes record paths such as \"userIdentity.arn\"".into());
    }
    Ok(Some(Threshold {
        count,
        period,
        group_by,
    }))
}

/// A rule's `first_seen`: one to four record paths, a window and a learning time (30 and 7
/// days by default).
fn first_seen(rc: &RuleConfig) -> Result<Option<FirstSeen>, String> {
    let Some(f) = &rc.first_seen else {
        return Ok(None);
    };
    if f.fields.is_empty() || f.fields.len() > FirstSeen::MAX_FIELDS {
        return Err(format!(
            "fields takes 1 to {} record paths such as \"userIdentity.arn\"",
            FirstSeen::MAX_FIELDS
        ));
    }
    if let Some(p) = f.fields.iter().find(|p| !crate::conditions::valid_path(p)) {
        return Err(format!(
            "'{p}' is not a record path (such as \"enrich.network\")"
        ));
    }
    let dur = |v: &Option<String>, key: &str, d: Duration| -> Result<Duration, String> {
        let d = match v {
            Some(s) => when::duration(s).map_err(|e| format!("{key}: {e}"))?,
            None => d,
        };
        if d > FirstSeen::MAX {
            return Err(format!("{key}: at most 400d"));
        }
        Ok(d)
    };
    let window = dur(&f.window, "window", crate::defaults::FIRST_SEEN_WINDOW)?;
    if window.is_zero() {
        return Err("window must be longer than 0s".into());
    }
    Ok(Some(FirstSeen {
        fields: f.fields.clone(),
        window,
        learn: dur(&f.learn, "learn", crate::defaults::FIRST_SEEN_LEARN)?,
    }))
}

/// A test as written: its record read (from the file next to the rules, when a path).
fn test_of(t: &TestConfig, dir: Option<&Path>) -> RuleTest {
    let record = match (&t.record, &t.path) {
        (Some(TestRecord::Json(j)), None) => Ok(j.clone()),
        (Some(TestRecord::Table(tab)), None) => {
            serde_json::to_string(tab).map_err(|e| e.to_string())
        }
        (None, Some(p)) => {
            let path = match dir {
                Some(d) if Path::new(p).is_relative() => d.join(p),
                _ => PathBuf::from(p),
            };
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
        (Some(_), Some(_)) => Err("a test has both `record` and `path`: keep one".into()),
        (None, None) => Err("a test needs a `record` or a `path`".into()),
    };
    let mut vars = Vars::new();
    let mut record = record;
    for (k, v) in t.vars.iter().flatten() {
        match Var::from_toml(v) {
            Ok(v) => {
                vars.insert(k.clone(), v);
            }
            Err(e) => record = Err(format!("vars.{k}: {e}")),
        }
    }
    RuleTest {
        name: t.name.clone(),
        record,
        matches: t.matches,
        vars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_load() {
        let mut s = RuleSet::default();
        s.add_spec("default").unwrap();
        let names: Vec<_> = s.all().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["root-usage", "iam-user-lifecycle"]);
        s.add_spec("cis").unwrap();
        assert_eq!(s.all().len(), 15, "root-usage is shared by both packs");
        assert!(s
            .add_spec("nope")
            .unwrap_err()
            .to_string()
            .contains("built-in packs: default, cis"));
    }

    /// The rules of a configuration's text, or its error.
    fn of(text: &str) -> Result<RuleSet, String> {
        let src = SourceText {
            name: "x.toml".into(),
            text: text.into(),
        };
        let cfg = Config::parse(&src).map_err(|e| e.to_string())?;
        let mut set = RuleSet::default();
        set.add_config(&cfg, &src).map_err(|e| e.to_string())?;
        Ok(set)
    }

    #[test]
    fn overrides_change_modes_and_exceptions_of_pack_rules() {
        let set = of("rule_packs = [\"default\", { name = \"cis\", mode = \"shadow\" }]\n[[rules]]\nname = \"iam-user-lifecycle\"\nmode = \"shadow\"\nexceptions = [{ match = { \"userIdentity.arn\" = \"arn:aws:iam::1:role/ci\" }, until = \"2027-03-31\", reason = \"CI\" }]\n").unwrap();
        let mode = |n: &str| set.get(n).unwrap().mode;
        assert_eq!(mode("iam-user-lifecycle"), Mode::Shadow);
        assert_eq!(
            mode("root-usage"),
            Mode::Live,
            "default's copy of it is loaded first"
        );
        assert_eq!(mode("unauthorized-api-calls"), Mode::Shadow);
        let x = &set.get("iam-user-lifecycle").unwrap().exceptions[0];
        assert_eq!(
            x.until,
            "2027-04-01T00:00:00Z".parse().unwrap(),
            "the whole day"
        );
        for (text, want) in [
            ("[[rules]]\nname = \"root-usage\"\nseverity = \"low\"\n", "takes only enabled, mode, exceptions and sinks, not `severity`"),
            ("[[rules]]\nname = \"nope\"\nmode = \"shadow\"\n", "needs a filter or an event_pattern"),
            ("[[rules]]\nname = \"root-usage\"\nmode = \"quiet\"\n", "mode 'quiet' is neither live nor shadow"),
            ("[[rules]]\nname = \"root-usage\"\nexceptions = [{ match = { a = \"1\" }, until = \"2027-03-31\", reason = \" \" }]\n", "`reason` may not be empty"),
            ("[[rules]]\nname = \"root-usage\"\nexceptions = [{ match = { a = \"1\" }, until = \"soon\", reason = \"r\" }]\n", "until 'soon' is neither a day"),
            ("[[rules]]\nname = \"root-usage\"\nexceptions = [{ match = { a = \"${nope}\" }, until = \"2027-03-31\", reason = \"r\" }]\n", "unknown variable `${nope}`"),
            ("[[rules]]\nname = \"root-usage\"\nexceptions = [{ match = { a = \"1\" }, reason = \"r\" }]\n", "missing field `until`"),
            ("rule_packs = [{ name = \"cis\", mode = \"off\" }]\n", "rule pack 'cis': mode 'off'"),
            ("rule_packs = [{ pack = \"cis\" }]\n", "unknown key `pack` in a rule_packs entry"),
        ] {
            let e = of(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.starts_with("x.toml:"), "located: {e}");
        }
        let own = format!(
            "[[rules]]\nname = \"{}\"\nfilter = '{{ $.a = 1 }}'\n",
            OwnAlert::Health
        );
        let e = of(&own).unwrap_err();
        assert!(e.contains("are trailwatch's own alerts"), "{e}");
    }

    #[test]
    fn config_errors_are_located() {
        let src = SourceText {
            name: "x.toml".into(),
            text: "rule_packs = []\n[[rules]]\nname = \"a\"\nfilter = '{ $.a IS NOT NULL }'\n"
                .into(),
        };
        let cfg = Config::parse(&src).unwrap();
        let e = RuleSet::default()
            .add_config(&cfg, &src)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x.toml:4:10: rule 'a': invalid filter pattern: column 7: IS NOT"),
            "{e}"
        );
        let src = SourceText {
            name: "y.toml".into(),
            text: "[[rules]]\nname = \"a\"\nfiltr = 'x'\n".into(),
        };
        let e = Config::parse(&src).unwrap_err().to_string();
        assert!(e.starts_with("y.toml:3:1: unknown field `filtr`"), "{e}");
    }

    #[test]
    fn a_user_rule_can_disable_a_pack_rule() {
        let src = SourceText {
            name: "x.toml".into(),
            text: "[[rules]]\nname = \"root-usage\"\nenabled = false\n".into(),
        };
        let mut s = RuleSet::default();
        s.add_config(&Config::parse(&src).unwrap(), &src).unwrap();
        let enabled: Vec<_> = s.enabled().map(|r| r.name.as_str()).collect();
        assert_eq!(enabled, ["iam-user-lifecycle"]);
    }
}
