//! AWS streams (lookup_events regions, cloudwatch_logs groups) read in windows behind their
//! watermark, page by page, each page's matches durable before the next is asked for; and the
//! late sweep that reads the recent past again for events that became visible late.

use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;

use super::found::Found;
use super::raise::{raise_found, Judge};
use super::report::{Late, PollError, PollReport};
use crate::alert::Alert;
use crate::rules::evaluate::Evaluator;
use crate::source::{Query, Stream, Window};
use crate::state::{State, StateError};

/// Reads one window of a stream with every query, judging records as they come; raises
/// nothing (`backfill` decides what to do with what was found).
pub async fn read_window(
    stream: &Stream,
    w: &Window,
    queries: &[Query],
    eval: &Evaluator,
    rep: &mut PollReport,
) -> Result<Found, PollError> {
    let mut found = Found::default();
    let mut ids: HashSet<String> = HashSet::new();
    for q in queries {
        let mut pages = stream.pages(w, q);
        while let Some(page) = pages.next().await? {
            rep.pages += 1;
            let place = page_place(stream, w, q);
            judge_page(
                stream,
                page,
                queries.len() > 1,
                &mut ids,
                eval,
                &mut found,
                &place,
            );
        }
    }
    rep.windows += 1;
    rep.records += found.records;
    let mut notes = Found::default();
    notes.absorb(&mut found);
    rep.tell(&stream.source.name, notes);
    Ok(found)
}

/// Where a page's records were read, for notes about them.
fn page_place(stream: &Stream, w: &Window, q: &Query) -> String {
    let what = match q {
        Query::All => "every event".to_string(),
        Query::Lookup(l) => l.to_string(),
        Query::Pattern(_) => "filter pattern".to_string(),
    };
    format!(
        "{}/{} from {} to {} ({what})",
        stream.source.name, stream.name, w.start, w.end
    )
}

/// Judges a page's records, each event once per window (lookups overlap: an event can match
/// two attributes).
fn judge_page(
    stream: &Stream,
    page: Vec<String>,
    several_queries: bool,
    ids: &mut HashSet<String>,
    eval: &Evaluator,
    found: &mut Found,
    place: &str,
) {
    for text in page {
        if several_queries && !ids.insert(event_id_of(&text)) {
            continue;
        }
        found.check(eval, &text, &stream.source.name, place);
    }
}

/// The eventID of a record's text, found without parsing the whole record when possible.
fn event_id_of(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(rename = "eventID")]
        id: Option<String>,
    }
    match serde_json::from_str::<Id>(text) {
        Ok(Id { id: Some(id) }) => id,
        _ => text.to_string(),
    }
}

/// How lateness is judged during one read: the watermark before it, `overlap`, AWS's now.
struct Lateness {
    before: Option<Timestamp>,
    overlap: Duration,
    now: Timestamp,
}

impl Lateness {
    fn note(&self, a: &Alert, rep: &mut PollReport) {
        let (Some(before), Ok(t)) = (self.before, a.event_time.parse::<Timestamp>()) else {
            return;
        };
        let late = Duration::try_from(self.now.duration_since(t)).unwrap_or_default();
        rep.lateness.push(late.as_secs_f64());
        if t < before && late > self.overlap {
            rep.late.push(Late {
                rule: a.rule.clone(),
                event_id: a.event_id.clone(),
                event_time: a.event_time.clone(),
                lateness: late,
            });
        }
    }
}

/// Reads a window with every query, raising each page's matches as soon as the page is read
/// (durable before the next page is asked for): a later page's failure keeps them, and a long
/// catch-up does not hold alerts back.
async fn read_and_raise(
    stream: &Stream,
    w: &Window,
    queries: &[Query],
    judge: &Judge,
    state: &State,
    lateness: &Lateness,
    rep: &mut PollReport,
) -> Result<(), PollError> {
    let mut ids: HashSet<String> = HashSet::new();
    let mut notes = Found::default();
    for q in queries {
        let mut pages = stream.pages(w, q);
        while let Some(page) = pages.next().await? {
            rep.pages += 1;
            let place = page_place(stream, w, q);
            let mut found = Found::default();
            judge_page(
                stream,
                page,
                queries.len() > 1,
                &mut ids,
                &judge.eval,
                &mut found,
                &place,
            );
            rep.records += found.records;
            notes.absorb(&mut found);
            raise_page(judge, state, &mut found, lateness, rep)?;
        }
    }
    rep.windows += 1;
    rep.tell(&stream.source.name, notes);
    Ok(())
}

