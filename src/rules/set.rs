//! The set of rules that will run: built-in packs, users' `[[rules]]` and ad-hoc patterns from
//! the command line, compiled once, in definition order.

use std::path::Path;
use std::time::Duration;

use super::packs::{names as pack_names, pack};
use super::{Prefilter, Rule, RulePattern};
use crate::config::{Config, ConfigError, FileError, RuleConfig, SourceText};
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

/// The rules that will run, in definition order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
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
    pub fn add(&mut self, rule: Rule) {
        match self.rules.iter_mut().find(|r| r.name == rule.name) {
            Some(existing) => *existing = rule,
            None => self.rules.push(rule),
        }
    }

    /// A rule by name.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// Loads `default`, `cis`, or a TOML file (with `rule_packs` and `[[rules]]`).
    pub fn add_spec(&mut self, spec: &str) -> Result<(), RulesError> {
        if let Some(text) = pack(spec) {
            let src = SourceText {
                name: format!("(built-in pack {spec})"),
                text: text.to_string(),
            };
            let cfg = Config::parse(&src)?;
            return self.add_config_rules(&cfg.rules, &src, spec);
        }
        let path = Path::new(spec);
        if !path.exists() {
            return Err(RulesError::Unknown { spec: spec.into() });
        }
        let (cfg, src) = Config::load(path)?;
        self.add_config(&cfg, &src)
    }

    /// Adds the packs a configuration names (`["default"]` when it names none) and its rules.
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
        self.add_config_rules(&cfg.rules, src, &src.name)
    }

    fn add_config_rules(
        &mut self,
        rules: &[RuleConfig],
        src: &SourceText,
        origin: &str,
    ) -> Result<(), RulesError> {
        for rc in rules {
            self.add_rule_config(rc, src, origin)?;
        }
        Ok(())
    }

    fn add_rule_config(
        &mut self,
        rc: &RuleConfig,
        src: &SourceText,
        origin: &str,
    ) -> Result<(), ConfigError> {
        let name = rc.name.get_ref().trim().to_string();
        let at_name = |m: String| src.error_at(rc.name.span().start, m);
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(at_name(
                "a rule name must be non-empty and contain no spaces".into(),
            ));
        }
        let pattern = match (&rc.filter, &rc.event_pattern) {
            (Some(_), Some(e)) => {
                return Err(src.error_at(
                    e.span().start,
                    format!("rule '{name}' has both filter and event_pattern: keep one"),
                ));
            }
            (Some(f), None) => RulePattern::filter(f.get_ref())
                .map_err(|m| src.error_at(f.span().start, format!("rule '{name}': {m}")))?,
            (None, Some(e)) => RulePattern::event(e.get_ref())
                .map_err(|m| src.error_at(e.span().start, format!("rule '{name}': {m}")))?,
            (None, None) => {
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
            }
        };
        let exclude = rc
            .exclude
            .iter()
            .map(|x| {
                RulePattern::detect(x.get_ref()).map_err(|m| {
                    src.error_at(x.span().start, format!("rule '{name}', exclude: {m}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let group_window: Option<Duration> = rc
            .group_window
            .as_deref()
            .map(|g| {
                when::duration(g).map_err(|e| at_name(format!("rule '{name}', group_window: {e}")))
            })
            .transpose()?;
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
            origin: origin.to_string(),
            ..Rule::new(name, pattern)
        });
        Ok(())
    }

    /// Adds an ad-hoc rule from the command line (`--filter`, `--event-pattern`).
    pub fn add_adhoc(&mut self, name: String, pattern: RulePattern) {
        self.add(Rule {
            origin: "command line".into(),
            ..Rule::new(name, pattern)
        });
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
