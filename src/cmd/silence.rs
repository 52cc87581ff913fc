//! `trailwatch silence add|list|remove`: quiet a rule's alerts for some records, for a while,
//! without a reload. Silences live in the state; while the daemon runs they go through its
//! control socket, and the next poll honours them.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use jiff::Timestamp;

use super::common::{ask_state, CmdError, ConfigArg};
use crate::control::{Answer, Request};
use crate::names::OwnAlert;
use crate::rules::quiet::{glob, Conditions};
use crate::settings::Settings;
use crate::state::Silence;
use crate::text::visible;
use crate::when;

use crate::state::LONGEST;

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Quiet a rule's alerts on matching records for a while (at most 30 days): they are
    /// recorded in the alert history and counted, not delivered. Prints the silence's id.
    ///
    /// Takes effect at the next poll of a running daemon (through its control socket in the
    /// state directory), or at the next start. trailwatch's own alerts (trailwatch-*) cannot
    /// be silenced.
    #[command(
        after_help = "Examples:\n  trailwatch silence add --rule iam-user-lifecycle --match userIdentity.userName=ci-bot \\\n    --match sourceIPAddress=203.0.113.9 --for 8h --reason \"CI rotates its users today\"\n  trailwatch silence add --rule 'cis-*' --match 'userIdentity.arn=arn:aws:iam::*:role/terraform' \\\n    --for 2h --reason \"the network change window\""
    )]
    Add(AddArgs),
    /// List the silences: id, rule, conditions, end and reason.
    List(ListArgs),
    /// Remove a silence before it ends.
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// A rule's name, or a glob of names (`cis-*`).
    #[arg(long, value_name = "NAME", value_hint = clap::ValueHint::Other)]
    pub rule: String,
    /// A record path and the value it must have (`userIdentity.userName=ci-bot`; `*` in the
    /// value matches anything). Repeatable: all must hold. None: every record of the rule.
    #[arg(long = "match", value_name = "PATH=VALUE")]
    pub matches: Vec<String>,
    /// How long it lasts: 30m, 8h, 7d (at most 30d).
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: String,
    /// Why: shown by `silence list`, in the log and in the alert history.
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// One JSON object per silence.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The silence's id (`silence list` shows it).
    pub id: u64,
}

pub(super) fn run(c: SilenceCommand) -> Result<ExitCode, CmdError> {
    match c {
        SilenceCommand::Add(a) => add(a),
        SilenceCommand::List(a) => list(a),
        SilenceCommand::Remove(a) => remove(a),
    }
}

/// The silence the arguments describe, checked against the configuration's rules.
fn silence_of(a: &AddArgs, s: &Settings, now: Timestamp) -> Result<Silence, CmdError> {
    let usage = |m: String| CmdError::usage(anyhow::anyhow!(m));
    let covered = s.rules.all().iter().any(|r| glob(&a.rule, &r.name));
    // Never trailwatch's own alerts (a health or coverage alert is how it says it went blind);
    // a glob that names rules of the configuration too (`*`) never quiets them (`poll::raise`).
    let own = OwnAlert::ALL.iter().any(|o| glob(&a.rule, o.name()));
    if OwnAlert::is_own(&a.rule) || (own && !covered) {
        return Err(usage(format!(
            "--rule '{}': trailwatch's own alerts (health, coverage, late events, unreadable objects) cannot be silenced: they are how trailwatch says it cannot see",
            a.rule
        )));
    }
    if !covered {
        return Err(usage(format!(
            "--rule '{}' names no rule of {} (`trailwatch rules list --config {}` lists them)",
            a.rule,
            s.path.display(),
            s.path.display()
        )));
    }
    let d = when::duration(&a.duration).map_err(|e| usage(format!("--for: {e}")))?;
    if d.is_zero() || d > LONGEST {
        return Err(usage(format!(
            "--for {}: a silence lasts more than 0s and at most 30d (it must end; use an exception in the configuration for longer)",
            a.duration
        )));
    }
    if a.reason.trim().is_empty() {
        return Err(usage("--reason may not be empty: say why".into()));
    }
    let when = Conditions::parse_pairs(&a.matches).map_err(|e| usage(format!("--match {e}")))?;
    for c in &when.0 {
        if let Some(why) = crate::record_paths::unknown(&c.path) {
            return Err(usage(format!("--match {}: {why}", c.path)));
        }
    }
    // A condition only on what the caller writes can be met by anyone who calls.
    let written: Vec<&str> = (when.0.iter())
        .filter(|c| crate::record_paths::caller_writes(&c.path))
        .map(|c| c.path.as_str())
        .collect();
    if !written.is_empty() {
        let alone = written.len() == when.0.len();
        eprintln!(
            "warning: --match {}: the caller writes {} (anyone can send the same value){}",
            written.join(", "),
            if written.len() == 1 { "it" } else { "them" },
            if alone {
                "; this silence quiets whoever sends it: add a condition AWS writes, such as userIdentity.arn or sourceIPAddress"
            } else {
                ""
            }
        );
    }
    let ms = when::millis(now);
    Ok(Silence {
        id: 0,
        rule: a.rule.clone(),
        when,
        since_ms: ms,
        until_ms: ms + i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        reason: a.reason.clone(),
    })
}

