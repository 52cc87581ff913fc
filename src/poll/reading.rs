//! One input (a file of a folder, an S3 object) read record by record: each piece is judged
//! (on every core, while the input is still being read), and what matches is disposed of as
//! the reader decided (`Disposal`): raised every `RAISE_EVERY` records (durable as they go, so a
//! huge input holds no alert back and memory stays bounded), or kept as found for whoever reads
//! on another's behalf, or for a backfill, handed back as it is found. Every problem is noted
//! with the input's name.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use jiff::Timestamp;
use rayon::prelude::*;

use super::found::{Found, NoteKind};
use super::raise::{raise_all, raise_staged, Judge};
use super::report::{PollError, PollReport};
use crate::alert::Alert;
use crate::format::stream::{Item, Piece, Problem, Witness};
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
    let mut kept = Vec::new();
    let end = read_input_handing(i, rep, read, &mut |alerts| kept.extend(alerts))?;
    Ok(end.map(|end| Read { end, kept }))
}

/// `read_input`, the matches kept (`Disposal::Hand`, `Keep`) handed to `hand` on this thread
/// as they are found, a raise's worth at a time (a backfill prints them as it reads: memory
/// stays bounded whatever the input holds).
///
/// Reading, judging and raising overlap, each on its own thread: this one reads and hands
/// what it read, a batch at a time, to the judging thread, which judges each batch's records
/// on every core, in the order they were read, and hands what it found every `RAISE_EVERY`
/// records to the raising thread. Few batches wait between them (memory stays bounded); a
/// raise that fails stops the judging and the reading at their next hand-over, at most one
/// raise's records and a few batches later.
pub(super) fn read_input_handing<T>(
    i: &Input<'_>,
    rep: &mut PollReport,
    read: impl FnOnce(&mut dyn Witness, &mut dyn FnMut(Item) -> bool) -> Result<T, String>,
    hand: &mut dyn FnMut(Vec<Alert>),
) -> Result<Option<T>, PollError> {
    let mut witness = i.judge.eval.witness();
    let (to_judge, batches) = std::sync::mpsc::sync_channel(Batch::AHEAD);
    // Handed over when the raising thread takes it: one raise judged ahead, no more.
    let (to_raise, founds) = std::sync::mpsc::sync_channel(0);
    let (to_hand, kept) = std::sync::mpsc::channel();
    let (end, raised) = std::thread::scope(|s| {
        s.spawn(|| judge_batches(i, batches, to_raise));
        let raising = s.spawn(|| raise_founds(i, founds, to_hand, rep));
        let mut batch = Batch::default();
        let mut on = |item: Item| {
            let stop = i.stop.load(Ordering::Relaxed);
            if batch.push(item) || stop {
                // The judging thread is gone when a raise failed: read no further.
                if to_judge.send(batch.take()).is_err() {
                    return false;
                }
                kept.try_iter().for_each(&mut *hand);
            }
            !stop
        };
        let end = read(&mut witness, &mut on);
        let _ = to_judge.send(batch.take());
        drop(to_judge);
        // Until the raising thread ends (and drops its sender).
        kept.iter().for_each(&mut *hand);
        let raised = (raising.join()).unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (end, raised)
    });
    let Raised { mut notes, failed } = raised;
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
    rep.tell(i.source, notes);
    Ok(Some(end))
}

/// What the reader has read and not yet handed to the judging thread.
#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    bytes: usize,
}

impl Batch {
    /// The most items, and bytes of records' text, in one batch.
    const ITEMS: usize = 2048;
    const BYTES: usize = 8 << 20;
    /// Batches waiting for the judging thread, at most (besides the one it judges).
    const AHEAD: usize = 2;
    /// Pieces judged by one task.
    const TASK: usize = 64;

    /// Keeps `item`; true when the batch is full.
    fn push(&mut self, item: Item) -> bool {
        if let Item::Piece(p) = &item {
            self.bytes += p.text.len();
        }
        self.items.push(item);
        self.items.len() >= Self::ITEMS || self.bytes >= Self::BYTES
    }

    fn take(&mut self) -> Vec<Item> {
        self.bytes = 0;
        std::mem::take(&mut self.items)
    }
}

