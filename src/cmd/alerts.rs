//! `trailwatch alerts list|show` and `trailwatch report`: the alert history (90 days of every
//! alert raised, delivered or not, and what became of it), read through the daemon's control
//! socket while it runs, from the state otherwise.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use jiff::Timestamp;

use super::common::{ask_state, CmdError, ConfigArg};
use super::noise::{top, Noise};
use crate::control::{Answer, Request, HISTORY_PAGE};
use crate::rules::quiet::glob;
use crate::state::{HistoryEntry, Status};
use crate::text::{truncate, visible};
use crate::when;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// The alerts raised in a window, oldest first: id, when, what became of them (delivered,
    /// queued, silenced, excepted, shadow, dead, nowhere), rule, event, principal.
    #[command(
        after_help = "Examples:\n  trailwatch alerts list --since 24h\n  trailwatch alerts list --rule 'iam-*' --status silenced --json"
    )]
    List(ListArgs),
    /// One alert: its rules, what became of it at each sink and when, and its record.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Start of the window: a duration back from now (7d) or a time (kept 90 days).
    #[arg(long, default_value = "7d", value_name = "WHEN")]
    pub since: String,
    /// Only the alerts of this rule (or glob of rules).
    #[arg(long, value_name = "NAME", value_hint = clap::ValueHint::Other)]
    pub rule: Option<String>,
    /// Only the alerts that ended so: delivered, queued, silenced, excepted, shadow, dead,
    /// nowhere.
    #[arg(long)]
    pub status: Option<String>,
    /// One JSON object per alert (the record included).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The alert's id (`alerts list` shows it).
    pub id: u64,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The window: a duration back from now (7d) or a time.
    #[arg(long, default_value = "7d", value_name = "WHEN")]
    pub since: String,
    /// One JSON object per rule (the same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// text: a table per rule; json: one object per rule; html: the status page's facts as one
    /// self-contained file (coverage, alerts per day, per rule and principal, delivery,
    /// silences, integrity), to forward or attach.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write the report to this file instead of standard output (html: `report.html`).
    #[arg(long, short, value_name = "FILE", conflicts_with = "send")]
    pub output: Option<std::path::PathBuf>,
    /// Mail the report (as HTML) through every `email` sink instead of writing it, or through
    /// the one --sink names; exit 1 when one did not take it. From cron or a systemd timer:
    /// a weekly report (`OnCalendar=Mon 09:00`).
    #[arg(long)]
    pub send: bool,
    /// With --send: only this sink.
    #[arg(long, requires = "send", value_name = "NAME")]
    pub sink: Option<String>,
}

/// What `report` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Html,
}

/// Every alert raised since `since`, each given to `each` in turn, read a page at a time (a
/// history of any size costs a page of memory); returns the start of the window.
fn history(
    config: &ConfigArg,
    since: &str,
    each: impl FnMut(&HistoryEntry),
) -> Result<Timestamp, CmdError> {
    let s = config.load()?;
    let from = window(since)?;
    history_of(&s, from, each)?;
    Ok(from)
}

/// The start of the window `--since` names.
fn window(since: &str) -> Result<Timestamp, CmdError> {
    when::point(since, Timestamp::now())
        .map_err(|e| CmdError::usage(anyhow::anyhow!("--since: {e}")))
}

/// Every alert raised since `from`, from the daemon or the state, a page at a time.
fn history_of(
    s: &crate::settings::Settings,
    from: Timestamp,
    mut each: impl FnMut(&HistoryEntry),
) -> Result<(), CmdError> {
    let mut after = 0;
    loop {
        let req = Request::History {
            since_ms: when::millis(from),
            after,
        };
        let alerts = match ask_state(s, &req).map_err(CmdError::failure)? {
            Answer::History { alerts } => alerts,
            Answer::Error { error } => return Err(CmdError::failure(anyhow::anyhow!(error))),
            other => {
                return Err(CmdError::failure(anyhow::anyhow!(
                    "unexpected answer: {other:?}"
                )))
            }
        };
        alerts.iter().for_each(&mut each);
        match alerts.last() {
            Some(last) if alerts.len() >= HISTORY_PAGE => after = last.id,
            _ => return Ok(()),
        }
    }
}

/// A record's member as text, for a table cell.
fn member(record: &serde_json::Value, path: &[&str]) -> String {
    path.iter()
        .try_fold(record, |v, k| v.get(k))
        .and_then(|v| v.as_str())
        .unwrap_or("-")
        .to_string()
}

pub(super) fn run(c: AlertsCommand) -> Result<ExitCode, CmdError> {
    match c {
        AlertsCommand::List(a) => list(a),
        AlertsCommand::Show(a) => show(a),
    }
}

