//! `trailwatch check`: validates the configuration, prints the plan, and with `--probe` calls
//! each AWS API once and reaches each sink without sending an alert.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::{CmdError, ConfigArg};
use crate::config::Settings;
use crate::sink::Sink;
use crate::source::{self, open_streams};

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Also call each AWS API once with the configured credentials, and connect to each sink
    /// (without sending anything). Reports the exact IAM permission that is missing.
    #[arg(long)]
    pub probe: bool,
    /// Accepted for symmetry with run and backfill: check always prints the plan.
    #[arg(long, hide = true)]
    pub explain: bool,
}

/// The plan of every source and where alerts go.
pub async fn plan(s: &Settings) -> String {
    let mut out = String::new();
    let enabled: Vec<String> = s.rules.enabled().map(|r| r.name.clone()).collect();
    let _ = writeln!(
        out,
        "rules: {} enabled ({})",
        enabled.len(),
        enabled.join(", ")
    );
    for spec in &s.sources {
        out.push_str(&source::explain(spec, &s.rules).await);
    }
    for k in &s.sinks {
        let _ = writeln!(
            out,
            "sink '{}': {} (severity {} and above)",
            k.name,
            k.describe(),
            k.min_severity
        );
    }
    let _ = writeln!(out, "state: {}", s.state_dir.display());
    out
}

pub fn run(a: CheckArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "warn");
    let rt = super::runtime()?;
    rt.block_on(async {
        println!("{}: configuration is valid", s.path.display());
        print!("{}", plan(&s).await);
        for w in &s.warnings {
            println!("warning: {w}");
        }
        if s.sources.is_empty() {
            println!("warning: no [[sources]]: run would watch nothing");
        }
        if s.sinks.is_empty() {
            println!("warning: no [[sinks]]: alerts would go nowhere");
        }
        if !a.probe {
            return Ok(ExitCode::SUCCESS);
        }
        let mut failed = false;
        for spec in &s.sources {
            if let source::SourceKind::Files { path } = &spec.kind {
                let ok = path.is_dir() && std::fs::read_dir(path).is_ok();
                println!(
                    "probe source '{}': {} {}",
                    spec.name,
                    path.display(),
                    if ok {
                        "is readable"
                    } else {
                        "is NOT a readable folder"
                    }
                );
                failed |= !ok;
                continue;
            }
            let streams = open_streams(&Arc::clone(spec))
                .await
                .map_err(CmdError::failure)?;
            for st in streams {
                match st.probe().await {
                    Ok(_) => println!("probe source '{}' ({}): ok", spec.name, st.name),
                    Err(e) => {
                        failed = true;
                        println!("probe source '{}' ({}): FAILED: {e}", spec.name, st.name);
                    }
                }
            }
        }
        for k in &s.sinks {
            let r = match Sink::open(k) {
                Ok(sink) => sink.probe().await,
                Err(e) => Err(e.problem.to_string()),
            };
            match r {
                Ok(m) => println!("probe sink '{}': ok: {m}", k.name),
                Err(e) => {
                    failed = true;
                    println!("probe sink '{}': FAILED: {e}", k.name);
                }
            }
        }
        Ok(if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}