/// The judging thread: judges every batch received, in order (its pieces on every core, a
/// problem said after the pieces read before it), and hands what it found to the raising
/// thread every `RAISE_EVERY` records and at the end. Returns when the raising thread is gone.
fn judge_batches(i: &Input<'_>, batches: Receiver<Vec<Item>>, to_raise: SyncSender<Found>) {
    let mut j = Judged {
        found: Found::default(),
        since_raise: 0,
        to_raise,
    };
    let mut pieces = Vec::new();
    for items in batches {
        for item in items {
            match item {
                Item::Piece(p) => pieces.push(p),
                Item::Passed(n) => j.found.records += n,
                Item::Problem(p) => {
                    if !j.judge(i, &mut pieces) {
                        return;
                    }
                    if ends_input(&p) {
                        let what = format!("{}; {}", p.show(i.name), i.again);
                        j.found.note(NoteKind::Unread, i.name, what);
                    } else {
                        j.found.note(NoteKind::Skipped, i.name, p.show(i.name));
                    }
                }
            }
        }
        if !j.judge(i, &mut pieces) {
            return;
        }
    }
    let _ = j.to_raise.send(j.found);
}

/// What the judging thread found since its last hand-over to the raising thread.
struct Judged {
    found: Found,
    /// Records judged since the last hand-over.
    since_raise: u64,
    to_raise: SyncSender<Found>,
}

impl Judged {
    /// Judges `pieces` (emptied) on every core, in order, handing what was found over every
    /// `RAISE_EVERY` records; false when the raising thread is gone.
    fn judge(&mut self, i: &Input<'_>, pieces: &mut Vec<Piece>) -> bool {
        let mut rest = &pieces[..];
        while !rest.is_empty() {
            let room = (RAISE_EVERY - self.since_raise) as usize;
            let (now, later) = rest.split_at(room.min(rest.len()));
            rest = later;
            let parts: Vec<Found> = (now.par_chunks(Batch::TASK))
                .map(|ps| Found::judged(&i.judge.eval, ps, i.source, i.name))
                .collect();
            parts
                .into_iter()
                .for_each(|mut p| self.found.append(&mut p));
            self.since_raise += now.len() as u64;
            if self.since_raise >= RAISE_EVERY {
                self.since_raise = 0;
                if self.to_raise.send(std::mem::take(&mut self.found)).is_err() {
                    return false;
                }
            }
        }
        pieces.clear();
        true
    }
}

/// What the raising thread did: the notes of every record, the raise that failed.
#[derive(Default)]
struct Raised {
    notes: Found,
    failed: Option<PollError>,
}

/// The raising thread: raises what the judging thread found, in order, or hands it back to
/// the reading thread (`to_hand`: the matches kept); stops at the first raise that fails
/// (dropping `founds` stops the judging).
fn raise_founds(
    i: &Input<'_>,
    founds: Receiver<Found>,
    to_hand: std::sync::mpsc::Sender<Vec<Alert>>,
    rep: &mut PollReport,
) -> Raised {
    let mut r = Raised::default();
    let mut handed = 0;
    for mut found in founds {
        rep.records += std::mem::take(&mut found.records);
        r.notes.absorb(&mut found);
        let kept = match dispose(i, &mut found, rep) {
            Ok(kept) => kept,
            Err(e) => {
                r.failed = Some(e);
                break;
            }
        };
        handed += kept.len();
        if i.disposal == Disposal::Hand && handed > HAND_MOST {
            r.failed = Some(PollError::Object(format!(
                "{}: more than {HAND_MOST} matches, too many to hand to the instance that holds the lease: left to it (it reads the object itself)",
                i.name
            )));
            break;
        }
        if !kept.is_empty() && to_hand.send(kept).is_err() {
            break;
        }
    }
    r
}

