//! The whole configuration, validated and resolved: state directory, sources, rules, sinks and
//! message settings, with defaults filled in and templates compiled. `check` prints it; `run`,
//! `backfill` and `notify-test` start from it. Every error names the file, line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;

use crate::config::{Config, ConfigError, FileError, SourceText};
use crate::defaults;
use crate::delivery::grouping::Grouping;
use crate::delivery::render::Renderer;
use crate::delivery::router::Router;
use crate::delivery::template::{Overrides, Templates};
use crate::delivery::worker::Plan;
use crate::language::Language;
use crate::logging::LogFormat;
use crate::rules::Evaluator;
use crate::rules::{RuleSet, RulesError};
use crate::sink::SinkSpec;
use crate::source::SourceSpec;
use crate::when;

/// Where the configuration is looked for when `--config` is not given.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/trailwatch/config.toml";

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error(transparent)]
    Rules(#[from] RulesError),
}

/// A validated configuration.
pub struct Settings {
    pub path: PathBuf,
    pub state_dir: PathBuf,
    /// `[state] backend = "dynamodb"`: the table instances share (`None`: sled alone).
    pub instances: Option<crate::instances::config::InstancesConfig>,
    pub language: Language,
    pub timezone: TimeZone,
    pub timezone_name: String,
    pub group_window: Duration,
    pub max_delivery_age: Duration,
    pub health_after: Duration,
    /// Local time of day (hour, minute) of the daily heartbeat.
    pub heartbeat: Option<(i8, i8)>,
    pub metrics_address: Option<std::net::SocketAddr>,
    /// The token the status pages ask for (set whenever `metrics_address` is beyond loopback).
    pub operator_token: Option<crate::secret::SecretRef>,
    pub log_format: LogFormat,
    pub log_level: Option<String>,
    pub account_aliases: BTreeMap<String, String>,
    pub sources: Vec<Arc<SourceSpec>>,
    pub sinks: Vec<SinkSpec>,
    pub rules: RuleSet,
    /// The message templates: defaults in `language`, and every rule's and sink's overrides.
    pub templates: Templates,
    /// Non-fatal findings (us-east-1 missing…).
    pub warnings: Vec<String>,
    /// The networks of source addresses (`[enrich]`'s databases, read at load).
    pub enricher: Arc<crate::enrich::Enricher>,
}

