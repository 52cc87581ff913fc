//! A command's end: ask the daemon through its socket, or, when no daemon runs, answer on the
//! state opened here.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::request::{answer, Answer, Request, SOCKET};
use crate::state::{State, StateError};

/// Why a request could not be answered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlError {
    #[error("the daemon holds the state in {dir} but its control socket {socket} does not answer ({error}); is it an older trailwatch? Stop it, or wait for it to start")]
    NoAnswer {
        dir: PathBuf,
        socket: PathBuf,
        error: String,
    },
    #[error("control socket {socket}: {error}")]
    Broken { socket: PathBuf, error: String },
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0}")]
    Refused(String),
    #[error("the state in {dir} is another user's ({error}): run this command as the user the daemon runs as (root for the service: `sudo trailwatch …`)")]
    Permission { dir: PathBuf, error: String },
}

/// Asks the daemon that runs on `state_dir`, or answers on the state itself when none does.
pub(crate) fn ask(state_dir: &Path, req: &Request) -> Result<Answer, ControlError> {
    let socket = state_dir.join(SOCKET);
    let ans = match UnixStream::connect(&socket) {
        Ok(s) => exchange(s, req).map_err(|e| ControlError::Broken {
            socket: socket.clone(),
            error: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(ControlError::Permission {
                dir: state_dir.to_path_buf(),
                error: format!("{}: {e}", socket.display()),
            })
        }
        Err(connect) => locally(state_dir, req, &socket, connect)?,
    };
    match ans {
        Answer::Error { error } => Err(ControlError::Refused(error)),
        a => Ok(a),
    }
}

/// Whether a daemon answers on `state_dir`'s socket.
pub(crate) fn daemon_answers(state_dir: &Path) -> bool {
    UnixStream::connect(state_dir.join(SOCKET)).is_ok()
}

/// One request and its answer over the socket.
fn exchange(mut s: UnixStream, req: &Request) -> std::io::Result<Answer> {
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut line = serde_json::to_vec(req).expect("a request serializes");
    line.push(b'\n');
    s.write_all(&line)?;
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer)?;
    serde_json::from_str(&answer).map_err(|e| std::io::Error::other(format!("not an answer: {e}")))
}

/// No daemon answers: the state opened here answers (a state that does not exist yet holds
/// nothing, and is created only to be written).
fn locally(
    dir: &Path,
    req: &Request,
    socket: &Path,
    connect: std::io::Error,
) -> Result<Answer, ControlError> {
    // Only a state that is not there holds nothing: one that cannot be looked at is said.
    match std::fs::metadata(dir.join("db")) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !req.writes() => {
            return Ok(answer_empty(req));
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(ControlError::Permission {
                dir: dir.to_path_buf(),
                error: e.to_string(),
            });
        }
        _ => {}
    }
    match State::open(dir) {
        Ok(st) => Ok(answer(&st, req.clone())),
        Err(StateError::Locked(_)) => Err(ControlError::NoAnswer {
            dir: dir.to_path_buf(),
            socket: socket.to_path_buf(),
            error: connect.to_string(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// What an empty state answers.
fn answer_empty(req: &Request) -> Answer {
    match req {
        Request::Silences => Answer::Silences { silences: vec![] },
        Request::History { .. } => Answer::History { alerts: vec![] },
        Request::HistoryEntry { .. } => Answer::HistoryEntry { alert: None },
        Request::RemoveSilence { .. } => Answer::Removed { silence: None },
        Request::Redrive { .. } => Answer::Redriven { count: 0 },
        Request::Kept => Answer::Kept {
            kept: Box::default(),
        },
        Request::AddSilence { .. } => Answer::Error {
            error: "no state".into(),
        },
    }
}