fn add(a: AddArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    let now = Timestamp::now();
    let silence = silence_of(&a, &s, now)?;
    let rules: Vec<&str> = s
        .rules
        .all()
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| glob(&silence.rule, n))
        .collect();
    match ask_state(&s, &Request::AddSilence { silence }).map_err(CmdError::failure)? {
        Answer::Silence { silence } => {
            println!("{}", silence.id);
            eprintln!(
                "silence {} quiets {} ({}) until {} ({} from now): {}",
                silence.id,
                rules.join(", "),
                silence.when.describe(),
                silence.until(),
                a.duration,
                silence.reason
            );
            Ok(ExitCode::SUCCESS)
        }
        other => Err(CmdError::failure(anyhow::anyhow!(
            "unexpected answer: {other:?}"
        ))),
    }
}

fn list(a: ListArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    let Answer::Silences { silences } =
        ask_state(&s, &Request::Silences).map_err(CmdError::failure)?
    else {
        return Err(CmdError::failure(anyhow::anyhow!("unexpected answer")));
    };
    let now = Timestamp::now();
    let mut out = std::io::stdout().lock();
    if a.json {
        for x in &silences {
            let v = serde_json::json!({
                "id": x.id, "rule": x.rule, "match": x.when.describe(), "since": when::from_millis(x.since_ms).to_string(),
                "until": x.until().to_string(), "ended": x.until() <= now, "reason": x.reason,
            });
            let _ = writeln!(out, "{v}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if silences.is_empty() {
        let _ = writeln!(out, "no silences");
        return Ok(ExitCode::SUCCESS);
    }
    let _ = writeln!(
        out,
        "{:<6} {:<24} {:<44} {:<22} REASON",
        "ID", "RULE", "MATCH", "UNTIL"
    );
    for x in &silences {
        let left = if x.until() <= now {
            "ended".to_string()
        } else {
            when::ago(x.until(), now).replace(" ago", " left")
        };
        let _ = writeln!(
            out,
            "{:<6} {:<24} {:<44} {:<22} {}",
            x.id,
            visible(&x.rule),
            visible(&x.when.describe()),
            format!("{} ({left})", x.until().strftime("%Y-%m-%d %H:%M")),
            visible(&x.reason)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn remove(a: RemoveArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    match ask_state(&s, &Request::RemoveSilence { id: a.id }).map_err(CmdError::failure)? {
        Answer::Removed { silence: Some(x) } => {
            eprintln!("silence {} removed (rule {}, {})", x.id, x.rule, x.reason);
            Ok(ExitCode::SUCCESS)
        }
        Answer::Removed { silence: None } => Err(CmdError::usage(anyhow::anyhow!(
            "no silence {} (`trailwatch silence list` shows them)",
            a.id
        ))),
        other => Err(CmdError::failure(anyhow::anyhow!(
            "unexpected answer: {other:?}"
        ))),
    }
}
