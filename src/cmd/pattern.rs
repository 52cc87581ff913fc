//! `trailwatch pattern test`: one pattern against one event, like EventBridge's
//! `TestEventPattern` and CloudWatch's `TestMetricFilter`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};

use super::common::CmdError;
use crate::pattern::event::EventPattern;
use crate::pattern::filter::FilterPattern;
use crate::record::Record;

#[derive(Debug, Subcommand)]
pub enum PatternCommand {
    /// Test one pattern against one event and print `match` or `no match`.
    ///
    /// With --filter, the file's content is the log message (one trailing newline dropped), as
    /// CloudWatch Logs would see it. With --event-pattern, a CloudTrail record is tested inside
    /// the EventBridge envelope EventBridge would put it in (`source` aws.SERVICE,
    /// `detail-type` "AWS API Call via CloudTrail"…, `detail` the record), as `scan` and the
    /// rules do, and the output says so; an EventBridge event (with `detail-type` and
    /// `detail`) is tested as it is, as TestEventPattern does; --raw tests any JSON as it is.
    ///
    /// Exit status: 0 on match, 1 on no match, 2 when the pattern is invalid or the event
    /// cannot be read (the reason goes to stderr).
    Test(TestArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("pattern").required(true).args(["filter", "event_pattern"])))]
pub struct TestArgs {
    /// A CloudWatch Logs filter pattern.
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
    /// An EventBridge event pattern (JSON).
    #[arg(long, value_name = "JSON")]
    pub event_pattern: Option<String>,
    /// With --event-pattern: test the JSON exactly as given, never wrapped in an envelope.
    #[arg(long, requires = "event_pattern")]
    pub raw: bool,
    /// The event or log message; `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// True when `v` is a CloudTrail record rather than an EventBridge event: the record's own
/// members, no envelope.
fn is_cloudtrail_record(v: &serde_json::Value) -> bool {
    let has = |k: &str| v.get(k).is_some();
    !(has("detail-type") && has("detail")) && has("eventSource") && has("eventName")
}

fn read(path: &PathBuf) -> Result<String, CmdError> {
    let mut s = String::new();
    let r = if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut s).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| s = t)
    };
    r.map_err(|e| CmdError::usage(anyhow::anyhow!("cannot read {}: {e}", path.display())))?;
    Ok(s)
}

pub(super) fn run(c: PatternCommand) -> Result<ExitCode, CmdError> {
    let PatternCommand::Test(a) = c;
    let matched = if let Some(f) = &a.filter {
        let p = FilterPattern::new(f)
            .map_err(|e| CmdError::usage(anyhow::anyhow!("invalid filter pattern: {e}")))?;
        let text = read(&a.file)?;
        let msg = text
            .strip_suffix('\n')
            .map(|m| m.strip_suffix('\r').unwrap_or(m))
            .unwrap_or(&text);
        p.is_match(msg)
    } else {
        let src = a.event_pattern.as_deref().unwrap_or_default();
        let p = EventPattern::new(src).map_err(CmdError::usage)?;
        let text = read(&a.file)?;
        let event: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            CmdError::usage(anyhow::anyhow!(
                "{}: not a JSON event: {e}",
                a.file.display()
            ))
        })?;
        if !event.is_object() {
            return Err(CmdError::usage(anyhow::anyhow!(
                "{}: the event must be a JSON object",
                a.file.display()
            )));
        }
        if !a.raw && is_cloudtrail_record(&event) {
            let record = Record::parse(std::borrow::Cow::Owned(text))
                .map_err(|e| CmdError::usage(anyhow::anyhow!("{}: {e}", a.file.display())))?;
            let source = record.envelope_member("source");
            let detail_type = record.envelope_member("detail-type");
            let said = |v: Option<std::borrow::Cow<'_, serde_json::Value>>| {
                v.map_or("(none)".to_string(), |v| v.to_string())
            };
            eprintln!(
                "note: a CloudTrail record: tested inside the EventBridge envelope, as scan and the rules do (source {}, detail-type {}, detail = the record; --raw tests it as given)",
                said(source),
                said(detail_type)
            );
            p.is_match_with(&|k| record.envelope_member(k))
        } else {
            p.is_match(&event)
        }
    };
    println!("{}", if matched { "match" } else { "no match" });
    Ok(if matched {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
