//! `trailwatch completions SHELL` and the hidden `trailwatch man`: shell completion scripts
//! and the manual page, generated from the command line's own definition (clap_complete,
//! clap_mangen), so they never disagree with `--help`.

use std::process::ExitCode;

use clap::Args;
use clap_complete::Shell;

use super::common::CmdError;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script of `cmd` (the whole command line) for the shell asked.
pub(super) fn completions(
    a: CompletionsArgs,
    mut cmd: clap::Command,
) -> Result<ExitCode, CmdError> {
    clap_complete::generate(a.shell, &mut cmd, "trailwatch", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The folder the pages are written to: trailwatch.1 and trailwatch-COMMAND.1 per command.
    #[arg(long, value_name = "DIR")]
    pub out: std::path::PathBuf,
}

/// The manual pages: trailwatch(1), and one per command as git has (trailwatch-scan(1),
/// trailwatch-rules-list(1)…), which trailwatch(1) names in its SUBCOMMANDS section.
pub(super) fn man(a: ManArgs, cmd: clap::Command) -> Result<ExitCode, CmdError> {
    std::fs::create_dir_all(&a.out).map_err(CmdError::failure)?;
    let mut written = 0;
    write_pages(&a.out, cmd, "trailwatch", &mut written)?;
    eprintln!("{written} manual pages written to {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

/// What trailwatch(1) ends with: the files it reads and writes, and where to look next.
const MAIN_TAIL: &str = r#".SH FILES
.TP
/etc/trailwatch/config.toml
The configuration every command reads (\-\-config or TRAILWATCH_CONFIG name another).
Every option, commented: /usr/share/doc/trailwatch/config.toml.example.
.TP
/etc/trailwatch/credentials/
The secrets the service loads (systemd LoadCredential=): dooray\-url, aws\-credentials, and any
credential:NAME the configuration reads. Mode 0700, each file 0600.
.TP
/var/lib/trailwatch/
The state: what was read, the alerts raised and their history, silences (the service's
StateDirectory; its own user's alone). Its control.sock lets commands reach the running daemon.
.TP
/lib/systemd/system/trailwatch.service
The service; add to it with systemctl edit trailwatch.
.TP
/usr/share/doc/trailwatch/
README.md, the documentation (operations.md, sources.md, rules.md, detections.md…) and the
examples (trailwatch demo runs them).
.SH SEE ALSO
trailwatch\-run(1), trailwatch\-check(1), trailwatch\-demo(1), trailwatch\-scan(1),
trailwatch\-alerts(1), trailwatch\-silence(1), trailwatch\-verify(1), systemctl(1), journalctl(1)
"#;

/// What every command's page ends with.
const SUB_TAIL: &str = ".SH SEE ALSO
trailwatch(1); the documentation in /usr/share/doc/trailwatch/
";

/// Writes `cmd`'s page as `name`.1, then its visible subcommands' pages.
fn write_pages(
    dir: &std::path::Path,
    cmd: clap::Command,
    name: &str,
    written: &mut usize,
) -> Result<(), CmdError> {
    let cmd = cmd.name(name.to_string()).bin_name(name.replace('-', " "));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .map_err(CmdError::failure)?;
    page.extend_from_slice(
        if name == "trailwatch" {
            MAIN_TAIL
        } else {
            SUB_TAIL
        }
        .as_bytes(),
    );
    std::fs::write(dir.join(format!("{name}.1")), page).map_err(CmdError::failure)?;
    *written += 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        let sub_name = format!("{name}-{}", sub.get_name());
        write_pages(dir, sub.clone(), &sub_name, written)?;
    }
    Ok(())
}
