//! `trailwatch notify-test`: a clearly labelled test alert through each sink, without AWS.

use std::process::ExitCode;

use clap::Args;

use super::common::{CmdError, ConfigArg};
use crate::delivery::Deliverer;
use crate::sink::Outcome;

#[derive(Debug, Args)]
pub struct NotifyArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only this sink.
    #[arg(long, value_name = "NAME", value_hint = clap::ValueHint::Other)]
    pub sink: Option<String>,
}

pub(super) fn run(a: NotifyArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "warn");
    if let Some(n) = &a.sink {
        if !s.sinks.iter().any(|k| &k.name == n) {
            return Err(CmdError::usage(anyhow::anyhow!("no sink named '{n}'")));
        }
    }
    let rt = super::common::runtime()?;
    let results = rt.block_on(async {
        let mut d = Deliverer::open(s.delivery_plan()).map_err(CmdError::failure)?;
        Ok::<_, CmdError>(d.test(a.sink.as_deref()).await)
    })?;
    let mut ok = true;
    for (name, r) in results {
        match r {
            Outcome::Delivered => println!("sink '{name}': delivered"),
            Outcome::Retry { reason, .. } => {
                ok = false;
                println!("sink '{name}': FAILED (would be retried): {reason}");
            }
            Outcome::Park { reason } => {
                ok = false;
                println!("sink '{name}': FAILED (rejected): {reason}");
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
