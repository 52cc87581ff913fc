//! `trailwatch scan`: rules over CloudTrail files, folders or stdin, one JSON line per match.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::common::{CmdError, RuleArgs};
use crate::scan::{scan_paths, Scanner};

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// Print a summary on stderr (default: when stderr is a terminal).
    #[arg(long)]
    pub summary: bool,
    /// Evaluate every record fully, without the literal prefilter (for verification).
    #[arg(long, hide = true)]
    pub no_prefilter: bool,
    /// Read at most this many bytes of a gzip input once decompressed (a decompression bomb
    /// stops there, with an error and exit status 1).
    #[arg(long, value_name = "BYTES", default_value_t = crate::defaults::MAX_FILE_BYTES)]
    pub max_file_bytes: u64,
    /// A MaxMind-format ASN database: rules see each record's `enrich.asn`, `enrich.as_org`,
    /// `enrich.network` (as the daemon does with `[enrich] asn_db`).
    #[arg(long, value_name = "PATH")]
    pub asn_db: Option<PathBuf>,
    /// A MaxMind-format country database: rules see `enrich.country`.
    #[arg(long, value_name = "PATH")]
    pub country_db: Option<PathBuf>,
    /// Files or folders to read; `-` or nothing reads stdin.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

pub(super) fn run(a: ScanArgs) -> Result<ExitCode, CmdError> {
    let set = a.rules.load()?;
    if set.enabled().next().is_none() {
        return Err(CmdError::usage(anyhow::anyhow!(
            "no enabled rules: every rule given is disabled"
        )));
    }
    if let Some(n) = a.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .map_err(CmdError::failure)?;
    }
    let enricher = crate::enrich::Enricher::open(a.asn_db.as_deref(), a.country_db.as_deref())
        .map_err(CmdError::usage)?;
    let mut scanner = Scanner::new(&set).with_enricher(std::sync::Arc::new(enricher));
    scanner.use_prefilter = !a.no_prefilter;
    let paths = if a.paths.is_empty() {
        // Waiting on a terminal without a word looks like a hang.
        if std::io::stdin().is_terminal() {
            eprintln!("trailwatch scan: reading CloudTrail records from standard input (Ctrl-D ends it; give files or folders to scan them instead)");
        }
        vec![PathBuf::from("-")]
    } else {
        a.paths
    };
    let started = Instant::now();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let (report, errors) = match scan_paths(&scanner, &paths, a.max_file_bytes, &mut out) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(CmdError::failure(anyhow::anyhow!("writing output: {e}"))),
    };
    let mut err = std::io::stderr().lock();
    for w in &report.warnings {
        let _ = writeln!(err, "trailwatch: warning: {w}");
    }
    for e in report.unread.iter().chain(&errors) {
        let _ = writeln!(err, "trailwatch: error: {e}");
    }
    if a.summary || std::io::stderr().is_terminal() {
        let total: u64 = report.matches.iter().sum();
        let per_rule: Vec<String> = set
            .enabled()
            .zip(&report.matches)
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{} {n}", r.name))
            .collect();
        let secs = started.elapsed().as_secs_f64();
        let _ = writeln!(
            err,
            "trailwatch: scanned {} input(s), {:.1} MB in {:.2} s ({:.0} MB/s): {total} match(es){}{}",
            report.files,
            report.bytes as f64 / 1e6,
            secs,
            report.bytes as f64 / 1e6 / secs.max(1e-9),
            if per_rule.is_empty() { String::new() } else { format!(" ({})", per_rule.join(", ")) },
            if report.warnings.is_empty() { String::new() } else { format!(", {} malformed record(s) skipped", report.warnings.len()) },
        );
    }
    Ok(if errors.is_empty() && report.unread.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
