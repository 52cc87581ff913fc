//! A `files` source's folder: every file ready (complete, new or changed) read record by
//! record, its alerts raised as it goes, and what was read of it marked.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;

use super::raise::Judge;
use super::reading::{read_input, Disposal, Input};
use super::report::{PollError, PollReport};
use crate::source::files::{Folder, Kind, ReadEnd, Ready};
use crate::source::SourceSpec;
use crate::state::FileMark;
use crate::state::State;

/// One look at a `files` source's folder: every file ready (new, grown, or changed since it
/// was read), oldest path first, record by record. `stop` ends the look between records (the
/// file is read again, from where it was, next time).
pub fn poll_folder(
    spec: &SourceSpec,
    folder: &mut Folder,
    judge: &Judge,
    state: &State,
    now: Timestamp,
    stop: &AtomicBool,
) -> Result<PollReport, PollError> {
    let mut rep = PollReport::default();
    let (files, links) = folder.list()?;
    rep.links_skipped += links;
    let key = |p: &Path| p.to_string_lossy().into_owned();
    let mark = |p: &Path| state.file_mark(&spec.name, &key(p)).ok().flatten();
    for r in folder.ready(files, mark) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if r.changed && r.kind == Kind::Whole {
            tracing::info!(source = %spec.name, "{} changed since it was read: reading it again (alerts raised before are not raised again)", r.path.display());
        }
        let Some(end) = read_file(spec, folder, &r, judge, state, now, stop, &mut rep)? else {
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

/// Reads one file, raising its alerts as it goes; `None` when told to stop before its end, or
/// when it could not be opened (said, and looked at again next time).
#[allow(clippy::too_many_arguments)]
fn read_file(
    spec: &SourceSpec,
    folder: &Folder,
    r: &Ready,
    judge: &Judge,
    state: &State,
    now: Timestamp,
    stop: &AtomicBool,
    rep: &mut PollReport,
) -> Result<Option<ReadEnd>, PollError> {
    let name = r.path.display().to_string();
    let input = Input {
        source: &spec.name,
        name: &name,
        judge,
        state: Some(state),
        disposal: Disposal::Raise,
        now,
        stop,
        again: "it is read again if it changes",
    };
    // JSON Lines are read at the prefilter's pace: a line without a rule's literal is passed by.
    let search = |b: &[u8]| judge.eval.next_hit(b);
    let read = read_input(&input, rep, |w, on| {
        folder.read(r, Some(w), Some(&search), on)
    })?;
    Ok(read.map(|r| r.end).filter(|e| !e.stopped))
}
