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

/// A sink ready to send.
pub enum Sink {
    Dooray(dooray::Dooray),
    Email(Box<email::Email>),
    Console(console::Console),
}

impl Sink {
    /// Opens a sink: resolves its secrets and builds its client.
    pub fn open(spec: &SinkSpec) -> Result<Sink, OpenError> {
        let sink = match &spec.kind {
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
                .map(Sink::Dooray),
            SinkKind::Email(e) => email::Email::new(e, spec.timeout).map(|m| Sink::Email(m.into())),
            SinkKind::Console => Ok(Sink::Console(console::Console)),
        };
        sink.map_err(|problem| OpenError {
            sink: spec.name.clone(),
            problem,
        })
    }

    /// One delivery attempt of a rendered message.
    pub async fn send(&self, m: &Message) -> Outcome {
        match self {
            Sink::Dooray(d) => d.send(m).await,
            Sink::Email(e) => e.send(m).await,
            Sink::Console(c) => c.send(m),
        }
    }

    /// Checks that the sink can be reached, without sending anything.
    pub async fn probe(&self) -> Result<String, String> {
        match self {
            Sink::Dooray(d) => d.probe().await,
            Sink::Email(e) => e.probe().await,
            Sink::Console(_) => Ok("standard output".into()),
        }
    }
}