/// Raises one page's alerts, noting each new one's lateness.
fn raise_page(
    judge: &Judge,
    state: &State,
    found: &mut Found,
    lateness: &Lateness,
    rep: &mut PollReport,
) -> Result<(), StateError> {
    let mut raised = Vec::new();
    raise_found(judge, state, found, lateness.now, rep, &mut |a| {
        raised.push(a.clone())
    })?;
    for a in &raised {
        lateness.note(a, rep);
    }
    Ok(())
}

/// One poll of a stream at `now` (AWS's time): every window from `overlap` behind the
/// watermark to `now`, oldest first; each page's alerts are durable as soon as it is read, and
/// the watermark moves past a window only once the whole window was read.
pub async fn poll_stream(
    stream: &Stream,
    judge: &Judge,
    state: &State,
    now: Timestamp,
) -> Result<PollReport, PollError> {
    poll_stream_measured(stream, judge, state, now, true).await
}

/// `poll_stream`, measuring lateness only when `measure` (the daemon's first poll after a start
/// cannot tell delivery delays from its own downtime).
pub(crate) async fn poll_stream_measured(
    stream: &Stream,
    judge: &Judge,
    state: &State,
    now: Timestamp,
    measure: bool,
) -> Result<PollReport, PollError> {
    let spec = &stream.source;
    let queries = stream.queries(judge.eval.rules());
    let wm = match state.watermark(&spec.name, &stream.name)? {
        Some(w) => Some(w),
        None if spec.fanout.is_some() => {
            // The source's first poll: accounts found later start from there.
            state.note_covered(&spec.name, "", now)?;
            new_account_start(state.covered(&spec.name, "")?, now)
        }
        None => None,
    };
    let lateness = Lateness {
        before: wm.filter(|_| measure),
        overlap: spec.overlap,
        now,
    };
    let windows = Window::for_poll(wm, now, spec.overlap, spec.max_window);
    if let Some(first) = windows.first() {
        state.note_covered(&spec.name, &stream.name, first.start)?;
    }
    let mut rep = PollReport::default();
    for w in windows {
        read_and_raise(stream, &w, &queries, judge, state, &lateness, &mut rep).await?;
        state.advance_watermark(&spec.name, &stream.name, w.end)?;
    }
    Ok(rep)
}

/// How far back an account of a fan-out found after the source started is read: the accounts
/// are listed again every hour, so an account is at most that old when it is found.
const NEW_ACCOUNT_REACH: jiff::SignedDuration = jiff::SignedDuration::from_hours(2);

/// Where a stream of a fan-out without a watermark starts (as a watermark: `overlap` is read
/// before it): the source's first poll, or `NEW_ACCOUNT_REACH` ago if that is later. The first
/// poll of a new source starts at `now`, as any stream does.
fn new_account_start(source_start: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
    source_start.map(|s| s.max(now - NEW_ACCOUNT_REACH).min(now))
}

/// The late sweep of a stream at `now`: `[now - late_sweep, now - overlap]` read again with the
/// same plan, for events that became visible after the polls' re-read had passed them. Moves no
/// watermark; what was raised before is not raised again.
pub async fn sweep_stream(
    stream: &Stream,
    judge: &Judge,
    state: &State,
    now: Timestamp,
) -> Result<PollReport, PollError> {
    let spec = &stream.source;
    let mut rep = PollReport::default();
    let Some(mut w) = Window::for_sweep(now, spec.overlap, spec.late_sweep) else {
        return Ok(rep);
    };
    // Never before the stream's first poll: that time was never promised.
    let Some(since) = state.covered(&spec.name, &stream.name)? else {
        return Ok(rep);
    };
    w.start = w.start.max(since);
    if w.start >= w.end {
        return Ok(rep);
    }
    let queries = stream.queries(judge.eval.rules());
    let lateness = Lateness {
        before: state.watermark(&spec.name, &stream.name)?,
        overlap: spec.overlap,
        now,
    };
    // Pushdown reads are small: one sweep of the whole window; full reads go in pieces.
    let max = if queries == [Query::All] {
        spec.max_window
    } else {
        spec.late_sweep
    };
    for w in Window::split(w.start, w.end, max) {
        read_and_raise(stream, &w, &queries, judge, state, &lateness, &mut rep).await?;
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_found_later_is_read_from_the_sources_start_within_reach() {
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let at = |h: i64| now - jiff::SignedDuration::from_hours(h);
        // Found at the source's first poll: from now, as any new stream.
        assert_eq!(new_account_start(Some(now), now), Some(now));
        // Found 50 minutes after the source started: from the start.
        let start = now - jiff::SignedDuration::from_mins(50);
        assert_eq!(new_account_start(Some(start), now), Some(start));
        // Found a week later: two hours back (it is at most an hour old).
        assert_eq!(new_account_start(Some(at(168)), now), Some(at(2)));
    }
}
