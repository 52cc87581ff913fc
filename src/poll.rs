//! One poll of one stream: its windows are read, every record is judged by the rules, matches
//! become alerts, and the alerts enter the outbox before the watermark moves. The same steps
//! serve the daemon (windows behind a watermark), the `files` source (one file at a time) and
//! `backfill` (a fixed past window).

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;

use crate::alert::Alert;
use crate::format::stream::{Item, Piece, Problem};
use crate::format::RawRecord;
use crate::rules::evaluate::{Evaluator, Screen, Verdict};
use crate::rules::Rule;
use crate::source::aws::ApiError;
use crate::source::files::{records_of, FileMark, Folder, FolderError, Kind, ReadEnd, Ready};
use crate::source::{Query, SourceSpec, Stream, Window};
use crate::state::{State, StateError};
use crate::when;

/// The most notes about records one read keeps (the rest are counted).
const MAX_NOTES: usize = 20;

/// What happened to a record that could not be read as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoteKind {
    /// Skipped: it could not be read, and its text holds no rule's literals.
    Skipped,
    /// Changed so that it could be read (reduced, values too deep or too large, bad bytes).
    Repaired,
    /// It could not be read, but its text holds what a rule looks for: alerted as a possible
    /// match.
    Unreadable,
    /// It matched without a string eventID: alerted under a derived one.
    NoEventId,
    /// A part of an input that could not be read (truncated, too long, broken compression).
    Unread,
}

impl NoteKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            NoteKind::Skipped => "skipped",
            NoteKind::Repaired => "repaired",
            NoteKind::Unreadable => "unreadable_possible_match",
            NoteKind::NoEventId => "no_event_id",
            NoteKind::Unread => "unread",
        }
    }
}

/// A record that could not be read as it was: where, and what was done.
#[derive(Debug, Clone)]
pub struct RecordNote {
    pub kind: NoteKind,
    /// `source/stream …` or `file:line[index]`.
    pub place: String,
    pub what: String,
}

/// What judging records found.
#[derive(Debug, Default)]
pub struct Found {
    pub records: u64,
    pub alerts: Vec<Alert>,
    /// Records not read as they were (the first `MAX_NOTES`), and how many of each kind.
    pub notes: Vec<RecordNote>,
    pub counts: std::collections::BTreeMap<NoteKind, u64>,
    /// Candidate flags, reused from record to record.
    cands: Vec<bool>,
}

/// An ID for an event that has none usable: FNV-1a of its text (stable across runs).
fn derived_id(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("trailwatch-noid-{h:016x}")
}

/// The eventID written in a record's text, found without parsing it.
fn literal_event_id(text: &str) -> Option<String> {
    let at = text.find("\"eventID\"")? + "\"eventID\"".len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_string()).filter(|s| !s.is_empty() && !s.contains('\\'))
}

impl Found {
    /// Notes something about a record at `place`.
    pub fn note(&mut self, kind: NoteKind, place: &str, what: String) {
        *self.counts.entry(kind).or_default() += 1;
        if self.notes.len() < MAX_NOTES {
            self.notes.push(RecordNote {
                kind,
                place: place.to_string(),
                what,
            });
        }
    }

    /// Records skipped.
    pub fn skipped(&self) -> u64 {
        self.counts.get(&NoteKind::Skipped).copied().unwrap_or(0)
    }

    /// Takes another read's notes and counts.
    pub fn absorb(&mut self, other: &mut Found) {
        for n in other.notes.drain(..) {
            if self.notes.len() < MAX_NOTES {
                self.notes.push(n);
            }
        }
        for (k, v) in std::mem::take(&mut other.counts) {
            *self.counts.entry(k).or_default() += v;
        }
    }

    /// Judges one record's JSON text, read at `place`, adding an alert per matching rule.
    pub fn check(&mut self, eval: &Evaluator, text: &str, source: &str, place: &str) {
        let raw = RawRecord {
            text: text.into(),
            event: None,
            index: None,
        };
        self.check_raw(eval, raw, source, place);
    }

    /// Alerts `might` as possible matches of a record that could not be judged whole.
    fn possible_match(
        &mut self,
        eval: &Evaluator,
        might: &[&Rule],
        text: &str,
        source: &str,
        place: &str,
        why: &str,
    ) {
        let id = literal_event_id(text).unwrap_or_else(|| derived_id(text));
        let names: Vec<&str> = might.iter().map(|r| r.name.as_str()).collect();
        self.note(
            NoteKind::Unreadable,
            place,
            format!(
                "{why}; its text holds what rule {} looks for: alerted as a possible match ({id})",
                names.join(", ")
            ),
        );
        let record = serde_json::json!({
            "eventID": id,
            "errorCode": "trailwatch:UnreadableRecord",
            "errorMessage": format!("the record at {place} could not be read whole ({why}); it may match this rule"),
            "trailwatch": {"unreadable": crate::alert::fields::truncate(text, 4096)},
        })
        .to_string();
        for r in might {
            self.alerts
                .push(Alert::new(r, eval.language(), &id, "", source, &record));
        }
    }

