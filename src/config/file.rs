//! The configuration file as written: the TOML model. `[[sources]]` and `[[sinks]]` stay
//! tables here (each kind parses its own, see `source::config` and `sink::config`); rules are
//! typed, because built-in packs use the same form.
//!
//! Key names follow `config.toml.example` and `../shared/reference/config-sketch.toml`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::location::{ConfigError, SourceText};
pub(crate) use super::rule::RuleConfig;

/// A configuration file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// The whole configuration file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub state_dir: Option<PathBuf>,
    /// Where the state is kept: sled in `state_dir` (the default), or a DynamoDB table several
    /// instances share.
    pub state: Option<StateTable>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    pub group_window: Option<String>,
    #[serde(default)]
    pub sources: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    pub sinks: Vec<Spanned<toml::Table>>,
    /// Account ID → name shown beside it in messages.
    #[serde(default)]
    pub account_aliases: std::collections::BTreeMap<String, String>,
    /// Delivery gives up on an alert after this long, and moves it to the dead letters.
    pub max_delivery_age: Option<String>,
    /// Logging: `plain` (journald-friendly, the default) or `json`; level as RUST_LOG.
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    /// `host:port` of the operator endpoint: the status page, Prometheus metrics, health and
    /// readiness (loopback recommended); off when absent.
    pub metrics_address: Option<String>,
    /// The token the status page asks for when `metrics_address` is beyond loopback
    /// (`credential:NAME`, `env:NAME` or `file:PATH`), sent as `Authorization: Bearer …`.
    pub operator_token: Option<String>,
    /// A failing source or sink raises a health alert after this long (default 15m).
    pub health_after: Option<String>,
    /// Local time of day (HH:MM, in `timezone`) for a daily "still alive" message; off when absent.
    pub heartbeat: Option<String>,
    /// Built-in packs to load: names, or `{ name = "threats", mode = "shadow" }`; absent means
    /// `["default"]`, so that no configuration watches nothing.
    pub rule_packs: Option<Vec<Spanned<toml::Value>>>,
    /// Variables the rules' patterns use (`${name}`): a string or a list of strings each.
    #[serde(default)]
    pub vars: Option<Spanned<toml::Table>>,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Networks of source addresses, from MaxMind-format databases.
    pub enrich: Option<Spanned<EnrichTable>>,
}

/// `[enrich]`: the databases that say which network an address belongs to, as written.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct EnrichTable {
    /// A MaxMind-format ASN database (GeoLite2-ASN, DB-IP ASN Lite, iptoasn).
    pub asn_db: Option<PathBuf>,
    /// A MaxMind-format country database (GeoLite2-Country, DB-IP Country Lite).
    pub country_db: Option<PathBuf>,
}

/// `[state]`: the state's backend, as written.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct StateTable {
    /// `sled` (one host, the default) or `dynamodb` (several instances share `table`).
    pub backend: Option<String>,
    pub table: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// This instance's name (default: the host name).
    pub instance: Option<String>,
    /// How long an instance that stopped answering keeps the work (default 30s).
    pub lease: Option<String>,
}

/// One entry of `rule_packs`: a pack's name, and the mode of all its rules when given.
#[derive(Debug, Clone)]
pub struct PackRef {
    pub name: Spanned<String>,
    /// `live` or `shadow`, as written.
    pub mode: Option<String>,
}

impl Config {
    /// The packs to load: `rule_packs` as written (`"cis"` or `{ name = "cis", mode = "shadow" }`),
    /// `["default"]` when absent.
    pub fn packs(&self, src: &SourceText) -> Result<Vec<PackRef>, ConfigError> {
        let Some(list) = &self.rule_packs else {
            return Ok(vec![PackRef {
                name: Spanned::new(0..0, "default".to_string()),
                mode: None,
            }]);
        };
        list.iter()
            .map(|p| {
                let at = p.span();
                let bad = || {
                    src.error_at(
                        at.start,
                        "a rule_packs entry is a pack name or { name = \"…\", mode = \"shadow\" }",
                    )
                };
                match p.get_ref() {
                    toml::Value::String(s) => Ok(PackRef {
                        name: Spanned::new(at, s.clone()),
                        mode: None,
                    }),
                    toml::Value::Table(t) => {
                        if let Some(k) = t.keys().find(|k| *k != "name" && *k != "mode") {
                            return Err(src.error_at(
                                at.start,
                                format!("unknown key `{k}` in a rule_packs entry (it takes name and mode)"),
                            ));
                        }
                        let name = t.get("name").and_then(|n| n.as_str()).ok_or_else(bad)?;
                        let mode = match t.get("mode") {
                            None => None,
                            Some(m) => Some(m.as_str().ok_or_else(bad)?.to_string()),
                        };
                        Ok(PackRef {
                            name: Spanned::new(at, name.to_string()),
                            mode,
                        })
                    }
                    _ => Err(bad()),
                }
            })
            .collect()
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<(Config, SourceText), FileError> {
        let text = std::fs::read_to_string(path).map_err(|error| FileError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let src = SourceText {
            name: path.display().to_string(),
            text,
        };
        let cfg = Self::parse(&src)?;
        Ok((cfg, src))
    }

    /// Parses configuration text.
    pub fn parse(src: &SourceText) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(&src.text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            src.error_at(offset, e.message().to_string())
        })?;
        // The agreed sketch writes `rule_packs = [...]` after the last [[sources]] table, where
        // TOML makes it a key of that source. It can only mean the top-level key: take it there.
        for t in &mut cfg.sources {
            let start = t.span().start;
            if let Some(v) = t.get_mut().remove("rule_packs") {
                if cfg.rule_packs.is_some() {
                    return Err(src.error_at(
                        start,
                        "rule_packs is given twice (once inside this [[sources]] table)",
                    ));
                }
                let packs = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| Spanned::new(start..start, x.clone()))
                            .collect::<Vec<_>>()
                    })
                    .ok_or_else(|| {
                        src.error_at(start, "rule_packs must be a list of pack names")
                    })?;
                cfg.rule_packs = Some(packs);
            }
        }
        Ok(cfg)
    }
}
