//! Where alerts go: transports only. Each `[[sinks]]` entry (`config`) opens one sink:
//! `dooray` (incoming webhook), `email` (SMTP through lettre) or `console` (standard output).
//! A sink makes one delivery attempt of a rendered `Message` and reports one of three outcomes;
//! the delivery worker (`delivery/`) decides about retries, order and grouping.

pub mod config;
pub mod console;
pub mod dooray;
pub mod email;

use std::time::Duration;

pub use config::{SinkKind, SinkSpec, TlsMode};

use crate::delivery::Message;
use crate::secret::SecretError;

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
    #[error("the webhook URL ({0}) is not a valid URL")]
    BadUrl(String),
    #[error("the webhook URL must be https:// (or http:// for a local relay)")]
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
}

/// A sink ready to send: its transport, and how long one attempt may take.
pub struct Sink {
    transport: Transport,
    timeout: Duration,
}

enum Transport {
    Dooray(dooray::Dooray),
    Email(Box<email::Email>),
    Console(console::Console),
}

impl Sink {
    /// Opens a sink: resolves its secrets and builds its client.
    pub fn open(spec: &SinkSpec) -> Result<Sink, OpenError> {
        let transport = match &spec.kind {
            SinkKind::Dooray {
                url,
                bot_name,
                bot_icon,
            } => url
                .resolve()
                .map_err(Problem::from)
                .and_then(|url| {
                    dooray::Dooray::new(url, bot_name.clone(), bot_icon.clone(), spec.timeout)
                })
                .map(Transport::Dooray),
            SinkKind::Email(e) => {
                email::Email::new(e, spec.timeout).map(|m| Transport::Email(m.into()))
            }
            SinkKind::Console => Ok(Transport::Console(console::Console)),
        };
        transport
            .map(|transport| Sink {
                transport,
                timeout: spec.timeout,
            })
            .map_err(|problem| OpenError {
                sink: spec.name.clone(),
                problem,
            })
    }

    /// One delivery attempt of a rendered message, within the sink's `timeout` whatever the
    /// server does (a server that greets and then says nothing is a retry, not a hang).
    pub async fn send(&self, m: &Message) -> Outcome {
        let attempt = async {
            match &self.transport {
                Transport::Dooray(d) => d.send(m).await,
                Transport::Email(e) => e.send(m).await,
                Transport::Console(c) => c.send(m),
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(out) => out,
            Err(_) => Outcome::Retry {
                reason: format!(
                    "no answer within {} (timeout)",
                    humantime::format_duration(self.timeout)
                ),
                after: None,
            },
        }
    }

    /// Checks that the sink can be reached, without sending anything, within its `timeout`.
    pub async fn probe(&self) -> Result<String, String> {
        let probe = async {
            match &self.transport {
                Transport::Dooray(d) => d.probe().await,
                Transport::Email(e) => e.probe().await,
                Transport::Console(_) => Ok("standard output".into()),
            }
        };
        tokio::time::timeout(self.timeout, probe)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {} (timeout)",
                    humantime::format_duration(self.timeout)
                ))
            })
    }
}