    /// Judges the records of one piece of a file named `name`, noting what was changed in it.
    pub fn check_piece(&mut self, eval: &Evaluator, p: &Piece, source: &str, name: &str) {
        let place = p.place.show(name);
        for n in &p.notes {
            self.note(NoteKind::Repaired, &place, n.to_string());
        }
        match records_of(p) {
            Ok(raws) => {
                for raw in raws {
                    match &p.witnessed {
                        Some(whole) => self.check_reduced(eval, raw, whole, source, &place),
                        None => self.check_raw(eval, raw, source, &place),
                    }
                }
            }
            Err(e) => self.note(NoteKind::Skipped, &place, e),
        }
    }

    /// Judges a record that was reduced (too long): as it is, and by the literals in what was
    /// elided from it (`whole`: the rules whose literals its whole text holds).
    fn check_reduced(
        &mut self,
        eval: &Evaluator,
        raw: RawRecord<'_>,
        whole: &[usize],
        source: &str,
        place: &str,
    ) {
        let text = raw.text.clone();
        self.check_raw(eval, raw, source, place);
        let might = eval.elided_matches(whole, &text);
        if !might.is_empty() {
            let why = "it was too long and its longest members were elided";
            self.possible_match(eval, &might, &text, source, place, why);
        }
    }

    /// Judges one record (and the EventBridge event around it, if any).
    pub fn check_raw(&mut self, eval: &Evaluator, raw: RawRecord<'_>, source: &str, place: &str) {
        self.records += 1;
        let mut cands = std::mem::take(&mut self.cands);
        let text = raw.text.clone();
        let text = text.as_ref();
        match eval.evaluate(raw, &mut cands, Screen::Needed) {
            Verdict::Pass => {}
            Verdict::Malformed(m, might) if might.is_empty() => {
                self.note(NoteKind::Skipped, place, m.to_string());
            }
            Verdict::Malformed(m, might) => {
                // Unreadable, but it holds a rule's literals: better a loud possible match
                // than a silent miss.
                self.possible_match(eval, &might, text, source, place, &m.to_string());
            }
            Verdict::Match(m) => {
                if !m.repairs.is_empty() {
                    let what: Vec<String> = m.repairs.iter().map(ToString::to_string).collect();
                    self.note(NoteKind::Repaired, place, what.join("; "));
                }
                let id = match m.record.value.get("eventID") {
                    Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
                    other => {
                        let id = match other {
                            Some(n @ serde_json::Value::Number(_)) => n.to_string(),
                            _ => derived_id(text),
                        };
                        self.note(
                            NoteKind::NoEventId,
                            place,
                            format!(
                                "a matching record whose eventID is {}: alerted as {id}",
                                describe_id(other)
                            ),
                        );
                        id
                    }
                };
                let time = m.record.get_str("eventTime").unwrap_or("");
                for (_, r) in &m.rules {
                    self.alerts
                        .push(Alert::new(r, eval.language(), &id, time, source, text));
                }
            }
        }
        self.cands = cands;
    }

    /// Sorts alerts oldest first (then by event ID and rule), dropping repeats within the read.
    pub fn sort(&mut self) {
        self.alerts.sort_by(|a, b| {
            (a.event_time.as_str(), a.event_id.as_str(), a.rule.as_str()).cmp(&(
                b.event_time.as_str(),
                b.event_id.as_str(),
                b.rule.as_str(),
            ))
        });
        self.alerts
            .dedup_by(|a, b| a.event_id == b.event_id && a.rule == b.rule);
    }
}

fn describe_id(v: Option<&serde_json::Value>) -> &'static str {
    match v {
        None => "missing",
        Some(serde_json::Value::Null) => "null",
        Some(serde_json::Value::String(_)) => "empty",
        Some(serde_json::Value::Number(_)) => "a number",
        Some(serde_json::Value::Bool(_)) => "a boolean",
        Some(_) => "not a string",
    }
}

/// An error of one poll.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Folder(#[from] FolderError),
}

/// An event that became visible later than `overlap` after its eventTime: a poll's re-read
/// could have missed it (the sweep or a slow poll caught it).
#[derive(Debug, Clone)]
pub struct Late {
    pub rule: String,
    pub event_id: String,
    pub event_time: String,
    /// First seen minus eventTime.
    pub lateness: Duration,
}

/// What one poll of a stream did.
#[derive(Debug, Default, Clone)]
pub struct PollReport {
    pub windows: u64,
    pub pages: u64,
    pub records: u64,
    /// Alerts new to the outbox.
    pub raised: u64,
    /// Matches that had been raised before (overlap, another source).
    pub repeated: u64,
    /// Records skipped (unreadable, no rule's literals in them).
    pub malformed: u64,
    /// Records not read as they were: the first few, described, and counts per kind.
    pub notes: Vec<RecordNote>,
    pub note_counts: std::collections::BTreeMap<NoteKind, u64>,
    /// First seen minus eventTime of every alert raised, in seconds, where the stream had read
    /// the time before (a first poll or a catch-up tells nothing of delivery delays).
    pub lateness: Vec<f64>,
    /// Alerts raised for events later than `overlap`.
    pub late: Vec<Late>,
    /// Alerts raised that no sink takes (logged as errors).
    pub undeliverable: u64,
}

