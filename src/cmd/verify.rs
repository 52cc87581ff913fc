//! `trailwatch verify`: a past window of the `s3` sources' trails checked by CloudTrail's
//! signed digests, from the bucket alone (`poll::s3::audit`), as `aws cloudtrail validate-logs`
//! checks them, plus each digest's link to the one before it and the log files no digest
//! lists. One line per finding, then what was verified; exit 1 when anything was found.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::common::{window, CmdError, ConfigArg};
use crate::backoff::Backoff;
use crate::poll::past::Progress as _;
use crate::poll::s3::{audit_place, Audit};
use crate::source::aws::Caller;
use crate::source::s3::Keys;
use crate::source::{open_source, SourceKind, SourceSpec};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  trailwatch verify --since 24h\n  trailwatch verify --source org-trail --since 2026-11-01T00:00:00Z --until 2026-11-08T00:00:00Z --json\n\nExit status: 0 when nothing was found, 1 when something was (or the bucket could not be read), 2 for usage.\nIAM: s3:ListBucket and s3:GetObject on the bucket, cloudtrail:ListPublicKeys."
)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only this `s3` source (default: every one).
    #[arg(long = "source", value_name = "NAME", value_hint = clap::ValueHint::Other)]
    pub source: Option<String>,
    /// Start of the window: an RFC 3339 time or a duration back from now (24h, 7d).
    #[arg(long, value_name = "WHEN")]
    pub since: String,
    /// End of the window (default: now).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// One JSON object per finding, then one with the counts.
    #[arg(long)]
    pub json: bool,
}

/// The `s3` sources to check.
fn chosen(a: &VerifyArgs, all: &[Arc<SourceSpec>]) -> Result<Vec<Arc<SourceSpec>>, CmdError> {
    let s3: Vec<_> = all
        .iter()
        .filter(|s| matches!(s.kind, SourceKind::S3 { .. }))
        .filter(|s| a.source.as_ref().is_none_or(|n| &s.name == n))
        .cloned()
        .collect();
    if s3.is_empty() {
        let what = match &a.source {
            Some(n) => format!("no `s3` source named '{n}'"),
            None => "no `s3` source: digests are in a trail's bucket".into(),
        };
        return Err(CmdError::usage(anyhow::anyhow!(what)));
    }
    Ok(s3)
}

pub(super) fn run(a: VerifyArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "warn");
    let win = window(&a.since, a.until.as_deref())?;
    let specs = chosen(&a, &s.sources)?;
    let mut audit = Audit::default();
    let bar = super::progress::Bars::default();
    bar.spinner();
    super::common::runtime()?.block_on(async {
        for spec in &specs {
            let opened = open_source(spec, &s.account_aliases)
                .await
                .map_err(CmdError::failure)?;
            let Some(trail) = opened.trail else { continue };
            // Checked with the keys whatever `verify_digests` says.
            let (access, clock) = (spec.access.clone(), trail.clock.clone());
            let caller = Caller::new(5.0, Backoff::default(), Arc::default());
            let own = Keys::new(access, clock, caller);
            let keys = trail.keys.as_ref().unwrap_or(&own);
            for place in trail.places().await.map_err(CmdError::failure)? {
                let seen = |a: &Audit| {
                    bar.say(format!(
                        "source '{}' {}: {} digests, {} log files verified, {} findings",
                        spec.name,
                        place.stream(),
                        a.digests,
                        a.log_files,
                        a.findings.len()
                    ))
                };
                audit_place((&trail, keys), &place, win, &mut audit, &seen)
                    .await
                    .map_err(CmdError::failure)?;
            }
        }
        Ok::<_, CmdError>(())
    })?;
    bar.done();
    for f in &audit.findings {
        match a.json {
            true => println!(
                "{}",
                serde_json::to_string(f).expect("a finding serializes")
            ),
            false => println!("{}", crate::text::visible(&f.line())),
        }
    }
    let n = audit.findings.len();
    match a.json {
        true => println!(
            "{}",
            serde_json::json!({"digests": audit.digests, "log_files": audit.log_files, "findings": n})
        ),
        false => println!(
            "{} digests, {} log files verified, {n} findings",
            audit.digests, audit.log_files
        ),
    }
    Ok(if n == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
