//! `trailwatch demo`: the quick start with nothing to set up. The example CloudTrail files
//! are built into the binary; they are written into a folder of their own with a
//! configuration that watches it and prints alerts to the terminal, and the daemon runs on it
//! (no AWS account, no network).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::common::{CmdError, ConfigArg};
use super::run::RunArgs;

/// The example files, by their path under the folder.
const FILES: &[(&str, &[u8])] = &[
    (
        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/111122223333_CloudTrail_us-east-1_20261122T0105Z_demoA.json",
        include_bytes!("../../examples/cloudtrail/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/111122223333_CloudTrail_us-east-1_20261122T0105Z_demoA.json"),
    ),
    (
        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/111122223333_CloudTrail_us-east-1_20261122T0115Z_demoB.json.gz",
        include_bytes!("../../examples/cloudtrail/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/111122223333_CloudTrail_us-east-1_20261122T0115Z_demoB.json.gz"),
    ),
];

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the example files, the configuration and the state (default: a new
    /// folder under the temporary directory). Run again on the same folder, it remembers what
    /// it alerted on.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Read the files once, print the alerts and exit.
    #[arg(long)]
    pub once: bool,
}

/// The demo's configuration for `dir`.
fn config(dir: &Path) -> String {
    format!(
        "# trailwatch demo: watches {0}/cloudtrail and prints alerts to the terminal.\nstate_dir = \"{0}/state\"\nlanguage = \"en\"\ngroup_window = \"0s\"\nrule_packs = [\"default\"]\n\n[[sources]]\nname = \"examples\"\ntype = \"files\"\npath = \"{0}/cloudtrail\"\npoll_interval = \"2s\"\n\n[[sinks]]\nname = \"terminal\"\ntype = \"console\"\n",
        dir.display()
    )
}

pub(super) fn run(a: DemoArgs) -> Result<ExitCode, CmdError> {
    let dir = match a.dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("{}-{}", crate::names::DEMO, std::process::id())),
    };
    let io = |what: &Path, e: std::io::Error| {
        CmdError::failure(anyhow::anyhow!("demo: {}: {e}", what.display()))
    };
    for (name, bytes) in FILES {
        let path = dir.join("cloudtrail").join(name);
        let parent = path.parent().expect("a file has a folder");
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
    }
    let cfg = dir.join("demo.toml");
    std::fs::write(&cfg, config(&dir)).map_err(|e| io(&cfg, e))?;
    eprintln!(
        "trailwatch demo: watching {} (the configuration is {}).\nThe three alerts below come from the example files (a root console sign-in, an IAM user created, one deleted; the noise around them raises nothing). Drop more CloudTrail files (.json, .json.gz) there while it runs; Ctrl-C stops it.\n",
        dir.join("cloudtrail").display(),
        cfg.display()
    );
    super::run::run(RunArgs {
        config: ConfigArg { config: cfg },
        once: a.once,
        explain: false,
    })
}
