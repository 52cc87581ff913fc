//! How commands reach the state while the daemon holds it: sled admits one process, so
//! `trailwatch run` listens on a Unix socket in its state directory (`control.sock`, mode 0600)
//! and answers requests on the state (silences, the alert history) there. When no daemon runs,
//! a command opens the state itself and the same code answers (`ask`).

mod ask;
mod request;
mod serve;

pub(crate) use self::ask::{ask, daemon_answers, ControlError};
pub(crate) use self::request::{answer, end_silences, Answer, Request, HISTORY_PAGE};
pub(crate) use self::serve::Control;
