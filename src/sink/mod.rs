//! Where alerts go: transports only. One file per kind (`console`, `dooray`, `email`, `slack`, `teams`,
//! `pagerduty`, `webhook`), each
//! holding the kind's keys as written, their validation, how it is described, its secrets,
//! opening it, probing it and one delivery attempt. `kind` is the contract every kind keeps;
//! `http` is what every HTTP sink shares (one place turns an HTTP answer into an outcome);
//! `config` reads a `[[sinks]]` table: the keys every sink takes, and the kind's through
//! `SinkKind`, which only dispatches (adding a kind is a file, a variant and an arm);
//! `message` is what a sink is given to send; `open` is an open sink.
//!
//! A sink makes one attempt and reports one of three outcomes; the delivery worker
//! (`delivery/`) decides about retries, order and grouping.

mod config;
pub(crate) mod console;
#[cfg(test)]
mod contract;
pub(crate) mod dooray;
pub(crate) mod email;
pub(crate) mod http;
mod kind;
mod message;
mod open;
pub(crate) mod pagerduty;
pub(crate) mod slack;
pub(crate) mod teams;
pub(crate) mod webhook;

pub(crate) use self::config::SinkSpec;
pub(crate) use self::kind::{OpenError, Outcome};
pub(crate) use self::message::{Format, Message, Render};
pub(crate) use self::open::Sink;
