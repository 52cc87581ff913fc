//! What every sink kind provides (`Kind`: its keys described, checked, opened) and what an open
//! sink answers (`Transport`: one attempt, one probe), with the three outcomes of an attempt.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::message::Message;
use crate::secret::{SecretError, SecretRef};

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered,
    /// Worth trying again (408, 429, 5xx, timeouts, connection errors), not before `after`
    /// when the receiver said so (`Retry-After`).
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Trying again cannot help (other 4xx, a rejected address): the alert is parked.
    Park {
        reason: String,
    },
}

/// A sink that cannot be opened. Never carries a secret.
#[derive(Debug, thiserror::Error)]
#[error("sink '{sink}': {problem}")]
pub(crate) struct OpenError {
    pub sink: String,
    pub problem: Problem,
}

/// Why a sink cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("the URL ({0}) is not a valid URL")]
    BadUrl(String),
    #[error("the URL must be https:// (or http:// for a local relay)")]
    UrlScheme,
    #[error("the URL is plain http:// to {0}, another host: the alerts and the URL's token would cross the network unencrypted. Use https://; plain http:// is for a relay on this host (127.0.0.1, ::1, localhost)")]
    PlainHttpRemote(String),
    #[error("HTTP client: {0}")]
    HttpClient(String),
    #[error("cannot read ca_file {}: {error}", path.display())]
    CaFile {
        path: std::path::PathBuf,
        error: String,
    },
    #[error("TLS set-up: {0}")]
    Tls(String),
    #[error("address '{address}': {error}")]
    Address { address: String, error: String },
    #[error("{0}")]
    Invalid(String),
}

/// A future of one attempt or probe.
pub(super) type Attempt<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A kind's entry (its own keys, as written): what every kind answers.
pub trait Kind {
    /// The kind's name, as `type` writes it.
    fn kind(&self) -> &'static str;
    /// Checks what the keys' types cannot (addresses, required pairs).
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
    /// The sink's address for logs and `check`, with secrets redacted.
    fn describe(&self) -> String;
    /// The secrets it reads.
    fn secrets(&self) -> Vec<&SecretRef> {
        Vec::new()
    }
    /// Messages per second the receiver takes (chat webhooks: about one), when
    /// `max_per_second` is not set; `None`: no pacing.
    fn default_rate(&self) -> Option<f64> {
        None
    }
    /// In one pass, alerts past this many are summed up in one message when `storm_after` is
    /// not set (people's channels: 20; machines want every alert: 0, never).
    fn default_storm_after(&self) -> usize {
        crate::defaults::STORM_AFTER
    }
    /// How long one attempt may take when `timeout` is not set.
    fn default_timeout(&self) -> Duration {
        crate::defaults::HTTP_SINK_TIMEOUT
    }
    /// Resolves its secrets and builds its client.
    fn open(&self, o: &Opening) -> Result<Box<dyn Transport>, Problem>;
}

/// What opening a sink needs besides its kind's keys.
#[derive(Debug, Clone, Copy)]
pub struct Opening {
    /// How long one attempt may take.
    pub timeout: Duration,
    /// The sink has a `template` of its own.
    pub templated: bool,
}

/// An open sink's transport: one delivery attempt, and a reachability probe that sends nothing.
pub trait Transport: Send + Sync {
    fn send<'a>(&'a self, m: &'a Message<'a>) -> Attempt<'a, Outcome>;
    fn probe(&self) -> Attempt<'_, Result<String, String>>;
}
