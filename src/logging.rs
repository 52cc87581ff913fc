//! Logging set-up: `tracing` to standard error, plain lines without timestamps under systemd
//! (journald adds its own) and with them on a terminal, or JSON on request; colours only on a
//! terminal. The level comes from `RUST_LOG`, else the configuration, else the command's
//! default. Whatever the level, the AWS SDK, the HTTP and TLS stacks log at most at `info`:
//! their debug and trace output holds request headers, where credentials are (an access key
//! ID in `Authorization`, a session token in `x-amz-security-token`).

use std::io::IsTerminal;

use tracing_subscriber::filter::Directive;
use tracing_subscriber::EnvFilter;

/// The crates whose debug output can carry a credential: capped at `info`.
const CAPPED: &[&str] = &[
    "aws_config",
    "aws_credential_types",
    "aws_runtime",
    "aws_sigv4",
    "aws_smithy_http_client",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_sdk_cloudtrail",
    "aws_sdk_cloudwatchlogs",
    "aws_sdk_s3",
    "aws_sdk_sts",
    "aws_sdk_account",
    "h2",
    "hyper",
    "hyper_util",
    "lettre",
    "reqwest",
    "rustls",
];

/// `filter` with every crate of `CAPPED` at `info` or below, whatever it asked for.
fn capped(mut filter: EnvFilter) -> EnvFilter {
    for c in CAPPED {
        if let Ok(d) = format!("{c}=info").parse::<Directive>() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

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
        .with_env_filter(capped(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = if format == LogFormat::Json {
        b.json().try_init()
    } else if under_journald {
        b.without_time().try_init()
    } else {
        b.try_init()
    };
}
