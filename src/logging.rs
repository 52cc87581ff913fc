//! Logging set-up: `tracing` to standard error, plain lines without timestamps under systemd
//! (journald adds its own) and with them on a terminal, or JSON on request; the level comes
//! from `RUST_LOG`, else the configuration, else the command's default.

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (journald adds its own timestamps).
    #[default]
    Plain,
    Json,
}

/// Installs the global subscriber (once; later calls do nothing).
pub(crate) fn init(format: LogFormat, level: Option<&str>, default: &str) {
    let filter = EnvFilter::try_from_default_env()
        .ok()
        .or_else(|| level.and_then(|l| EnvFilter::try_new(l).ok()))
        .unwrap_or_else(|| EnvFilter::new(default));
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if format == LogFormat::Json {
        b.json().try_init()
    } else if under_journald {
        b.without_time().with_ansi(false).try_init()
    } else {
        b.try_init()
    };
}