fn list(a: ListArgs) -> Result<ExitCode, CmdError> {
    let mut out = std::io::stdout().lock();
    let chosen = |e: &HistoryEntry| {
        a.rule
            .as_ref()
            .is_none_or(|r| e.alert.rules().any(|x| glob(r, x)))
            && a.status.as_ref().is_none_or(|s| e.status.word() == s)
    };
    if a.json {
        history(&a.config, &a.since, |e| {
            if chosen(e) {
                let _ = writeln!(out, "{}", json_line(e));
            }
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    // The header once the state answered (an error is not preceded by an empty table).
    let header = |out: &mut std::io::StdoutLock<'_>| {
        let _ = writeln!(
            out,
            "{:<8} {:<17} {:<10} {:<9} {:<28} {:<24} {:<40} REGION",
            "ID", "EVENT TIME (UTC)", "STATUS", "SEVERITY", "RULE", "EVENT", "PRINCIPAL"
        );
    };
    let mut headed = false;
    history(&a.config, &a.since, |e| {
        if !std::mem::replace(&mut headed, true) {
            header(&mut out);
        }
        if !chosen(e) {
            return;
        }
        let r: serde_json::Value = serde_json::from_str(&e.alert.record).unwrap_or_default();
        let cell = |s: &str, w: usize| truncate(&visible(s), w);
        let _ = writeln!(
            out,
            "{:<8} {:<17} {:<10} {:<9} {:<28} {:<24} {:<40} {}",
            e.id,
            // When it happened (`alerts show` says when it was raised too).
            e.alert.event_time.parse::<Timestamp>().map_or_else(
                |_| cell(&e.alert.event_time, 16),
                |t| { t.strftime("%Y-%m-%d %H:%M").to_string() }
            ),
            e.status.word(),
            e.alert.severity.to_string(),
            cell(&e.alert.rule, 27),
            cell(&member(&r, &["eventName"]), 23),
            cell(&crate::alert::principal_of(&r), 39),
            cell(&member(&r, &["awsRegion"]), 16)
        );
    })?;
    if !headed {
        header(&mut out);
    }
    Ok(ExitCode::SUCCESS)
}

/// One alert of the history as `alerts list --json` prints it.
fn json_line(e: &HistoryEntry) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    v["raised"] = e.raised().to_string().into();
    v["status"] = e.status.word().into();
    match &e.status {
        Status::Silenced { silence, reason } => {
            v["silence"] = (*silence).into();
            v["reason"] = reason.clone().into();
        }
        Status::Excepted { reason } => v["reason"] = reason.clone().into(),
        _ => {}
    }
    v
}

fn show(a: ShowArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    let e = match ask_state(&s, &Request::HistoryEntry { id: a.id }).map_err(CmdError::failure)? {
        Answer::HistoryEntry { alert: Some(e) } => e,
        Answer::HistoryEntry { alert: None } => {
            return Err(CmdError::usage(anyhow::anyhow!(
            "no alert {} in the history (it keeps 90 days; `trailwatch alerts list` shows them)",
            a.id
        )))
        }
        other => {
            return Err(CmdError::failure(anyhow::anyhow!(
                "unexpected answer: {other:?}"
            )))
        }
    };
    print!("{}", describe(&e));
    Ok(ExitCode::SUCCESS)
}

/// One alert of the history, in words.
fn describe(e: &HistoryEntry) -> String {
    let a = &e.alert;
    let v = visible;
    let mut out = format!(
        "alert {}: {}\nrule: {} ({}, {})\n",
        e.id,
        match &e.status {
            Status::Silenced { silence, reason } =>
                format!("silenced by silence {silence}: {}", v(reason)),
            Status::Excepted { reason } => format!("excepted by its rule: {}", v(reason)),
            Status::Shadow => "shadow (its rule runs in shadow mode)".into(),
            other => other.word().to_string(),
        },
        v(&a.rule),
        v(&a.title),
        a.severity
    );
    for x in &a.also {
        out.push_str(&format!(
            "also matched: {} ({}, {})\n",
            v(&x.rule),
            v(&x.title),
            x.severity
        ));
    }
    out.push_str(&format!(
        "event: {} at {} (read by {})\nraised: {}\n",
        v(&a.event_id),
        v(&a.event_time),
        v(&a.source),
        e.raised()
    ));
    for sink in &e.sinks {
        out.push_str(&format!("sink {sink}: {}\n", e.at_sink(sink)));
    }
    if e.sinks.is_empty() {
        out.push_str("sinks: none takes it\n");
    }
    if let Some(err) = &e.last_error {
        out.push_str(&format!("last error: {}\n", v(err)));
    }
    let shown = crate::text::pretty_record(&a.record);
    out.push_str(&format!("record:\n{shown}\n"));
    out
}

/// `trailwatch report`: the week's noise, per rule and per principal; or, as HTML, the
/// status page's facts in one file.
pub(super) fn report(a: ReportArgs) -> Result<ExitCode, CmdError> {
    if a.send {
        return send_report(&a);
    }
    let format = if a.json { ReportFormat::Json } else { a.format };
    let out = match format {
        ReportFormat::Html => report_html(&a)?,
        _ => report_text(&a, format == ReportFormat::Json)?,
    };
    match &a.output {
        Some(path) => {
            std::fs::write(path, out).map_err(|e| {
                CmdError::failure(anyhow::anyhow!("cannot write {}: {e}", path.display()))
            })?;
            eprintln!("report written to {}", path.display());
        }
        None => {
            let _ = std::io::stdout().lock().write_all(out.as_bytes());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The status page's facts over the window, as one self-contained HTML file.
fn report_html(a: &ReportArgs) -> Result<String, CmdError> {
    let s = a.config.load()?;
    Ok(facts_html(&s, &a.since)?.1)
}

/// `report --send`: the report mailed through the email sinks.
fn send_report(a: &ReportArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "warn");
    let chosen: Vec<_> = s
        .sinks
        .iter()
        .filter(|k| k.kind.entry().kind() == "email")
        .filter(|k| a.sink.as_ref().is_none_or(|n| *n == k.name))
        .collect();
    if chosen.is_empty() {
        return Err(CmdError::usage(anyhow::anyhow!(match &a.sink {
            Some(n) => format!("no email sink named '{n}' (the report is mailed by sinks of type = \"email\")"),
            None => "no email sink: the report is mailed by sinks of type = \"email\" (or write it with --format html -o FILE)".into(),
        })));
    }
    let (facts, html) = facts_html(&s, &a.since)?;
    let mail = crate::status::mail::ReportMail::of(&facts, html);
    let fields = crate::alert::fields::Fields {
        title: mail.subject.clone(),
        ..Default::default()
    };
    let rt = super::common::runtime()?;
    let mut ok = true;
    for spec in chosen {
        let out = rt.block_on(async {
            let sink = crate::sink::Sink::open(spec).map_err(CmdError::failure)?;
            Ok::<_, CmdError>(sink.send(&mail.message(&fields)).await)
        })?;
        match out {
            crate::sink::Outcome::Delivered => println!("sink '{}': report sent", spec.name),
            crate::sink::Outcome::Retry { reason, .. } | crate::sink::Outcome::Park { reason } => {
                ok = false;
                println!("sink '{}': FAILED: {reason}", spec.name);
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The facts over the window `--since` names, and their page.
fn facts_html(
    s: &crate::settings::Settings,
    since: &str,
) -> Result<(crate::status::facts::Facts, String), CmdError> {
    use crate::status::facts::{Counting, Facts, Kept, Scope};
    let now = Timestamp::now();
    let from = window(since)?;
    let scope = Scope::of(s);
    let mut counting = Counting::new(&scope, now, Some(from));
    history_of(s, counting.from(), |e| counting.add(e))?;
    let kept: Kept = match ask_state(s, &Request::Kept).map_err(CmdError::failure)? {
        Answer::Kept { kept } => *kept,
        Answer::Error { error } => return Err(CmdError::failure(anyhow::anyhow!(error))),
        other => {
            return Err(CmdError::failure(anyhow::anyhow!(
                "unexpected answer: {other:?}"
            )))
        }
    };
    let facts = Facts::of(&scope, &kept, counting, None, now);
    let title = format!("trailwatch report since {}", facts.since);
    let html = crate::status::page::overview(&facts, &title);
    Ok((facts, html))
}

/// The noise per rule as a table (or one JSON object per rule), and the principals that set
/// off the most alerts.
fn report_text(a: &ReportArgs, json: bool) -> Result<String, CmdError> {
    use std::fmt::Write as _;
    let mut noise = Noise::default();
    let mut who = std::collections::BTreeMap::<String, u64>::new();
    let from = history(&a.config, &a.since, |e| {
        noise.add(&e.alert, e.status.word());
        let r: serde_json::Value = serde_json::from_str(&e.alert.record).unwrap_or_default();
        let p = crate::alert::principal_of(&r);
        if !p.is_empty() {
            *who.entry(p).or_default() += 1;
        }
    })?;
    if json {
        return Ok(noise.json());
    }
    let n = |s: &str| noise.with_status(s);
    let mut out = format!(
        "alerts raised since {}: {} ({} delivered, {} queued, {} silenced, {} excepted, {} shadow, {} dead, {} with nowhere to go)\n\n",
        from.strftime("%Y-%m-%d %H:%M UTC"),
        noise.total(),
        n("delivered"),
        n("queued"),
        n("silenced"),
        n("excepted"),
        n("shadow"),
        n("dead"),
        n("nowhere")
    );
    if noise.total() == 0 {
        return Ok(out);
    }
    out.push_str(&noise.table(&["delivered", "silenced", "excepted", "shadow", "dead"]));
    let _ = writeln!(
        out,
        "\nthe principals that set off the most alerts: {}",
        top(&who, 10)
    );
    Ok(out)
}
