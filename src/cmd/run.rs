//! `trailwatch run`: the daemon (see `daemon.rs`).

use std::process::ExitCode;

use clap::Args;

use super::common::{CmdError, ConfigArg};
use crate::daemon::{self, Mode};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Poll every source once, deliver what is due, and exit (for cron, tests and trials).
    #[arg(long)]
    pub once: bool,
    /// Print each source's read plan (pushdown) on stderr before starting.
    #[arg(long)]
    pub explain: bool,
}

pub(super) fn run(a: RunArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "info");
    if let Err(e) = crate::settings::usable_dir(&s.state_dir) {
        return Err(CmdError::failure(anyhow::anyhow!(
            "state_dir {}: {e}",
            s.state_dir.display()
        )));
    }
    let rt = super::common::runtime()?;
    rt.block_on(async {
        if a.explain {
            eprint!("{}", super::check::plan(&s).await.text);
        }
        let path = s.path.clone();
        daemon::run(path, s, if a.once { Mode::Once } else { Mode::Forever })
            .await
            .map_err(CmdError::failure)
    })?;
    Ok(ExitCode::SUCCESS)
}
