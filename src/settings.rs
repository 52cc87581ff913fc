//! The whole configuration, validated and resolved: state directory, sources, rules, sinks and
//! message settings, with defaults filled in. `check` prints it; `run` and `backfill` start
//! from it. Every error names the file, line and column.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;

use crate::alert::template::{Overrides, Templates};
use crate::config::{Config, SourceText};
use crate::defaults;
use crate::rules::RuleSet;
use crate::sink::SinkSpec;
use crate::source::SourceSpec;
use crate::when;

/// Where the configuration is looked for when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/trailwatch/config.toml";

/// A validated configuration.
pub struct Settings {
    pub path: PathBuf,
    pub state_dir: PathBuf,
    pub language: String,
    pub timezone: TimeZone,
    pub timezone_name: String,
    pub group_window: Duration,
    pub max_delivery_age: Duration,
    pub health_after: Duration,
    pub heartbeat: Option<(i8, i8)>,
    pub metrics_address: Option<std::net::SocketAddr>,
    pub log_format: String,
    pub log_level: Option<String>,
    pub account_aliases: std::collections::BTreeMap<String, String>,
    pub sources: Vec<Arc<SourceSpec>>,
    pub sinks: Vec<SinkSpec>,
    pub rules: RuleSet,
    /// Non-fatal findings (us-east-1 missing…).
    pub warnings: Vec<String>,
}

fn top_error(src: &SourceText, key: &str, msg: String) -> anyhow::Error {
    let off = src
        .text
        .find(&format!("{key} "))
        .or_else(|| src.text.find(key))
        .unwrap_or(0);
    src.error_at(off, format!("{key}: {msg}")).into()
}

impl Settings {
    /// Loads and validates a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Settings> {
        let (cfg, src) = Config::load(path)?;
        Self::from_config(cfg, &src, path)
    }

    pub fn from_config(cfg: Config, src: &SourceText, path: &Path) -> anyhow::Result<Settings> {
        let dur = |v: &Option<String>, key: &str, d: Duration| -> anyhow::Result<Duration> {
            match v {
                None => Ok(d),
                Some(s) => when::duration(s).map_err(|e| top_error(src, key, e)),
            }
        };
        let language = cfg.language.clone().unwrap_or_else(|| "ko".into());
        let mut templates = Templates::new(&language).map_err(|e| top_error(src, "language", e))?;
        let timezone_name = cfg.timezone.clone().unwrap_or_else(|| "UTC".into());
        let timezone = TimeZone::get(&timezone_name).map_err(|e| {
            top_error(src, "timezone", format!("unknown time zone '{timezone_name}' ({e}); use an IANA name such as Asia/Seoul"))
        })?;
        let mut rules = RuleSet::default();
        rules.add_config(&cfg, src)?;
        let mut sources = Vec::new();
        let mut warnings = Vec::new();
        for t in &cfg.sources {
            let s = SourceSpec::parse(t, src)?;
            if sources.iter().any(|o: &Arc<SourceSpec>| o.name == s.name) {
                return Err(src
                    .error_at(
                        t.span().start,
                        format!("a second source is named '{}'", s.name),
                    )
                    .into());
            }
            warnings.extend(s.warnings());
            sources.push(Arc::new(s));
        }
        let mut sinks: Vec<SinkSpec> = Vec::new();
        for t in &cfg.sinks {
            let s = SinkSpec::parse(t, src)?;
            if sinks.iter().any(|o| o.name == s.name) {
                return Err(src
                    .error_at(
                        t.span().start,
                        format!("a second sink is named '{}'", s.name),
                    )
                    .into());
            }
            templates
                .add_overrides(&format!("sink:{}", s.name), &s.templates, &language)
                .map_err(|e| src.error_at(t.span().start, format!("sink '{}': {e}", s.name)))?;
            sinks.push(s);
        }
        for r in rules.all() {
            for s in r.sinks.iter().flatten() {
                if !sinks.iter().any(|k| &k.name == s) {
                    let off = src.text.find(&format!("\"{}\"", r.name)).unwrap_or(0);
                    return Err(src
                        .error_at(
                            off,
                            format!("rule '{}' names sink '{s}', which is not defined", r.name),
                        )
                        .into());
                }
            }
            if let Some(g) = &r.group_window {
                when::duration(g)
                    .map_err(|e| anyhow::anyhow!("rule '{}', group_window: {e}", r.name))?;
            }
            let o = Overrides {
                subject: r.subject_template.clone(),
                body: r.template.clone(),
            };
            if o != Overrides::default() {
                templates
                    .add_overrides(&format!("rule:{}", r.name), &o, &language)
                    .map_err(|e| anyhow::anyhow!("rule '{}': {e}", r.name))?;
            }
        }
        let heartbeat = match &cfg.heartbeat {
            None => None,
            Some(h) => {
                let bad = || {
                    top_error(
                        src,
                        "heartbeat",
                        format!("'{h}' is not a time of day such as \"09:00\""),
                    )
                };
                let (a, b) = h.split_once(':').ok_or_else(bad)?;
                let (hh, mm): (i8, i8) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if !(0..24).contains(&hh) || !(0..60).contains(&mm) {
                    return Err(bad());
                }
                Some((hh, mm))
            }
        };
        let metrics_address = match &cfg.metrics_address {
            None => None,
            Some(a) => Some(a.parse().map_err(|e| {
                top_error(
                    src,
                    "metrics_address",
                    format!("'{a}' is not host:port ({e})"),
                )
            })?),
        };
        let log_format = cfg.log_format.clone().unwrap_or_else(|| "plain".into());
        if !matches!(log_format.as_str(), "plain" | "json") {
            return Err(top_error(
                src,
                "log_format",
                format!("'{log_format}' is not plain or json"),
            ));
        }
        Ok(Settings {
            path: path.to_path_buf(),
            state_dir: cfg
                .state_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(defaults::STATE_DIR)),
            group_window: dur(&cfg.group_window, "group_window", defaults::GROUP_WINDOW)?,
            max_delivery_age: dur(
                &cfg.max_delivery_age,
                "max_delivery_age",
                defaults::MAX_DELIVERY_AGE,
            )?,
            health_after: dur(&cfg.health_after, "health_after", defaults::HEALTH_AFTER)?,
            heartbeat,
            metrics_address,
            log_format,
            log_level: cfg.log_level.clone(),
            account_aliases: cfg.account_aliases.clone(),
            language,
            timezone,
            timezone_name,
            sources,
            sinks,
            rules,
            warnings,
        })
    }

    /// The templates (defaults and overrides), built again for a worker.
    pub fn templates(&self) -> Templates {
        let mut t = Templates::new(&self.language).expect("validated");
        for s in &self.sinks {
            t.add_overrides(&format!("sink:{}", s.name), &s.templates, &self.language)
                .expect("validated");
        }
        for r in self.rules.all() {
            let o = Overrides {
                subject: r.subject_template.clone(),
                body: r.template.clone(),
            };
            if o != Overrides::default() {
                t.add_overrides(&format!("rule:{}", r.name), &o, &self.language)
                    .expect("validated");
            }
        }
        t
    }

    /// A rule's grouping window (its own, or the global one).
    pub fn group_window_of(&self, rule: &str) -> Duration {
        self.rules
            .all()
            .iter()
            .find(|r| r.name == rule)
            .and_then(|r| r.group_window.as_deref())
            .and_then(|g| when::duration(g).ok())
            .unwrap_or(self.group_window)
    }
}