/// Puts found alerts into the outbox (oldest first), makes them durable, and counts them;
/// `on_raised` sees each alert new to the outbox.
pub fn raise_all(
    eval: &Evaluator,
    state: &State,
    found: &mut Found,
    now: Timestamp,
    rep: &mut PollReport,
) -> Result<(), StateError> {
    raise_found(eval, state, found, now, rep, &mut |_| {})
}

fn raise_found(
    eval: &Evaluator,
    state: &State,
    found: &mut Found,
    now: Timestamp,
    rep: &mut PollReport,
    on_raised: &mut dyn FnMut(&Alert),
) -> Result<(), StateError> {
    found.sort();
    for a in &found.alerts {
        let sinks = eval.route(&a.rule, a.severity);
        let nowhere = sinks.is_empty();
        if state.raise(a, sinks, now)? {
            rep.raised += 1;
            if nowhere {
                // Loud, with the facts: the log is the one place this alert reaches.
                rep.undeliverable += 1;
                tracing::error!(rule = %a.rule, event_id = %a.event_id, event_time = %a.event_time, source = %a.source, severity = %a.severity, "ALERT WITH NOWHERE TO GO (no sink takes it: none configured, the rule's `sinks` is empty, or every sink's min_severity is above it): {}; record: {}", a.title, crate::alert::fields::truncate(&a.record, 2000));
            } else {
                tracing::info!(rule = %a.rule, event_id = %a.event_id, event_time = %a.event_time, source = %a.source, "alert raised");
            }
            on_raised(a);
        } else {
            rep.repeated += 1;
        }
    }
    if !found.alerts.is_empty() {
        state.flush()?;
    }
    Ok(())
}

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

impl PollReport {
    /// Logs what a read noted about its records (each with its place) and keeps the counts.
    pub fn tell(&mut self, source: &str, mut found: Found) {
        for n in &found.notes {
            let said = if n.what.starts_with(&n.place) {
                n.what.clone()
            } else {
                format!("{}: {}", n.place, n.what)
            };
            // A part of an input left unread may hide anything: an error, not a warning.
            if n.kind == NoteKind::Unread {
                tracing::error!(source, kind = n.kind.label(), "{said}");
            } else {
                tracing::warn!(source, kind = n.kind.label(), "{said}");
            }
        }
        let shown = found.notes.len() as u64;
        let total: u64 = found.counts.values().sum();
        if total > shown {
            tracing::warn!(
                source,
                "… and {} more records not read as they were",
                total - shown
            );
        }
        self.malformed += found.skipped();
        for (k, v) in std::mem::take(&mut found.counts) {
            *self.note_counts.entry(k).or_default() += v;
        }
        if self.notes.len() < MAX_NOTES {
            self.notes.append(&mut found.notes);
        }
    }
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
    eval: &Evaluator,
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
                eval,
                &mut found,
                &place,
            );
            rep.records += found.records;
            notes.absorb(&mut found);
            raise_page(eval, state, &mut found, lateness, rep)?;
        }
    }
    rep.windows += 1;
    rep.tell(&stream.source.name, notes);
    Ok(())
}

/// Raises one page's alerts, noting each new one's lateness.
fn raise_page(
    eval: &Evaluator,
    state: &State,
    found: &mut Found,
    lateness: &Lateness,
    rep: &mut PollReport,
) -> Result<(), StateError> {
    let mut raised = Vec::new();
    raise_found(eval, state, found, lateness.now, rep, &mut |a| {
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
    eval: &Evaluator,
    state: &State,
    now: Timestamp,
) -> Result<PollReport, PollError> {
    poll_stream_measured(stream, eval, state, now, true).await
}

/// `poll_stream`, measuring lateness only when `measure` (the daemon's first poll after a start
/// cannot tell delivery delays from its own downtime).
pub async fn poll_stream_measured(
    stream: &Stream,
    eval: &Evaluator,
    state: &State,
    now: Timestamp,
    measure: bool,
) -> Result<PollReport, PollError> {
    let spec = &stream.source;
    let queries = stream.queries(eval.rules());
    let wm = state.watermark(&spec.name, &stream.name)?;
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
        read_and_raise(stream, &w, &queries, eval, state, &lateness, &mut rep).await?;
        state.advance_watermark(&spec.name, &stream.name, w.end)?;
    }
    Ok(rep)
}

/// The late sweep of a stream at `now`: `[now - late_sweep, now - overlap]` read again with the
/// same plan, for events that became visible after the polls' re-read had passed them. Moves no
/// watermark; what was raised before is not raised again.
pub async fn sweep_stream(
    stream: &Stream,
    eval: &Evaluator,
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
    let queries = stream.queries(eval.rules());
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
        read_and_raise(stream, &w, &queries, eval, state, &lateness, &mut rep).await?;
    }
    Ok(rep)
}

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

/// Forgets raised alerts too old to be read again.
pub fn expire(state: &State, now: Timestamp, retention: Duration) -> Result<usize, StateError> {
    state.expire_raised(now.checked_sub(when::signed(retention)).unwrap_or(now))
}
