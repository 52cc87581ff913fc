//! The `console` sink: prints each alert to standard output (the demo, and a terminal watch).

use std::io::Write;

use serde::Deserialize;

use super::kind::{Attempt, Kind, Opening, Outcome, Problem, Transport};
use super::message::{Format, Message};

/// A `type = "console"` sink: no keys of its own.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {}

impl Kind for ConsoleConfig {
    fn kind(&self) -> &'static str {
        "console"
    }

    fn default_storm_after(&self) -> usize {
        0
    }

    fn describe(&self) -> String {
        "console (standard output)".into()
    }

    fn open(&self, _: &Opening) -> Result<Box<dyn Transport>, Problem> {
        Ok(Box::new(Console))
    }
}

/// Prints alerts.
pub(crate) struct Console;

impl Console {
    fn print(m: &Message<'_>) -> Outcome {
        let mut out = std::io::stdout().lock();
        let r = writeln!(
            out,
            "== {} ==\n{}",
            m.subject(),
            m.text(Format::Text).trim_end()
        )
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

impl Transport for Console {
    fn send<'a>(&'a self, m: &'a Message<'a>) -> Attempt<'a, Outcome> {
        let out = Console::print(m);
        Box::pin(async move { out })
    }

    fn probe(&self) -> Attempt<'_, Result<String, String>> {
        Box::pin(async { Ok("standard output".to_string()) })
    }
}
