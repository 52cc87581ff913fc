//! A `files` source's folder: every file ready (complete, new or changed) read record by
//! record, its alerts raised as it goes, and what was read of it marked.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;

use super::found::{Found, NoteKind};
use super::{raise_all, PollError, PollReport};
use crate::format::stream::{Item, Problem};
use crate::rules::evaluate::Evaluator;
use crate::source::files::{FileMark, Folder, Kind, ReadEnd, Ready};
use crate::source::SourceSpec;
use crate::state::{State, StateError};

/// One look at a `files` source's folder: every file ready (new, grown, or changed since it
/// was read), oldest path first, record by record. `stop` ends the look between records (the
/// file is read again, from where it was, next time).
pub fn poll_folder(
    spec: &SourceSpec,
    folder: &mut Folder,
    eval: &Evaluator,
    state: &State,
    now: Timestamp,
    stop: &AtomicBool,
) -> Result<PollReport, PollError> {
    let mut rep = PollReport::default();
    let files = folder.list()?;
    let key = |p: &Path| p.to_string_lossy().into_owned();
    let mark = |p: &Path| state.file_mark(&spec.name, &key(p)).ok().flatten();
    for r in folder.ready(files, mark) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if r.changed && r.kind == Kind::Whole {
            tracing::info!(source = %spec.name, "{} changed since it was read: reading it again (alerts raised before are not raised again)", r.path.display());
        }
        let Some(end) = read_file(spec, folder, &r, eval, state, now, stop, &mut rep)? else {
            break;
        };
        let mark = FileMark {
            stamp: r.stamp,
            offset: end.upto,
            lines: end.lines,
            problem: end.problem,
        };
        state.mark_file(&spec.name, &key(&r.path), &mark)?;
        state.flush()?;
        rep.windows += 1;
    }
    Ok(rep)
}

/// Records are raised as the file is read, this many at a time.
const RAISE_EVERY: u64 = 10_000;

/// Reads one file, raising its alerts as it goes; `None` when told to stop before its end.
#[allow(clippy::too_many_arguments)]
fn read_file(
    spec: &SourceSpec,
    folder: &Folder,
    r: &Ready,
    eval: &Evaluator,
    state: &State,
    now: Timestamp,
    stop: &AtomicBool,
    rep: &mut PollReport,
) -> Result<Option<ReadEnd>, PollError> {
    let name = r.path.display().to_string();
    let mut found = Found::default();
    let mut notes = Found::default();
    let mut failed: Option<StateError> = None;
    let mut since_raise = 0;
    let end = folder.read(r, Some(&mut eval.witness()), |item| {
        match item {
            Item::Piece(p) => {
                found.check_piece(eval, &p, &spec.name, &name);
                since_raise += 1;
                if since_raise >= RAISE_EVERY {
                    since_raise = 0;
                    rep.records += found.records;
                    found.records = 0;
                    notes.absorb(&mut found);
                    if let Err(e) = raise_all(eval, state, &mut found, now, rep) {
                        failed = Some(e);
                        return false;
                    }
                    found.alerts.clear();
                }
            }
            Item::Problem(p) => {
                if p.is_incomplete()
                    || matches!(
                        p,
                        Problem::TooLong { .. } | Problem::Read { .. } | Problem::Malformed { .. }
                    )
                {
                    let what = format!("{}; it is read again if it changes", p.show(&name));
                    notes.note(NoteKind::Unread, &name, what);
                } else {
                    notes.note(NoteKind::Skipped, &name, p.show(&name));
                }
            }
        }
        !stop.load(Ordering::Relaxed)
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    let end = match end {
        Ok(end) => end,
        Err(e) => {
            // Cannot be opened (gone, no permission): said, and looked at again next time.
            notes.note(NoteKind::Unread, &name, e);
            rep.tell(&spec.name, notes);
            return Ok(None);
        }
    };
    rep.records += found.records;
    notes.absorb(&mut found);
    raise_all(eval, state, &mut found, now, rep)?;
    rep.tell(&spec.name, notes);
    Ok((!end.stopped).then_some(end))
}
