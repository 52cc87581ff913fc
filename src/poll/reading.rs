//! One input (a file of a folder, an S3 object) read record by record: each piece is judged,
//! and what matches is disposed of as the reader decided (`Disposal`): raised every
//! `RAISE_EVERY` records (durable as they go, so a huge input holds no alert back and memory
//! stays bounded), or kept as found for whoever reads on another's behalf. Every problem is
//! noted with the input's name.

use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;

use super::found::{Found, NoteKind};
use super::raise::{raise_all, raise_staged, Judge};
use super::report::{PollError, PollReport};
use crate::alert::Alert;
use crate::format::stream::{Item, Problem, Witness};
use crate::state::State;

/// Records are raised as an input is read, this many at a time.
const RAISE_EVERY: u64 = 10_000;

/// The most matches one input may hand to another instance: an object with more is left to
/// the instance that holds the lease, which raises as it reads (a crafted object of millions
/// of matches would otherwise be held in memory and never fit the table).
pub(super) const HAND_MOST: usize = 1_000;

/// What becomes of the matches an input holds, decided once by whoever reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposal {
    /// Raised into the state as they are found (the instance that holds the lease; one host),
    /// made durable as they go (a file).
    Raise,
    /// Raised as they are found, made durable by the caller with its batch (an S3 object,
    /// with its read mark and the other objects of its listing or receive).
    Stage,
    /// Kept as found (before thresholds) and returned, at most `HAND_MOST`: a standby reads
    /// for the instance that holds the lease, which raises them.
    Hand,
    /// Kept as found and returned, all of them; nothing is written (backfill, replay).
    Keep,
}

/// An input to read, and where its alerts go.
pub(super) struct Input<'a> {
    pub source: &'a str,
    /// The file's path, or `s3://bucket/key`.
    pub name: &'a str,
    pub judge: &'a Judge,
    /// Where `Disposal::Raise` raises (unused otherwise).
    pub state: Option<&'a State>,
    pub disposal: Disposal,
    pub now: Timestamp,
    /// Set to stop between two records (a shutdown).
    pub stop: &'a AtomicBool,
    /// What happens to an input that could not be read to its end ("it is read again if it
    /// changes").
    pub again: &'a str,
}

/// What reading an input gave: what the reader returned, and the matches kept (none when
/// they were raised).
pub(super) struct Read<T> {
    pub end: T,
    pub kept: Vec<Alert>,
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
/// given. Returns what `read` returned with the matches kept, or `None` when the input could
/// not be opened (`read`'s error: noted, and looked at again next time).
pub(super) fn read_input<T>(
    i: &Input<'_>,
    rep: &mut PollReport,
    read: impl FnOnce(&mut dyn Witness, &mut dyn FnMut(Item) -> bool) -> Result<T, String>,
) -> Result<Option<Read<T>>, PollError> {
    let mut found = Found::default();
    let mut notes = Found::default();
    let mut kept = Vec::new();
    let mut failed: Option<PollError> = None;
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
                    if let Err(e) = dispose(i, &mut found, &mut kept, rep) {
                        failed = Some(e);
                        return false;
                    }
                }
            }
            Item::Problem(p) if ends_input(&p) => {
                let what = format!("{}; {}", p.show(i.name), i.again);
                notes.note(NoteKind::Unread, i.name, what);
            }
            Item::Problem(p) => notes.note(NoteKind::Skipped, i.name, p.show(i.name)),
            Item::Passed(n) => found.records += n,
        }
        !i.stop.load(Ordering::Relaxed)
    };
    let end = read(&mut witness, &mut on);
    if let Some(e) = failed {
        return Err(e);
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
    dispose(i, &mut found, &mut kept, rep)?;
    rep.tell(i.source, notes);
    Ok(Some(Read { end, kept }))
}

/// Raises what was found into the state, or keeps it, as `i.disposal` says.
fn dispose(
    i: &Input<'_>,
    found: &mut Found,
    kept: &mut Vec<Alert>,
    rep: &mut PollReport,
) -> Result<(), PollError> {
    match i.disposal {
        Disposal::Raise | Disposal::Stage => {
            let state = i
                .state
                .expect("an input read to be raised is read with a state");
            match i.disposal {
                Disposal::Raise => raise_all(i.judge, state, found, i.now, rep)?,
                _ => raise_staged(i.judge, state, found, i.now, rep)?,
            }
            found.alerts.clear();
        }
        Disposal::Hand | Disposal::Keep => kept.append(&mut found.alerts),
    }
    if i.disposal == Disposal::Hand && kept.len() > HAND_MOST {
        return Err(PollError::Object(format!(
            "{}: more than {HAND_MOST} matches, too many to hand to the instance that holds the lease: left to it (it reads the object itself)",
            i.name
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::stream::{Piece, Place};
    use crate::rules::evaluate::Evaluator;
    use crate::rules::RuleSet;

    fn create_user(n: usize) -> Item {
        Item::Piece(Piece {
            text: format!(
                r#"{{"eventVersion":"1.08","eventID":"e{n}","eventName":"CreateUser","eventSource":"iam.amazonaws.com","awsRegion":"us-east-1","eventType":"AwsApiCall","recipientAccountId":"111122223333","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"}},"requestParameters":{{"userName":"u{n}"}}}}"#
            ),
            place: Place {
                line: 1,
                index: Some(n),
            },
            element: true,
            notes: Vec::new(),
            witnessed: None,
        })
    }

    /// Reads `n` matching records for another instance: what was collected, or the error (and
    /// how many records were offered before the reading stopped).
    fn collect(n: usize) -> Result<usize, (PollError, usize)> {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        let mut rules = RuleSet::default();
        rules.add_spec("default").unwrap();
        let judge = super::super::Judge::every_sink(Evaluator::new(rules), &["out"]);
        let stop = AtomicBool::new(false);
        let i = Input {
            source: "s",
            name: "s3://b/k",
            judge: &judge,
            state: Some(&state),
            disposal: Disposal::Hand,
            now: jiff::Timestamp::now(),
            stop: &stop,
            again: "",
        };
        let mut rep = PollReport::default();
        let mut offered = 0;
        let read = read_input(&i, &mut rep, |_, on| {
            for k in 0..n {
                offered += 1;
                if !on(create_user(k)) {
                    break;
                }
            }
            Ok(())
        })
        .map_err(|e| (e, offered))?;
        assert_eq!(rep.raised, 0, "nothing raised into the state");
        Ok(read.expect("read").kept.len())
    }

    #[test]
    fn matches_are_collected_up_to_what_may_be_handed_and_not_beyond() {
        assert_eq!(collect(HAND_MOST).unwrap(), HAND_MOST);
        let (e, _) = collect(HAND_MOST + 1).unwrap_err();
        assert!(e.to_string().contains("s3://b/k: more than"), "{e}");
        // A larger input stops at the first raise boundary, not at its end.
        let (e, offered) = collect(3 * RAISE_EVERY as usize).unwrap_err();
        assert!(e.to_string().contains("too many to hand"), "{e}");
        assert_eq!(offered, RAISE_EVERY as usize);
    }
}
