//! `trailwatch rules list`: the rules that would run, with their language and pattern (or the
//! ATT&CK techniques they cover); `trailwatch rules test`: the rules' own tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::common::{CmdError, RuleArgs};
use crate::config::Config;
use crate::rules::packs::PACKS;
use crate::rules::{attack, testing, RuleSet};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules that would run: name, severity, language, state, origin, title and
    /// pattern; those of the configuration (--config, else TRAILWATCH_CONFIG, else
    /// /etc/trailwatch/config.toml when it exists: its packs, its own rules and overrides,
    /// with its [vars] filled in), or of --rules (the default pack when there is neither).
    #[command(
        after_help = "Examples:\n  trailwatch rules list --config /etc/trailwatch/config.toml\n  trailwatch rules list --rules default,cis,threats --coverage\n  trailwatch rules list --rules threats --json | jq -r .name"
    )]
    List(ListArgs),
    /// Run the rules' tests ([[rules.tests]]: records each rule must match, or must not) and
    /// exit 1 on any failure, naming the rule and the test. Without --config or --rules, the
    /// tests of every built-in pack run.
    Test(TestArgs),
    /// Replay a past window of the configured sources through the rules (the configuration's,
    /// or --rules to try), with exceptions, silences and shadow modes; print per rule what
    /// would have alerted, what the exceptions removed, the top principals and addresses and
    /// the busiest day. Nothing is sent or written.
    #[command(
        after_help = "Examples:\n  trailwatch rules replay --since 30d\n  trailwatch rules replay --rules threats --since 14d --source org-trail\n  trailwatch rules replay --since 2026-11-01T00:00:00Z --until 2026-11-08T00:00:00Z --json"
    )]
    Replay(super::replay::ReplayArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The rules this configuration runs (its rule_packs, [vars] and [[rules]]).
    #[arg(long, short = 'c', value_name = "PATH", conflicts_with_all = ["rules", "filters", "event_patterns"])]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// One JSON object per rule instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The MITRE ATT&CK techniques the enabled rules cover, and the rules of each.
    #[arg(long)]
    pub coverage: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The rules of this configuration (its packs, [vars] and [[rules]]).
    #[arg(long, short = 'c', value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// A built-in pack or a rules file (repeatable, or comma-separated).
    #[arg(long = "rules", value_name = "PACK_OR_FILE", value_delimiter = ',')]
    pub rules: Vec<String>,
    /// Print every test, not only the failures.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// The rules a `rules test` checks: a configuration's, the packs and files given, or every
/// built-in pack.
fn test_set(a: &TestArgs) -> Result<RuleSet, CmdError> {
    let mut set = match &a.config {
        Some(p) => config_set(p)?,
        None => RuleSet::default(),
    };
    for spec in &a.rules {
        set.add_spec(spec).map_err(CmdError::usage)?;
    }
    if a.config.is_none() && a.rules.is_empty() {
        for (name, _) in PACKS {
            set.add_spec(name).map_err(CmdError::usage)?;
        }
    }
    Ok(set)
}

/// The configuration whose rules `rules list` shows: --config; else, without rule options,
/// the one every other command reads (TRAILWATCH_CONFIG, else the installed one), said on
/// standard error so that nobody takes it for the default pack.
fn list_config(a: &ListArgs) -> Option<PathBuf> {
    if a.config.is_some() || !a.rules.is_empty() {
        return a.config.clone();
    }
    let p = std::env::var_os("TRAILWATCH_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let installed = PathBuf::from(crate::settings::DEFAULT_CONFIG);
            installed.exists().then_some(installed)
        })?;
    eprintln!(
        "the rules of {} (--rules default for the pack alone)",
        p.display()
    );
    Some(p)
}

/// The rules of a configuration file, as `run` compiles them.
fn config_set(path: &std::path::Path) -> Result<RuleSet, CmdError> {
    let mut set = RuleSet::default();
    let (cfg, src) = Config::load(path).map_err(CmdError::usage)?;
    set.add_config(&cfg, &src).map_err(CmdError::usage)?;
    Ok(set)
}

/// Runs the tests; prints failures (and passes with `-v`) and a count.
fn test(a: &TestArgs) -> Result<ExitCode, CmdError> {
    let set = test_set(a)?;
    let outcomes = testing::run_all(&set);
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed).collect();
    for o in &outcomes {
        if !o.passed {
            println!("FAILED {} / {}: {}", o.rule, o.test, o.why);
        } else if a.verbose {
            println!("ok     {} / {}", o.rule, o.test);
        }
    }
    let untested: Vec<&str> = set
        .enabled()
        .filter(|r| r.tests.is_empty())
        .map(|r| r.name.as_str())
        .collect();
    println!(
        "{} of {}: {} passed, {} failed{}",
        counted(outcomes.len(), "test"),
        counted(set.enabled().count(), "rule"),
        outcomes.len() - failed.len(),
        failed.len(),
        if untested.is_empty() {
            String::new()
        } else {
            format!("; rules without tests: {}", untested.join(", "))
        }
    );
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// "1 rule", "2 rules".
fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// The ATT&CK techniques of the enabled rules, each with its rules.
fn coverage(set: &RuleSet) -> String {
    let mut by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut none = Vec::new();
    for r in set.enabled() {
        if r.tags.is_empty() {
            none.push(r.name.as_str());
        }
        for t in &r.tags {
            by.entry(t.as_str()).or_default().push(&r.name);
        }
    }
    let sigma = set
        .enabled()
        .filter(|r| r.pattern.sigma().is_some())
        .count();
    let mut out = format!(
        "{} ATT&CK techniques covered by {} enabled rules{}:\n",
        by.len(),
        set.enabled().count(),
        if sigma > 0 {
            format!(" ({sigma} written in Sigma)")
        } else {
            String::new()
        }
    );
    for (t, rules) in &by {
        out.push_str(&format!(
            "{t:<10} {:<62} {}\n",
            attack::name(t).unwrap_or(""),
            rules.join(", ")
        ));
    }
    if !none.is_empty() {
        out.push_str(&format!("rules without a technique: {}\n", none.join(", ")));
    }
    out
}

