//! `trailwatch check`: validates the configuration, prints the plan, and with `--probe` calls
//! each AWS API once and reaches each sink without sending an alert.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::{CmdError, ConfigArg};
use crate::config::Settings;
use crate::defaults;
use crate::sink::Sink;
use crate::source::{self, open_source, Opened, SourceKind, SourceSpec};

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Also call each AWS API once with the configured credentials, and connect to each sink
    /// (without sending anything). Reports the exact IAM permission that is missing.
    #[arg(long)]
    pub probe: bool,
    /// Do not read `env:` and `file:` secrets (checking outside the service, which gets them
    /// from systemd): the sinks that use them are not opened.
    #[arg(long)]
    pub skip_secrets: bool,
    /// Accepted for symmetry with run and backfill: check always prints the plan.
    #[arg(long, hide = true)]
    pub explain: bool,
}

/// Every source, opened (AWS sources learn their account; `files` has nothing to open).
pub struct Plan {
    pub sources: Vec<(Arc<SourceSpec>, Option<Opened>)>,
    /// What an operator must hear: configuration and coverage warnings.
    pub warnings: Vec<String>,
    pub text: String,
}

/// Opens every source and puts the plan of each, and where alerts go, into words.
pub async fn plan(s: &Settings) -> Plan {
    let mut text = String::new();
    let mut warnings = s.warnings.clone();
    let enabled: Vec<String> = s.rules.enabled().map(|r| r.name.clone()).collect();
    let _ = writeln!(
        text,
        "rules: {} enabled ({})",
        enabled.len(),
        enabled.join(", ")
    );
    let mut sources = Vec::new();
    for spec in &s.sources {
        let opened = match &spec.kind {
            SourceKind::Files { .. } => None,
            _ => match tokio::time::timeout(
                defaults::DISCOVERY_TIMEOUT,
                open_source(spec, &s.account_aliases),
            )
            .await
            {
                Ok(Ok(o)) => Some(o),
                Ok(Err(e)) => {
                    warnings.push(e.to_string());
                    None
                }
                Err(_) => {
                    warnings.push(format!(
                        "source '{}': AWS did not answer within {}s",
                        spec.name,
                        defaults::DISCOVERY_TIMEOUT.as_secs()
                    ));
                    None
                }
            },
        };
        if let Some(c) = opened.as_ref().and_then(|o| o.coverage.as_ref()) {
            warnings.extend(c.warnings());
        }
        text.push_str(&source::explain(spec, &s.rules, opened.as_ref()));
        sources.push((spec.clone(), opened));
    }
    for k in &s.sinks {
        let _ = writeln!(
            text,
            "sink '{}': {} (severity {} and above)",
            k.name,
            k.describe(),
            k.min_severity
        );
    }
    let _ = writeln!(text, "state: {}", s.state_dir.display());
    Plan {
        sources,
        warnings,
        text,
    }
}

pub fn run(a: CheckArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "warn");
    let rt = super::runtime()?;
    rt.block_on(async {
        let problems = s.runnable_problems(a.skip_secrets);
        if !problems.is_empty() {
            eprintln!(
                "trailwatch: {}: the configuration parses, but `run` would refuse it:",
                s.path.display()
            );
            for p in &problems {
                eprintln!("  {p}");
            }
            return Ok(ExitCode::from(2));
        }
        println!("{}: configuration is valid", s.path.display());
        let plan = plan(&s).await;
        print!("{}", plan.text);
        for w in &plan.warnings {
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
        for (spec, opened) in &plan.sources {
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
            let Some(opened) = opened else {
                failed = true;
                println!(
                    "probe source '{}': FAILED: it could not be opened",
                    spec.name
                );
                continue;
            };
            for st in &opened.streams {
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
