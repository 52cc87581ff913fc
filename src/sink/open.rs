//! An open sink: its transport, with every attempt and probe bounded by the sink's `timeout`.

use std::time::Duration;

use super::config::SinkSpec;
use super::kind::{OpenError, Opening, Outcome, Transport};
use super::message::Message;

/// A sink ready to send: its transport, and how long one attempt may take.
pub(crate) struct Sink {
    transport: Box<dyn Transport>,
    timeout: Duration,
}

impl Sink {
    /// Opens a sink: resolves its secrets and builds its client.
    pub(crate) fn open(spec: &SinkSpec) -> Result<Sink, OpenError> {
        let o = Opening {
            timeout: spec.timeout,
            templated: spec.template.is_some(),
        };
        spec.kind
            .entry()
            .open(&o)
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
    pub(crate) async fn send(&self, m: &Message<'_>) -> Outcome {
        match tokio::time::timeout(self.timeout, self.transport.send(m)).await {
            Ok(out) => out,
            Err(_) => Outcome::Retry {
                reason: self.timed_out(),
                after: None,
            },
        }
    }

    /// Checks that the sink can be reached, without sending anything, within its `timeout`.
    pub(crate) async fn probe(&self) -> Result<String, String> {
        tokio::time::timeout(self.timeout, self.transport.probe())
            .await
            .unwrap_or_else(|_| Err(self.timed_out()))
    }
}
