//! The `console` sink: prints each alert to standard output (the demo, and a terminal watch).

use std::io::Write;

use super::Outcome;
use crate::delivery::Message;

/// Prints alerts.
pub struct Console;

impl Console {
    pub fn send(&self, m: &Message) -> Outcome {
        let mut out = std::io::stdout().lock();
        let r = writeln!(out, "== {} ==\n{}", m.subject, m.text.trim_end())
            .and_then(|_| writeln!(out))
            .and_then(|_| out.flush());
        match r {
            Ok(()) => Outcome::Delivered,
            Err(e) => Outcome::Retry {
                reason: format!("cannot write to standard output: {e}"),
                after: None,
            },
        }
    }
}