impl Settings {
    /// Loads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let (cfg, src) = Config::load(path)?;
        crate::secret::credentials_beside(path);
        Self::from_config(cfg, &src, path)
    }

    /// Validates a parsed configuration.
    pub fn from_config(
        cfg: Config,
        src: &SourceText,
        path: &Path,
    ) -> Result<Settings, SettingsError> {
        let dur = |v: &Option<String>, key: &str, d: Duration| -> Result<Duration, ConfigError> {
            match v {
                None => Ok(d),
                Some(s) => when::duration(s).map_err(|e| src.error_at_key(key, e)),
            }
        };
        if let Some(l) = &cfg.log_level {
            check_log_level(l).map_err(|e| src.error_at_key("log_level", e))?;
        }
        let language = match &cfg.language {
            None => Language::default(),
            Some(l) => Language::parse(l).map_err(|e| src.error_at_key("language", e))?,
        };
        let timezone_name = cfg.timezone.clone().unwrap_or_else(|| "UTC".into());
        let timezone = TimeZone::get(&timezone_name).map_err(|e| {
            src.error_at_key("timezone", format!("unknown time zone '{timezone_name}' ({e}); use an IANA name such as Asia/Seoul"))
        })?;
        let mut rules = RuleSet::default();
        rules.add_config(&cfg, src)?;
        let (sources, warnings) = parse_sources(&cfg, src)?;
        let sinks = parse_sinks(&cfg, src)?;
        check_rule_sinks(&rules, &sinks, src)?;
        let templates = compile_templates(language, &rules, &sinks, &cfg, src)?;
        let positive = |d: Duration, key: &str| -> Result<Duration, ConfigError> {
            if d.is_zero() {
                Err(src.error_at_key(key, "must be longer than 0s"))
            } else {
                Ok(d)
            }
        };
        let instances = crate::instances::config::parse(cfg.state.as_ref())
            .map_err(|(key, m)| src.error_at_key(key, format!("[state] {m}")))?;
        let enricher = Arc::new(open_enricher(&cfg, src, path)?);
        Ok(Settings {
            path: path.to_path_buf(),
            instances,
            state_dir: cfg
                .state_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(defaults::STATE_DIR)),
            group_window: dur(&cfg.group_window, "group_window", defaults::GROUP_WINDOW)?,
            max_delivery_age: positive(
                dur(
                    &cfg.max_delivery_age,
                    "max_delivery_age",
                    defaults::MAX_DELIVERY_AGE,
                )?,
                "max_delivery_age",
            )?,
            health_after: positive(
                dur(&cfg.health_after, "health_after", defaults::HEALTH_AFTER)?,
                "health_after",
            )?,
            heartbeat: parse_heartbeat(cfg.heartbeat.as_deref(), src)?,
            metrics_address: parse_metrics_address(cfg.metrics_address.as_deref(), src)?,
            operator_token: operator_token(&cfg, src)?,
            log_format: parse_log_format(cfg.log_format.as_deref(), src)?,
            log_level: cfg.log_level.clone(),
            account_aliases: cfg.account_aliases.clone(),
            language,
            timezone,
            timezone_name,
            sources,
            sinks,
            rules,
            templates,
            warnings,
            enricher,
        })
    }

    /// The rules, ready to judge records (alerts titled in the configured language, records
    /// seen with the networks of their addresses).
    pub fn evaluator(&self) -> Evaluator {
        Evaluator::new(self.rules.clone())
            .with_language(self.language)
            .with_enricher(self.enricher.clone())
    }

    /// Where each rule's alerts go: the sinks it names (or all), at or above their floor.
    pub fn router(&self) -> Router {
        Router::new(
            self.sinks.iter().map(|k| (k.name.clone(), k.min_severity)),
            self.rules
                .all()
                .iter()
                .filter_map(|r| Some((r.name.clone(), r.sinks.clone()?))),
        )
    }

    /// What the delivery worker needs (its sinks are opened by `Deliverer::open`).
    pub fn delivery_plan(&self) -> Plan {
        let windows = self
            .rules
            .all()
            .iter()
            .map(|r| (r.name.clone(), self.group_window_of(&r.name)))
            .collect();
        Plan {
            sinks: self.sinks.clone(),
            render: Renderer {
                templates: self.templates.clone(),
                tz: self.timezone.clone(),
                tz_name: self.timezone_name.clone(),
                aliases: self.account_aliases.clone(),
                runbooks: self
                    .rules
                    .all()
                    .iter()
                    .filter_map(|r| {
                        Some((r.name.clone(), r.runbook_in(self.language)?.to_string()))
                    })
                    .collect(),
                event_runbooks: (self.rules.all().iter())
                    .flat_map(|r| {
                        r.events.keys().filter_map(|e| {
                            let text = r.event_runbook_in(e, self.language)?;
                            Some(((r.name.clone(), e.clone()), text.to_string()))
                        })
                    })
                    .collect(),
            },
            grouping: Grouping::new(windows, self.group_window),
            max_age: self.max_delivery_age,
        }
    }

    /// A rule's grouping window (its own, or the global one).
    pub fn group_window_of(&self, rule: &str) -> Duration {
        self.rules
            .get(rule)
            .and_then(|r| r.group_window)
            .unwrap_or(self.group_window)
    }
}

/// The `[[sources]]`, with unique names, and the warnings they give.
fn parse_sources(
    cfg: &Config,
    src: &SourceText,
) -> Result<(Vec<Arc<SourceSpec>>, Vec<String>), ConfigError> {
    let mut sources: Vec<Arc<SourceSpec>> = Vec::new();
    let mut warnings = Vec::new();
    for t in &cfg.sources {
        let s = SourceSpec::parse(t, src)?;
        if sources.iter().any(|o| o.name == s.name) {
            return Err(src.error_at(
                t.span().start,
                format!("a second source is named '{}'", s.name),
            ));
        }
        warnings.extend(s.warnings());
        sources.push(Arc::new(s));
    }
    Ok((sources, warnings))
}

/// The `[[sinks]]`, with unique names.
fn parse_sinks(cfg: &Config, src: &SourceText) -> Result<Vec<SinkSpec>, ConfigError> {
    let mut sinks: Vec<SinkSpec> = Vec::new();
    for t in &cfg.sinks {
        let s = SinkSpec::parse(t, src)?;
        if sinks.iter().any(|o| o.name == s.name) {
            return Err(src.error_at(
                t.span().start,
                format!("a second sink is named '{}'", s.name),
            ));
        }
        sinks.push(s);
    }
    Ok(sinks)
}

/// Every sink a rule names must exist.
fn check_rule_sinks(
    rules: &RuleSet,
    sinks: &[SinkSpec],
    src: &SourceText,
) -> Result<(), ConfigError> {
    for r in rules.all() {
        for s in r.sinks.iter().flatten() {
            if !sinks.iter().any(|k| &k.name == s) {
                let off = src.text.find(&format!("\"{}\"", r.name)).unwrap_or(0);
                return Err(src.error_at(
                    off,
                    format!("rule '{}' names sink '{s}', which is not defined", r.name),
                ));
            }
        }
    }
    Ok(())
}

