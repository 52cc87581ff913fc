//! What the commands share: the error that carries an exit code, the `--config` and rule
//! options, the async runtime, and what `run` refuses.

use clap::Args;

use crate::rules::{RulePattern, RuleSet};
use crate::when;
use jiff::Timestamp;

/// An error and the exit code it maps to.
#[derive(Debug)]
pub struct CmdError {
    pub code: u8,
    pub error: anyhow::Error,
}

impl std::fmt::Display for CmdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            write!(f, "{:#}", self.error)
        } else {
            write!(f, "{}", self.error)
        }
    }
}

/// A poll's failure in a command (a backfill's read): exit 1.
impl From<crate::poll::PollError> for CmdError {
    fn from(e: crate::poll::PollError) -> Self {
        CmdError::failure(e)
    }
}

impl CmdError {
    pub fn exit_code(&self) -> u8 {
        self.code
    }

    /// Bad rules, patterns or usage: exit 2.
    pub fn usage(e: impl Into<anyhow::Error>) -> Self {
        CmdError {
            code: 2,
            error: e.into(),
        }
    }

    /// Input that could not be read, or a runtime failure: exit 1.
    pub fn failure(e: impl Into<anyhow::Error>) -> Self {
        CmdError {
            code: 1,
            error: e.into(),
        }
    }
}

/// The configuration file option shared by the commands that read one.
#[derive(Debug, Args, Clone)]
pub struct ConfigArg {
    /// The configuration file.
    #[arg(long, short = 'c', value_name = "PATH", env = "TRAILWATCH_CONFIG", default_value = crate::settings::DEFAULT_CONFIG)]
    pub config: std::path::PathBuf,
}

impl ConfigArg {
    /// Loads and validates it; errors are usage errors (exit 2).
    pub fn load(&self) -> Result<crate::settings::Settings, CmdError> {
        crate::settings::Settings::load(&self.config).map_err(CmdError::usage)
    }
}

/// What keeps a configuration from running, checked as `run` checks it: every sink opens
/// (its secrets can be read, its URL is valid) and the state directory can be written.
/// `skip_external`: sinks whose secrets come from `env:` or `file:` are not opened (a check
/// outside the service, which systemd gives its credentials).
pub(super) fn runnable_problems(s: &crate::settings::Settings, skip_external: bool) -> Vec<String> {
    let mut out: Vec<String> = s
        .sinks
        .iter()
        .filter(|k| !(skip_external && k.has_external_secret()))
        .filter_map(|k| crate::sink::Sink::open(k).err().map(|e| e.to_string()))
        .collect();
    // The status page's token is read when the daemon starts; one it cannot read stops it.
    if let Some(t) = s.operator_token.as_ref().filter(|_| !skip_external) {
        if let Err(e) = t.resolve() {
            out.push(format!("operator_token: {e}"));
        }
    }
    if let Err(e) = crate::settings::usable_dir(&s.state_dir) {
        out.push(format!("state_dir {}: {e}", s.state_dir.display()));
    }
    if let Some(cfg) = &s.instances {
        match crate::instances::setup::exists(cfg) {
            Ok(true) => {}
            Ok(false) => out.push(format!(
                "[state]: DynamoDB table {} does not exist in {}: create it with `trailwatch state init --config {}`",
                cfg.table,
                cfg.region,
                s.path.display()
            )),
            Err(e) => out.push(format!("[state]: {e}")),
        }
    }
    out
}

/// The async runtime of the commands that talk to AWS or sinks.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, CmdError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CmdError::failure)
}

/// The rule options shared by the commands that apply rules.
#[derive(Debug, Args, Clone, Default)]
pub struct RuleArgs {
    /// A built-in pack (default, cis, threats) or a TOML file with `rule_packs`, `[vars]` and
    /// `[[rules]]`. Repeatable, or comma-separated (`--rules default,cis,threats`). Without any
    /// rule option, the `default` pack is used.
    #[arg(long = "rules", value_name = "PACK_OR_FILE", value_delimiter = ',')]
    pub rules: Vec<String>,
    /// An ad-hoc CloudWatch Logs filter pattern, as a rule named filter-N. Repeatable.
    #[arg(long = "filter", value_name = "PATTERN")]
    pub filters: Vec<String>,
    /// An ad-hoc EventBridge event pattern (JSON), as a rule named event-pattern-N. Repeatable.
    #[arg(long = "event-pattern", value_name = "JSON")]
    pub event_patterns: Vec<String>,
}

