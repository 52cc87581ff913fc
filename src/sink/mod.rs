//! Where alerts go: transports only. One file per kind (`console`, `dooray`, `email`), each
//! holding the kind's keys as written, their validation, how it is described, its secrets,
//! opening it, probing it and one delivery attempt; `http` is what every HTTP sink shares (one
//! place turns an HTTP answer into an outcome). `config` holds the keys every sink takes and
//! parses a `[[sinks]]` table; `message` is what a sink is given to send. This file only
//! dispatches: adding a kind is a file, a variant and an arm below.
//!
//! A sink makes one attempt and reports one of three outcomes; the delivery worker
//! (`delivery/`) decides about retries, order and grouping.

mod config;
pub mod console;
pub mod dooray;
pub mod email;
pub(crate) mod http;
mod message;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Deserialize;

pub use self::config::SinkSpec;
pub use self::message::{Format, Message, Render};
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
pub struct OpenError {
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
pub type Attempt<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
    /// How long one attempt may take when `timeout` is not set.
    fn default_timeout(&self) -> Duration {
        crate::defaults::HTTP_SINK_TIMEOUT
    }
    /// Resolves its secrets and builds its client.
    fn open(&self, timeout: Duration) -> Result<Box<dyn Transport>, Problem>;
}

/// An open sink's transport: one delivery attempt, and a reachability probe that sends nothing.
pub trait Transport: Send + Sync {
    fn send<'a>(&'a self, m: &'a Message<'a>) -> Attempt<'a, Outcome>;
    fn probe(&self) -> Attempt<'_, Result<String, String>>;
}

/// The kinds of sink, by `type`: each variant holds its kind's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkKind {
    Dooray(dooray::DoorayConfig),
    Email(email::EmailConfig),
    Console(console::ConsoleConfig),
}

impl SinkKind {
    /// The kind's entry, to ask it anything.
    pub fn entry(&self) -> &dyn Kind {
        match self {
            SinkKind::Dooray(c) => c,
            SinkKind::Email(c) => c,
            SinkKind::Console(c) => c,
        }
    }
}

/// A sink ready to send: its transport, and how long one attempt may take.
pub struct Sink {
    transport: Box<dyn Transport>,
    timeout: Duration,
}

impl Sink {
    /// Opens a sink: resolves its secrets and builds its client.
    pub fn open(spec: &SinkSpec) -> Result<Sink, OpenError> {
        spec.kind
            .entry()
            .open(spec.timeout)
            .map(|transport| Sink {
                transport,
                timeout: spec.timeout,
            })
            .map_err(|problem| OpenError {
                sink: spec.name.clone(),
                problem,
            })
    }

    fn timed_out(&self) -> String {
        format!(
            "no answer within {} (timeout)",
            humantime::format_duration(self.timeout)
        )
    }

    /// One delivery attempt of a message, within the sink's `timeout` whatever the server does
    /// (a server that greets and then says nothing is a retry, not a hang).
    pub async fn send(&self, m: &Message<'_>) -> Outcome {
        match tokio::time::timeout(self.timeout, self.transport.send(m)).await {
            Ok(out) => out,
            Err(_) => Outcome::Retry {
                reason: self.timed_out(),
                after: None,
            },
        }
    }

    /// Checks that the sink can be reached, without sending anything, within its `timeout`.
    pub async fn probe(&self) -> Result<String, String> {
        tokio::time::timeout(self.timeout, self.transport.probe())
            .await
            .unwrap_or_else(|_| Err(self.timed_out()))
    }
}
