//! Logging set-up: `tracing` to standard error, plain lines without timestamps under systemd
//! (journald adds its own) and with them on a terminal, or JSON on request; colours only on a
//! terminal. The level comes from `RUST_LOG`, else the configuration, else the command's
//! default. Whatever the level, the AWS SDK, the HTTP and TLS stacks log at most warnings:
//! their debug output holds request headers, where credentials are (an access key ID in
//! `Authorization`, a session token in `x-amz-security-token`), and their info lines print
//! the credentials' debug form (access key ID included) each time they are loaded.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::filter::{filter_fn, FilterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{registry, EnvFilter, Layer};

/// The crates whose output can carry a credential: capped at `warn`.
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

/// The SDK's credential chain, which warns of each provider that failed with the SDK's
/// debug dump of the error: trailwatch says why credentials could not be had in its own
/// words (`check`, and each call that needs them), so only its errors are let through.
const CREDENTIAL_CHAIN: &[&str] = &["aws_config::meta::credentials", "aws_config::imds"];

/// True when `target` is `module` or inside it.
fn within(target: &str, module: &str) -> bool {
    target
        .strip_prefix(module)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// False for an event of a `CAPPED` crate below `warn` (of the credential chain, below
/// `error`), whatever `RUST_LOG` asked for.
fn allowed(target: &str, level: &Level) -> bool {
    if CREDENTIAL_CHAIN.iter().any(|c| within(target, c)) {
        return *level <= Level::ERROR;
    }
    if *level <= Level::WARN {
        return true;
    }
    !CAPPED.iter().any(|c| within(target, c))
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
    let filter = filter.and(filter_fn(|m| allowed(m.target(), m.level())));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = if format == LogFormat::Json {
        registry().with(layer.json().with_filter(filter)).try_init()
    } else if under_journald {
        registry()
            .with(layer.without_time().with_filter(filter))
            .try_init()
    } else {
        registry().with(layer.with_filter(filter)).try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_crates_say_only_warnings() {
        assert!(!allowed("aws_config::profile", &Level::INFO));
        assert!(!allowed("aws_config", &Level::DEBUG));
        assert!(allowed("aws_config", &Level::WARN));
        assert!(allowed("aws_configurator", &Level::DEBUG));
        assert!(allowed("trailwatch::poll", &Level::DEBUG));
        assert!(!allowed(
            "aws_config::meta::credentials::chain",
            &Level::WARN
        ));
        assert!(!allowed("aws_config::imds::client", &Level::WARN));
        assert!(allowed(
            "aws_config::meta::credentials::chain",
            &Level::ERROR
        ));
    }
}