/// The default templates and every sink's and rule's overrides, compiled once.
fn compile_templates(
    language: Language,
    rules: &RuleSet,
    sinks: &[SinkSpec],
    cfg: &Config,
    src: &SourceText,
) -> Result<Templates, ConfigError> {
    let mut templates = Templates::new(language);
    for (s, t) in sinks.iter().zip(&cfg.sinks) {
        let o = Overrides {
            subject: s.subject_template.clone(),
            body: s.template.clone(),
        };
        templates
            .add_overrides(&format!("sink:{}", s.name), &o)
            .map_err(|e| src.error_at(t.span().start, format!("sink '{}': {e}", s.name)))?;
    }
    for r in rules.all() {
        let o = Overrides {
            subject: r.subject_template.clone(),
            body: r.template.clone(),
        };
        if o != Overrides::default() {
            templates
                .add_overrides(&format!("rule:{}", r.name), &o)
                .map_err(|e| {
                    let off = src.text.find(&format!("\"{}\"", r.name)).unwrap_or(0);
                    src.error_at(off, format!("rule '{}': {e}", r.name))
                })?;
        }
    }
    Ok(templates)
}

fn parse_heartbeat(h: Option<&str>, src: &SourceText) -> Result<Option<(i8, i8)>, ConfigError> {
    let Some(h) = h else { return Ok(None) };
    let bad = || {
        src.error_at_key(
            "heartbeat",
            format!("'{h}' is not a time of day such as \"09:00\""),
        )
    };
    let (a, b) = h.split_once(':').ok_or_else(bad)?;
    let (hh, mm): (i8, i8) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if !(0..24).contains(&hh) || !(0..60).contains(&mm) {
        return Err(bad());
    }
    Ok(Some((hh, mm)))
}

/// The status page's token: asked for when the endpoint is reachable beyond this host (its
/// pages show the alerts, who set them off and the records), and never written in the file.
fn operator_token(
    cfg: &crate::config::file::Config,
    src: &SourceText,
) -> Result<Option<crate::secret::SecretRef>, ConfigError> {
    let addr = parse_metrics_address(cfg.metrics_address.as_deref(), src)?;
    let token = cfg
        .operator_token
        .as_deref()
        .map(crate::secret::SecretRef::new);
    match (token, addr) {
        (Some(t), _) if !t.is_external() => Err(src.error_at_key(
            "operator_token",
            "write where the token is read from, not the token: \"credential:NAME\" (systemd's LoadCredential=), \"env:NAME\" or \"file:PATH\"".to_string(),
        )),
        (None, Some(a)) if !a.ip().is_loopback() => Err(src.error_at_key(
            "metrics_address",
            format!("{a} is reachable beyond this host, and the status page there shows alerts and their records: set operator_token = \"credential:operator-token\" (asked for as Authorization: Bearer …), or bind 127.0.0.1 and reach it over an SSH tunnel"),
        )),
        (t, _) => Ok(t),
    }
}

fn parse_metrics_address(
    a: Option<&str>,
    src: &SourceText,
) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    a.map(|a| {
        a.parse().map_err(|e| {
            src.error_at_key("metrics_address", format!("'{a}' is not host:port ({e})"))
        })
    })
    .transpose()
}

fn parse_log_format(f: Option<&str>, src: &SourceText) -> Result<LogFormat, ConfigError> {
    match f {
        None | Some("plain") => Ok(LogFormat::Plain),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => {
            Err(src.error_at_key("log_format", format!("'{other}' is not plain or json")))
        }
    }
}

/// A directory that exists or can be created, and can be written (a file is created and
/// removed in it, or in its nearest existing parent).
pub(crate) fn usable_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err("is not a directory".into());
    }
    let mut at = dir;
    while !at.exists() {
        at = at.parent().ok_or("has no existing parent")?;
    }
    if !at.is_dir() {
        return Err(format!("{} is not a directory", at.display()));
    }
    let probe = at.join(format!(".trailwatch-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| format!("cannot be written ({e})"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// A log level (`info`), or directives `target=level` separated by commas.
fn check_log_level(l: &str) -> Result<(), String> {
    const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];
    let bad = || {
        format!("'{l}' is not a level (trace, debug, info, warn, error, off) or a filter such as \"info,trailwatch=debug\"")
    };
    for d in l.split(',').map(str::trim) {
        let level = d.rsplit_once('=').map_or(d, |(_, lv)| lv);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(bad());
        }
    }
    tracing_subscriber::EnvFilter::try_new(l).map_err(|e| format!("{} ({e})", bad()))?;
    Ok(())
}

/// Opens `[enrich]`'s databases; a path is relative to the configuration file's folder.
fn open_enricher(
    cfg: &Config,
    src: &SourceText,
    path: &Path,
) -> Result<crate::enrich::Enricher, ConfigError> {
    let Some(e) = &cfg.enrich else {
        return Ok(crate::enrich::Enricher::default());
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let at = |p: &Option<PathBuf>| p.as_ref().map(|p| dir.join(p));
    let (asn, country) = (at(&e.get_ref().asn_db), at(&e.get_ref().country_db));
    crate::enrich::Enricher::open(asn.as_deref(), country.as_deref())
        .map_err(|err| src.error_at(e.span().start, err.to_string()))
}
