//! Judging records: each record's text is judged by the rules into alerts, and what could not
//! be read as it was (reduced, repaired, unreadable, without an eventID) is noted with its place
//! and counted, so that nothing is skipped in silence.

use crate::alert::{principal_of, Alert, Event, Kind};
use crate::format::stream::Piece;
use crate::format::RawRecord;
use crate::names::derived_event_id;
use crate::rules::evaluate::{Evaluator, Screen, Verdict};
use crate::rules::{first_seen, threshold, Rule};
use crate::source::files::records_of;

/// The most notes about records one read keeps (the rest are counted).
pub(super) const MAX_NOTES: usize = 20;

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
    /// A value whose shape is not what CloudTrail delivers (`{"Records": {…}}`, `null`…):
    /// said, and what records it holds judged.
    Shape,
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
            NoteKind::Shape => "shape",
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

/// The eventID written in a record's text, found without parsing it.
fn literal_event_id(text: &str) -> Option<String> {
    let at = text.find("\"eventID\"")? + "\"eventID\"".len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_string()).filter(|s| !s.is_empty() && !s.contains('\\'))
}

impl Found {
    /// What found `alerts` (read by another: a standby's objects, a past read's).
    pub(crate) fn of_alerts(alerts: Vec<Alert>) -> Found {
        Found {
            alerts,
            ..Found::default()
        }
    }

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

    /// What judging `pieces` of a file named `name` found (see `check_piece`).
    pub fn judged(eval: &Evaluator, pieces: &[Piece], source: &str, name: &str) -> Found {
        let mut f = Found::default();
        for p in pieces {
            f.check_piece(eval, p, source, name);
        }
        f
    }

    /// Takes what another read found after this one: its records, alerts (after these),
    /// notes and counts.
    pub fn append(&mut self, other: &mut Found) {
        self.records += std::mem::take(&mut other.records);
        self.alerts.append(&mut other.alerts);
        self.absorb(other);
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

    /// Alerts `might` as possible matches of a record that could not be judged whole: the
    /// alert says why, and keeps as much of its text as a message can show.
    fn possible_match(
        &mut self,
        eval: &Evaluator,
        might: &[&Rule],
        text: &str,
        source: &str,
        place: &str,
        why: &str,
    ) {
        let id = literal_event_id(text).unwrap_or_else(|| derived_event_id(text));
        let names: Vec<&str> = might.iter().map(|r| r.name.as_str()).collect();
        self.note(
            NoteKind::Unreadable,
            place,
            format!(
                "{why}; its text holds what rule {} looks for: alerted as a possible match ({id})",
                names.join(", ")
            ),
        );
        let why = format!(
            "the record at {place} could not be read whole ({why}); it may match this rule"
        );
        for r in might {
            let event = Event {
                id: id.clone(),
                time: String::new(),
                source: source.to_string(),
                record: crate::text::truncate(text, 4096),
                principal: String::new(),
            };
            let kind = Kind::Possible { why: why.clone() };
            self.alerts.push(r.alert(eval.language(), event, kind));
        }
    }

    /// Judges the records of one piece of a file named `name`, noting what was changed in it.
    pub fn check_piece(&mut self, eval: &Evaluator, p: &Piece, source: &str, name: &str) {
        let place = p.place.show(name);
        for n in &p.notes {
            self.note(NoteKind::Repaired, &place, n.to_string());
        }
        if !p.element {
            if let Some(odd) = crate::format::odd_container(&p.text) {
                self.note(NoteKind::Shape, &place, odd);
            }
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
                            _ => derived_event_id(text),
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
                let mut event = Event {
                    id,
                    time: m.record.get_str("eventTime").unwrap_or("").to_string(),
                    source: source.to_string(),
                    record: text.to_string(),
                    principal: principal_of(&m.record.value),
                };
                let mut keys = first_seen::RecordKeys::new(&m.record.value, eval.enricher());
                for (n, (_, r)) in m.rules.iter().enumerate() {
                    // The last rule's alert takes the event (the record is copied once less).
                    let event = match n + 1 < m.rules.len() {
                        true => event.clone(),
                        false => std::mem::take(&mut event),
                    };
                    let mut a = r.alert(eval.language(), event, Kind::Match);
                    a.tally_key = r
                        .threshold
                        .as_ref()
                        .map(|th| threshold::group_key(th, &m.record.value));
                    a.seen_key = (r.first_seen.as_ref()).map(|fs| keys.view(fs).into_owned());
                    self.alerts.push(a);
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
