//! One input (a file of a folder, an S3 object) read record by record: each piece is judged,
//! alerts are raised every `RAISE_EVERY` records (durable as they go, so a huge input holds
//! no alert back and memory stays bounded), and every problem is noted with the input's name.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use jiff::Timestamp;

use super::found::{Found, NoteKind};
use super::raise::{raise_all, Judge};
use super::report::{PollError, PollReport};
use crate::alert::Alert;
use crate::format::stream::{Item, Problem, Witness};
use crate::state::{State, StateError};

/// Records are raised as an input is read, this many at a time.
const RAISE_EVERY: u64 = 10_000;

/// An input to read, and where its alerts go.
pub(super) struct Input<'a> {
    pub source: &'a str,
    /// The file's path, or `s3://bucket/key`.
    pub name: &'a str,
    pub judge: &'a Judge,
    pub state: &'a State,
    /// Where the alerts found go instead of being raised into `state`, as found (before
    /// thresholds): a standby reading for the instance that holds the lease.
    pub collect: Option<&'a Mutex<Vec<Alert>>>,
    pub now: Timestamp,
    /// Set to stop between two records (a shutdown).
    pub stop: &'a AtomicBool,
    /// What happens to an input that could not be read to its end ("it is read again if it
    /// changes").
    pub again: &'a str,
}

/// True for a problem that leaves the rest of an input unread.
pub(super) fn ends_input(p: &Problem) -> bool {
    p.is_incomplete()
        || matches!(
            p,
            Problem::TooLong { .. } | Problem::Read { .. } | Problem::Malformed { .. }
        )
}

/// Reads `i` with `read`, which runs the stream reader with the witness and the handler it is
/// given. Returns what `read` returned, or `None` when the input could not be opened (`read`'s
/// error: noted, and looked at again next time).
pub(super) fn read_input<T>(
    i: &Input<'_>,
    rep: &mut PollReport,
    read: impl FnOnce(&mut dyn Witness, &mut dyn FnMut(Item) -> bool) -> Result<T, String>,
) -> Result<Option<T>, PollError> {
    let mut found = Found::default();
    let mut notes = Found::default();
    let mut failed: Option<StateError> = None;
    let mut since_raise = 0;
    let mut witness = i.judge.eval.witness();
    let mut on = |item: Item| {
        match item {
            Item::Piece(p) => {
                found.check_piece(&i.judge.eval, &p, i.source, i.name);
                since_raise += 1;
                if since_raise >= RAISE_EVERY {
                    since_raise = 0;
                    rep.records += found.records;
                    found.records = 0;
                    notes.absorb(&mut found);
                    if let Err(e) = raise(i, &mut found, rep) {
                        failed = Some(e);
                        return false;
                    }
                    found.alerts.clear();
                }
            }
            Item::Problem(p) if ends_input(&p) => {
                let what = format!("{}; {}", p.show(i.name), i.again);
                notes.note(NoteKind::Unread, i.name, what);
            }
            Item::Problem(p) => notes.note(NoteKind::Skipped, i.name, p.show(i.name)),
        }
        !i.stop.load(Ordering::Relaxed)
    };
    let end = read(&mut witness, &mut on);
    if let Some(e) = failed {
        return Err(e.into());
    }
    let end = match end {
        Ok(end) => end,
        Err(e) => {
            notes.note(NoteKind::Unread, i.name, e);
            rep.tell(i.source, notes);
            return Ok(None);
        }
    };
    rep.records += found.records;
    notes.absorb(&mut found);
    raise(i, &mut found, rep)?;
    rep.tell(i.source, notes);
    Ok(Some(end))
}

/// Raises what was found into the state, or hands it to `collect`.
fn raise(i: &Input<'_>, found: &mut Found, rep: &mut PollReport) -> Result<(), StateError> {
    match i.collect {
        Some(c) => {
            c.lock()
                .expect("the collected alerts")
                .append(&mut found.alerts);
            Ok(())
        }
        None => raise_all(i.judge, i.state, found, i.now, rep),
    }
}