pub(super) fn run(c: RulesCommand) -> Result<ExitCode, CmdError> {
    let a = match c {
        RulesCommand::List(a) => a,
        RulesCommand::Test(t) => return test(&t),
        RulesCommand::Replay(r) => return super::replay::run(r),
    };
    let set = match list_config(&a) {
        Some(p) => config_set(&p)?,
        None => a.rules.load()?,
    };
    if a.coverage {
        print!("{}", coverage(&set));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    if a.json {
        for r in set.all() {
            let v = serde_json::json!({
                "name": r.name, "title": r.title, "severity": r.severity.to_string(), "subject": r.subject,
                "enabled": r.enabled, "language": r.pattern.language(), "pattern": r.pattern.as_str(),
                "written": set.written(&r.name).map(|(p, x)| serde_json::json!({"pattern": p, "exclude": x})),
                "exclude": r.exclude.iter().map(|x| x.as_str()).collect::<Vec<_>>(), "origin": r.origin,
                "tags": r.tags, "runbook": r.runbook, "does_not_cover": r.does_not_cover,
                "threshold": r.threshold.as_ref().map(|t| serde_json::json!({
                    "count": t.count, "period": humantime::format_duration(t.period).to_string(), "group_by": t.group_by,
                })),
                "first_seen": r.first_seen.as_ref().map(|f| serde_json::json!({
                    "fields": f.fields, "window": crate::when::span(f.window), "learn": crate::when::span(f.learn),
                })),
                "tests": r.tests.len(), "inert": r.inert, "mode": r.mode.name(),
                "exceptions": r.exceptions.iter().map(|x| serde_json::json!({
                    "match": x.when.describe(), "until": x.until.to_string(), "reason": x.reason,
                })).collect::<Vec<_>>(),
            });
            out.push_str(&v.to_string());
            out.push('\n');
        }
    } else {
        out = table(&set);
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The rules as a table: name, severity, language, state, origin, title; then the pattern, its
/// exclusions, its threshold and why it can never match, indented below.
fn table(set: &RuleSet) -> String {
    let mut out = String::new();
    let w = set
        .all()
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!(
        "{:w$}  {:8}  {:13}  {:8}  {:16}  TITLE\n",
        "NAME", "SEVERITY", "LANGUAGE", "STATE", "ORIGIN"
    ));
    for r in set.all() {
        let state = match (r.enabled, &r.inert, r.mode) {
            (false, _, _) => "disabled",
            (true, Some(_), _) => "inert",
            (true, None, crate::rules::quiet::Mode::Shadow) => "shadow",
            (true, None, _) => "enabled",
        };
        let origin = Path::new(&r.origin)
            .file_name()
            .map_or(r.origin.clone(), |f| f.to_string_lossy().into_owned());
        out.push_str(&format!(
            "{:w$}  {:8}  {:13}  {:8}  {:16}  {}\n",
            r.name,
            r.severity.to_string(),
            r.pattern.language(),
            state,
            origin,
            r.title
        ));
        out.push_str(&format!("{:w$}  {}\n", "", r.pattern.as_str()));
        for x in &r.exclude {
            out.push_str(&format!("{:w$}  except {}\n", "", x.as_str()));
        }
        if let Some(t) = &r.threshold {
            out.push_str(&format!(
                "{:w$}  raised at {} matches within {} (by {})\n",
                "",
                t.count,
                humantime::format_duration(t.period),
                t.group_by.join(", ")
            ));
        }
        if let Some(f) = &r.first_seen {
            out.push_str(&format!(
                "{:w$}  raised when {} is new in {} (learning {} per account)\n",
                "",
                f.fields.join(" + "),
                crate::when::span(f.window),
                crate::when::span(f.learn)
            ));
        }
        if let Some(why) = &r.inert {
            out.push_str(&format!("{:w$}  can never match: {why}\n", ""));
        }
        for x in &r.exceptions {
            out.push_str(&format!(
                "{:w$}  exception until {}: {} ({})\n",
                "",
                x.until.strftime("%Y-%m-%d"),
                x.when.describe(),
                x.reason
            ));
        }
    }
    out
}