impl RuleArgs {
    /// True when no rule option was given.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.filters.is_empty() && self.event_patterns.is_empty()
    }

    /// Builds the rule set; errors are usage errors (exit 2).
    pub fn load(&self) -> Result<RuleSet, CmdError> {
        let mut set = RuleSet::default();
        let specs: Vec<&str> =
            if self.rules.is_empty() && self.filters.is_empty() && self.event_patterns.is_empty() {
                vec!["default"]
            } else {
                self.rules.iter().map(String::as_str).collect()
            };
        for s in specs {
            set.add_spec(s).map_err(CmdError::usage)?;
        }
        for (i, f) in self.filters.iter().enumerate() {
            let p = RulePattern::filter(f)
                .map_err(|e| CmdError::usage(anyhow::anyhow!("--filter {f:?}: {e}")))?;
            set.add_adhoc(format!("filter-{}", i + 1), p);
        }
        for (i, e) in self.event_patterns.iter().enumerate() {
            let p = RulePattern::event(e)
                .map_err(|m| CmdError::usage(anyhow::anyhow!("--event-pattern: {m}")))?;
            set.add_adhoc(format!("event-pattern-{}", i + 1), p);
        }
        Ok(set)
    }
}

/// Asks the state a command reads or changes (silences, the history): the daemon on this
/// host, or the state itself when none runs. A shared state (`[state] backend = "dynamodb"`)
/// is read from the table from any host; a change is asked of the instance that holds the
/// lease, through the table.
pub(super) fn ask_state(
    s: &crate::settings::Settings,
    req: &crate::control::Request,
) -> Result<crate::control::Answer, crate::control::ControlError> {
    use crate::control::{ask, daemon_answers, ControlError};
    let Some(cfg) = &s.instances else {
        return ask(&s.state_dir, req);
    };
    if daemon_answers(&s.state_dir) {
        return ask(&s.state_dir, req);
    }
    let refused =
        |e: crate::instances::instance::InstancesError| ControlError::Refused(e.to_string());
    if req.writes() {
        // The instance that holds the lease makes the change, asked through the table.
        if crate::instances::setup::holder(cfg)
            .map_err(refused)?
            .is_none()
        {
            return Err(ControlError::Refused(format!(
                "the state is shared (DynamoDB table {}) and no instance holds it now: a change is made by the instance that works; start one",
                cfg.table
            )));
        }
        let asked = serde_json::to_value(req).expect("a request serializes");
        let a = crate::instances::mailbox::ask(cfg, asked).map_err(refused)?;
        return match serde_json::from_value(a) {
            Ok(crate::control::Answer::Error { error }) => Err(ControlError::Refused(error)),
            Ok(a) => Ok(a),
            Err(e) => Err(ControlError::Refused(format!(
                "the holder's answer is not understood: {e}"
            ))),
        };
    }
    let snap = crate::instances::setup::snapshot(cfg).map_err(refused)?;
    ask(&snap.dir, req)
}

/// The window of `--since` and `--until` (default: now).
pub(super) fn window(since: &str, until: Option<&str>) -> Result<(Timestamp, Timestamp), CmdError> {
    let now = Timestamp::now();
    let at = |flag: &str, w: &str| {
        when::point(w, now).map_err(|e| CmdError::usage(anyhow::anyhow!("{flag}: {e}")))
    };
    let since = at("--since", since)?;
    let until = until.map_or(Ok(now), |u| at("--until", u))?;
    if since >= until {
        return Err(CmdError::usage(anyhow::anyhow!(
            "--since ({since}) must be before --until ({until})"
        )));
    }
    Ok((since, until))
}
