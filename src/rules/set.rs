//! The set of rules that will run: built-in packs, users' `[[rules]]` and ad-hoc patterns from
//! the command line, compiled once, in definition order.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::packs::{names as pack_names, pack};
use super::rule::{RuleTest, Threshold};
use super::vars::{expand_event, expand_filter, Expanded, Var, Vars};
use super::{Prefilter, Rule, RulePattern};
use crate::config::{
    Config, ConfigError, FileError, RuleConfig, SourceText, TestConfig, TestRecord,
};
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
}

/// The rules that will run, in definition order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
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
        match self.rules.iter_mut().find(|r| r.name == rule.name) {
            Some(existing) => *existing = rule,
            None => self.rules.push(rule),
        }
    }

    /// Where a rule is defined among all the rules.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.rules.iter().position(|r| r.name == name)
    }

    /// A rule by name.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
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
        if let Some(text) = pack(spec) {
            let src = Arc::new(SourceText {
                name: format!("(built-in pack {spec})"),
                text: text.to_string(),
            });
            let cfg = Config::parse(&src)?;
            for (k, v) in read_vars(&cfg, &src)? {
                self.pack_vars.entry(k).or_insert(v);
            }
            self.push_raw(&cfg.rules, &src, spec, None);
            return self.rebuild();
        }
        let path = Path::new(spec);
        if !path.exists() {
            return Err(RulesError::Unknown { spec: spec.into() });
        }
        let (cfg, src) = Config::load(path)?;
        self.add_config(&cfg, &src)
    }

    /// Adds the packs a configuration names (`["default"]` when it names none), its variables
    /// and its rules.
    pub fn add_config(&mut self, cfg: &Config, src: &SourceText) -> Result<(), RulesError> {
        let default = [toml::Spanned::new(0..0, "default".to_string())];
        for p in cfg.rule_packs.as_deref().unwrap_or(&default) {
            if pack(p.get_ref()).is_none() {
                return Err(src
                    .error_at(
                        p.span().start,
                        format!(
                            "unknown rule pack '{}' (built-in packs: {})",
                            p.get_ref(),
                            pack_names()
                        ),
                    )
                    .into());
            }
            self.add_spec(p.get_ref())?;
        }
        let src = Arc::new(src.clone());
        self.vars.extend(read_vars(cfg, &src)?);
        let dir = Path::new(&src.name).parent().map(Path::to_path_buf);
        let origin = src.name.clone();
        self.push_raw(&cfg.rules, &src, &origin, dir);
        self.rebuild()
    }

    fn push_raw(
        &mut self,
        rules: &[RuleConfig],
        src: &Arc<SourceText>,
        origin: &str,
        dir: Option<PathBuf>,
    ) {
        for rc in rules {
            self.raw.push(Raw {
                rc: rc.clone(),
                src: src.clone(),
                origin: origin.to_string(),
                dir: dir.clone(),
            });
        }
    }

    /// Compiles every rule again, in definition order, with the variables in force.
    fn rebuild(&mut self) -> Result<(), RulesError> {
        let vars = self.vars();
        self.rules.clear();
        for raw in self.raw.clone() {
            self.add_rule_config(&raw, &vars)?;
        }
        for r in self.adhoc.clone() {
            self.add(r);
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
        let Some((pattern, inert)) = compile_pattern(rc, src, &name, vars)? else {
            // `name` + `enabled = false` turns off a rule defined earlier (a pack's).
            if rc.enabled == Some(false) {
                if let Some(r) = self.rules.iter_mut().find(|r| r.name == name) {
                    r.enabled = false;
                    return Ok(());
                }
            }
            return Err(at_name(format!(
                "rule '{name}' needs a filter or an event_pattern"
            )));
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
        let tests = rc
            .tests
            .iter()
            .map(|t| test_of(t, raw.dir.as_deref()))
            .collect();
        let inert = inert.map(|v| format!("the list variable `${{{v}}}` is empty"));
        let title = rc.title.clone().unwrap_or_else(|| name.clone());
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
            severity: rc.severity.unwrap_or(Severity::Medium),
            exclude,
            enabled: rc.enabled.unwrap_or(true),
            sinks: rc.sinks.clone(),
            group_window,
            subject_template: rc.subject_template.clone(),
            template: rc.template.clone(),
            origin: raw.origin.clone(),
            tags: rc.tags.clone().unwrap_or_default(),
            runbook: rc.runbook.clone(),
            runbook_ko: rc.runbook_ko.clone(),
            does_not_cover: rc.does_not_cover.clone(),
            threshold,
            tests,
            inert: inert.or_else(|| needs_unset(rc, vars)),
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
        let reqs: Vec<_> = self.enabled().map(|r| r.pattern.requirement()).collect();
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

/// A pattern that matches nothing (a rule whose own pattern needs an empty list).
fn never() -> RulePattern {
    RulePattern::filter(r#"{ $.trailwatch_inert = "trailwatch-never-matches" }"#)
        .expect("a valid filter pattern")
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