/// Raises what was found into the state, or returns it to be kept, as `i.disposal` says.
fn dispose(
    i: &Input<'_>,
    found: &mut Found,
    rep: &mut PollReport,
) -> Result<Vec<Alert>, PollError> {
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
            Ok(Vec::new())
        }
        Disposal::Hand | Disposal::Keep => Ok(std::mem::take(&mut found.alerts)),
    }
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

    /// `f` with an input read into `disposal`, judged by the default pack (a fresh state).
    fn with_input<R>(disposal: Disposal, f: impl FnOnce(&Input<'_>) -> R) -> R {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        let mut rules = RuleSet::default();
        rules.add_spec("default").unwrap();
        let judge = super::super::Judge::every_sink(Evaluator::new(rules), &["out"]);
        let stop = AtomicBool::new(false);
        f(&Input {
            source: "s",
            name: "s3://b/k",
            judge: &judge,
            state: Some(&state),
            disposal,
            now: jiff::Timestamp::now(),
            stop: &stop,
            again: "",
        })
    }

    /// Reads the items `feed` offers (it is told whether to go on) into `disposal`: the read
    /// (matches kept, in order) and what was reported, or the error.
    fn read_with(
        disposal: Disposal,
        feed: impl FnOnce(&mut dyn FnMut(Item) -> bool),
    ) -> Result<(Read<()>, PollReport), PollError> {
        with_input(disposal, |i| {
            let mut rep = PollReport::default();
            let read = read_input(i, &mut rep, |_, on| {
                feed(on);
                Ok(())
            })?;
            Ok((read.expect("read"), rep))
        })
    }

    /// Reads `n` matching records for another instance: what was collected, or the error (and
    /// how many records were offered before the reading stopped).
    fn collect(n: usize) -> Result<usize, (PollError, usize)> {
        let mut offered = 0;
        let read = read_with(Disposal::Hand, |on| {
            for k in 0..n {
                offered += 1;
                if !on(create_user(k)) {
                    break;
                }
            }
        })
        .map_err(|e| (e, offered))?;
        assert_eq!(read.1.raised, 0, "nothing raised into the state");
        Ok(read.0.kept.len())
    }

    #[test]
    fn kept_matches_are_handed_on_while_the_input_is_read_not_at_its_end() {
        let n = 5 * RAISE_EVERY as usize;
        let offered = std::cell::Cell::new(0);
        let (mut handed, mut first_at) = (Vec::new(), None);
        let mut hand = |alerts: Vec<Alert>| {
            first_at.get_or_insert(offered.get());
            handed.extend(alerts.into_iter().map(|a| a.event_id));
        };
        let mut rep = PollReport::default();
        let read = |_: &mut dyn Witness, on: &mut dyn FnMut(Item) -> bool| {
            for k in 0..n {
                offered.set(k + 1);
                assert!(on(create_user(k)));
            }
            Ok(())
        };
        with_input(Disposal::Keep, |i| {
            read_input_handing(i, &mut rep, read, &mut hand)
        })
        .unwrap();
        let want: Vec<String> = (0..n).map(|k| format!("e{k}")).collect();
        assert_eq!(handed, want, "every match, once, in order");
        // One raise judged ahead, and a few batches read ahead of the judging, at most.
        let most = 2 * RAISE_EVERY as usize + (Batch::AHEAD + 3) * Batch::ITEMS;
        let first = first_at.expect("handed");
        assert!(
            first <= most,
            "first matches handed after {first} records, not by {most}"
        );
    }

    #[test]
    fn records_of_many_batches_are_judged_in_the_order_read_and_problems_said() {
        let n = 3 * Batch::ITEMS + 17;
        let (read, rep) = read_with(Disposal::Keep, |on| {
            for k in 0..n {
                if k == Batch::ITEMS + 5 {
                    on(Item::Problem(Problem::Read {
                        error: "a broken piece".into(),
                        corrupt: false,
                    }));
                }
                assert!(on(create_user(k)));
            }
        })
        .unwrap();
        let ids: Vec<&str> = read.kept.iter().map(|a| a.event_id.as_str()).collect();
        let want: Vec<String> = (0..n).map(|k| format!("e{k}")).collect();
        assert_eq!(ids, want, "one alert per record, in the order read");
        assert_eq!(rep.records, n as u64);
        assert_eq!(rep.notes.len(), 1, "{:?}", rep.notes);
        assert!(
            rep.notes[0].what.contains("a broken piece"),
            "{:?}",
            rep.notes
        );
    }

    #[test]
    fn matches_are_collected_up_to_what_may_be_handed_and_not_beyond() {
        assert_eq!(collect(HAND_MOST).unwrap(), HAND_MOST);
        let (e, _) = collect(HAND_MOST + 1).unwrap_err();
        assert!(e.to_string().contains("s3://b/k: more than"), "{e}");
        // A larger input stops soon after the first raise boundary, not at its end: the
        // judging thread has judged at most the next raise's records, and the reader is at most
        // a few batches ahead of it.
        let (e, offered) = collect(6 * RAISE_EVERY as usize).unwrap_err();
        assert!(e.to_string().contains("too many to hand"), "{e}");
        let most = 2 * RAISE_EVERY as usize + (Batch::AHEAD + 2) * Batch::ITEMS;
        assert!(
            offered <= most,
            "{offered} records offered, more than {most}"
        );
    }
}
