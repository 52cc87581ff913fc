//! The batch scanner behind `trailwatch scan`: applies a rule set to whole inputs, skipping
//! records the prefilter rules out, in parallel, with output in input order.
//!
//! JSON Lines buffers are never split into records up front: the prefilter jumps from one
//! literal hit to the next, and only the line around a hit is parsed. Other layouts are parsed
//! value by value, and each record is prefiltered before it is parsed into a `Value`.

use std::borrow::Cow;
use std::io::Write;

use rayon::prelude::*;
use serde::Serialize;

use hashbrown::HashTable;

use crate::alert::{Alert, Event, Kind, SeenKey};
use crate::format::{self, Layout, RawRecord, BOM};
use crate::language::Language;
use crate::record::Record;
use crate::rules::evaluate::{Evaluator, Screen, Verdict};
use crate::rules::first_seen::{self, Judging, KeyView};
use crate::rules::threshold::{self, InMemory};
use crate::rules::{Rule, RuleSet};

/// Line-mode buffers are split into chunks of about this size for parallel work.
const CHUNK: usize = 4 << 20;
/// How many lines in a row must hold a hit before `scan` stops asking the finder where the next
/// one is: with most lines candidates (many rules, or one that matches nearly every call), the
/// finder only finds the line `scan` is on, and the screen reads the line again.
const DENSE: u32 = 8;

/// What scanning one input produced.
#[derive(Debug, Default)]
pub struct Report {
    /// JSON Lines output, one line per (record, matching rule).
    pub out: Lines,
    /// Matches per enabled rule, in `RuleSet::enabled()` order.
    pub matches: Vec<u64>,
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// Inputs read.
    pub files: u64,
    /// Malformed records, as `location: reason`.
    pub warnings: Vec<String>,
    /// Parts of inputs not read as they were (bad bytes replaced, a gzip cut short or too
    /// long), as `location: reason`: `scan` exits 1.
    pub unread: Vec<String>,
    /// Matches of threshold and first-seen rules: judged once every input is read.
    pub kept: Kept,
}

/// The matches of threshold and first-seen rules a scan keeps until every input is read.
#[derive(Debug, Default)]
pub struct Kept {
    pub counted: Vec<Counted>,
    /// Their first-seen keys.
    pub keys: Keys,
    /// Their event IDs, places and counting keys, end to end in a string per part of the
    /// input: a scan of a million matches makes (and frees) a few large strings, not
    /// millions of small ones, and merging parts moves them.
    texts: Vec<String>,
}

/// Where one of `Kept::texts` is: bytes `start..end` of part `part`.
#[derive(Debug, Clone, Copy)]
struct Span {
    part: u32,
    start: u32,
    end: u32,
}

impl Kept {
    /// Keeps `s`, and says where.
    fn keep(&mut self, s: &str) -> Span {
        let fits = |t: &String| u32::try_from(t.len() + s.len()).is_ok();
        if !self.texts.last().is_some_and(fits) {
            self.texts.push(String::new());
        }
        let part = self.texts.len() - 1;
        let t = &mut self.texts[part];
        let start = t.len() as u32;
        t.push_str(s);
        Span {
            part: part as u32,
            start,
            end: start + s.len() as u32,
        }
    }

    fn text(&self, at: Span) -> &str {
        &self.texts[at.part as usize][at.start as usize..at.end as usize]
    }

    /// Keeps the matches of one record, read at `at`, by `rules` (threshold or first-seen
    /// rules, with their indexes): what they share (the event's ID, time and place, its
    /// network in words) is worked out and kept once.
    fn add<'r>(
        &mut self,
        rules: impl Iterator<Item = &'r (usize, &'r Rule)>,
        record: &Record<'_>,
        at: &str,
        place: Place,
        enricher: &crate::enrich::Enricher,
    ) {
        let value = &record.value;
        let event_id = self.keep(record.get_str("eventID").unwrap_or(""));
        let at = self.keep(at);
        let ms = crate::when::event_millis(record.get_str("eventTime").unwrap_or(""));
        let mut keys = first_seen::RecordKeys::new(value, enricher);
        for &(i, rule) in rules {
            let seen_key = (rule.first_seen.as_ref()).map(|fs| self.keys.id_of(keys.view(fs)));
            let tally_key =
                (rule.threshold.as_ref()).map(|th| self.keep(&threshold::group_key(th, value)));
            self.counted.push(Counted {
                rule: i as u32,
                seen_key,
                ms,
                event_id,
                tally_key,
                file: 0,
                at,
                record: place.clone(),
            });
        }
    }

    /// Takes in another input's (or part's) kept matches, after these.
    fn merge(&mut self, mut o: Kept) {
        o.texts.iter_mut().for_each(String::shrink_to_fit);
        if self.keys.all.is_empty() && self.counted.is_empty() && self.texts.is_empty() {
            // The first with matches to judge: its matches and keys are taken whole (in
            // the room made for all).
            let room = self.counted.capacity();
            *self = o;
            self.counted
                .reserve(room.saturating_sub(self.counted.len()));
            return;
        }
        let ids: Vec<u32> = o.keys.all.into_iter().map(|k| self.keys.id(k)).collect();
        let shift = self.texts.len() as u32;
        self.texts.append(&mut o.texts);
        let moved = |at: Span| Span {
            part: at.part + shift,
            ..at
        };
        self.counted.extend(o.counted.into_iter().map(|mut c| {
            c.seen_key = c.seen_key.map(|k| ids[k as usize]);
            c.event_id = moved(c.event_id);
            c.tally_key = c.tally_key.map(moved);
            c.at = moved(c.at);
            c
        }));
    }
}

/// A match of a threshold or first-seen rule, kept until every input is read: what judging it
/// takes, and where its record is. Most such matches alert on nothing (a principal seen
/// before, a count not reached): a record's text is read again only for those that alert, and
/// a first-seen key (a principal, a network: the same few again and again) is kept once.
#[derive(Debug)]
pub struct Counted {
    /// The rule's index among the enabled rules.
    rule: u32,
    /// Its first-seen key, in `Report::keys`.
    seen_key: Option<u32>,
    /// The record's eventTime in milliseconds.
    ms: i64,
    /// In `Kept::texts`, as the rest of the texts.
    event_id: Span,
    tally_key: Option<Span>,
    /// The input it was read from (in `scan_paths`' order), and where in it, as `scan` says
    /// it after the input's name (`:12`, `:1[3]`).
    file: u32,
    at: Span,
    record: Place,
}

/// The first-seen keys of the kept matches, each once.
#[derive(Debug, Default)]
pub struct Keys {
    /// Indexes into `all`, by the key's hash.
    index: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    all: Vec<SeenKey>,
}

impl Keys {
    /// The id of a key read from a record (copied only when it is new).
    fn id_of(&mut self, key: KeyView<'_>) -> u32 {
        let h = key.hash_with(&self.hasher);
        match self.index.find(h, |&i| key.is(&self.all[i as usize])) {
            Some(&i) => i,
            None => self.push(key.into_owned(), h),
        }
    }

    /// The id of a key (another report's).
    fn id(&mut self, key: SeenKey) -> u32 {
        let h = first_seen::hash_key(&self.hasher, &key);
        match self.index.find(h, |&i| self.all[i as usize] == key) {
            Some(&i) => i,
            None => self.push(key, h),
        }
    }

    fn push(&mut self, key: SeenKey, h: u64) -> u32 {
        let i = self.all.len() as u32;
        self.all.push(key);
        let (all, hasher) = (&self.all, &self.hasher);
        (self.index).insert_unique(h, i, |&j| first_seen::hash_key(hasher, &all[j as usize]));
        i
    }
}

/// Where a kept match's record is.
#[derive(Debug, Clone)]
enum Place {
    /// Its text: a record not read as its input holds it (repaired, or from bad UTF-8), or
    /// from an input that cannot be read again (stdin).
    Text(String),
    /// Bytes `start..start + len` of its input after a byte-order mark: of its bytes, or
    /// (`lossy`) of its text with bad UTF-8 replaced.
    At {
        start: usize,
        len: usize,
        lossy: bool,
    },
}

/// The records' texts an input holds at their `Place::At`; an input with bad UTF-8 is made
/// text once, whatever the number of its records asked for.
struct Texts<'a> {
    /// The input's bytes after a byte-order mark.
    bytes: &'a [u8],
    replaced: Option<String>,
}

impl<'a> Texts<'a> {
    fn of(data: &'a [u8]) -> Texts<'a> {
        Texts {
            bytes: data.strip_prefix(BOM).unwrap_or(data),
            replaced: None,
        }
    }

    /// The text at `start..start + len` of the bytes, or (`lossy`) of the text with bad UTF-8
    /// replaced; `None` when the input no longer holds that much.
    fn at(&mut self, start: usize, len: usize, lossy: bool) -> Option<String> {
        let span = start..start + len;
        match lossy {
            false => Some(String::from_utf8_lossy(self.bytes.get(span)?).into_owned()),
            true => (self.replaced)
                .get_or_insert_with(|| String::from_utf8_lossy(self.bytes).into_owned())
                .get(span)
                .map(str::to_string),
        }
    }
}

/// The bytes records are located in (`Place::At`): an input's, or its text with bad UTF-8
/// replaced; and the input's name (which starts every location).
#[derive(Clone, Copy)]
struct Base<'a> {
    bytes: &'a [u8],
    lossy: bool,
    name: &'a str,
}

impl Base<'_> {
    /// Where `text` is, when it is part of these bytes; else the text itself.
    fn place(&self, text: &str) -> Place {
        let (at, base) = (text.as_ptr() as usize, self.bytes.as_ptr() as usize);
        if at >= base && at + text.len() <= base + self.bytes.len() {
            Place::At {
                start: at - base,
                len: text.len(),
                lossy: self.lossy,
            }
        } else {
            Place::Text(text.to_string())
        }
    }
}

/// Output lines in the order read, kept in the parts that wrote them: merging reports moves
/// the parts (a scan's output can be hundreds of megabytes), it never copies the lines.
#[derive(Debug, Default)]
pub struct Lines(Vec<Vec<u8>>);

impl Lines {
    /// The part to write to: the last one.
    fn part(&mut self) -> &mut Vec<u8> {
        if self.0.is_empty() {
            self.0.push(Vec::new());
        }
        self.0.last_mut().expect("a part was just made")
    }

    /// Writes the lines to `w`, in order.
    pub fn write_to(&self, w: &mut dyn Write) -> std::io::Result<()> {
        self.0.iter().try_for_each(|p| w.write_all(p))
    }

    /// The lines as one text.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.concat()
    }
}

impl Report {
    fn merge(&mut self, o: Report) {
        self.out
            .0
            .extend(o.out.0.into_iter().filter(|p| !p.is_empty()));
        if self.matches.len() < o.matches.len() {
            self.matches.resize(o.matches.len(), 0);
        }
        for (a, b) in self.matches.iter_mut().zip(o.matches) {
            *a += b;
        }
        self.bytes += o.bytes;
        self.files += o.files;
        self.warnings.extend(o.warnings);
        self.unread.extend(o.unread);
        self.kept.merge(o.kept);
    }

    /// The reports of an input's parts, in order, as one (with `rules` enabled rules).
    fn merged(rules: usize, reports: Vec<Report>) -> Report {
        let mut total = Report {
            matches: vec![0; rules],
            ..Report::default()
        };
        (total.kept.counted).reserve(reports.iter().map(|r| r.kept.counted.len()).sum());
        for r in reports {
            total.merge(r);
        }
        total
    }
}

/// One output line of `scan`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MatchLine<'a> {
    rule: &'a str,
    severity: String,
    title: &'a str,
    #[serde(rename = "eventID")]
    event_id: Option<&'a str>,
    event_time: Option<&'a str>,
    event_name: Option<&'a str>,
    event_source: Option<&'a str>,
    aws_region: Option<&'a str>,
    recipient_account_id: Option<&'a str>,
    principal_arn: Option<&'a str>,
    principal_type: Option<&'a str>,
    user_name: Option<&'a str>,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<&'a str>,
    error_code: Option<&'a str>,
    location: &'a str,
    /// A threshold rule's count: how many, in what period, for which key, which events.
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: Option<serde_json::Value>,
    /// Why a record that could not be read whole may match (a possible match).
    #[serde(skip_serializing_if = "Option::is_none")]
    possible: Option<&'a str>,
    /// Why a first-seen rule's match is new.
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<&'a str>,
}

/// A rule set ready to scan.
pub struct Scanner {
    eval: Evaluator,
    /// Turns the prefilter off (for differential tests and benchmarks).
    pub use_prefilter: bool,
}

impl Scanner {
    pub fn new(set: &RuleSet) -> Self {
        Scanner {
            eval: Evaluator::new(set.clone()),
            use_prefilter: true,
        }
    }

    /// Records seen with the networks `enricher` knows (`--asn-db`, `--country-db`).
    pub fn with_enricher(mut self, enricher: std::sync::Arc<crate::enrich::Enricher>) -> Self {
        self.eval = self.eval.with_enricher(enricher);
        self
    }

    /// Scans one whole input.
    pub fn scan(&self, inp: &format::Input) -> Report {
        let buf: &[u8] = &inp.data;
        // A byte-order mark is not part of the JSON.
        let buf = buf.strip_prefix(BOM).unwrap_or(buf);
        if buf.iter().all(u8::is_ascii_whitespace) {
            let mut rep = self.empty_report();
            rep.unread.push(format!(
                "{}: empty (no JSON at all): not a CloudTrail file",
                inp.name
            ));
            rep.files = 1;
            return rep;
        }
        let mut rep = match format::layout(buf) {
            Layout::Lines => self.scan_lines_parallel(buf, &inp.name),
            Layout::Document => self.scan_document(buf, &inp.name),
        };
        if inp.name == "-" {
            // Standard input cannot be read again: the records that may alert are kept.
            let mut texts = Texts::of(&inp.data);
            for c in &mut rep.kept.counted {
                if let Place::At { start, len, lossy } = c.record {
                    let text = texts.at(start, len, lossy);
                    c.record = Place::Text(text.unwrap_or_default());
                }
            }
        }
        rep.bytes = buf.len() as u64;
        rep.files = 1;
        rep
    }

    /// Judges the first-seen and threshold rules' matches of a whole scan (a history and counts
    /// of its own, in memory): one line per new combination (after learning) and per
    /// threshold reached, at the match that made it. The records of those are read again from
    /// `files` (the inputs in `scan_paths`' order); what cannot be is said in the problems.
    pub fn counted_alerts(
        &self,
        kept: &Kept,
        files: &[std::path::PathBuf],
        max_input: u64,
    ) -> (Vec<u8>, Vec<String>) {
        let mut out = Vec::new();
        let counted = &kept.counted;
        if counted.is_empty() {
            return (out, Vec::new());
        }
        let rules: Vec<&Rule> = self.eval.enabled().collect();
        let (mut novelty, old) = judge_first_seen(counted, &kept.keys, &rules);
        // Alerts without their records yet, each with its match: the new sightings and every
        // threshold match.
        let mut alerts = Vec::new();
        for (i, c) in counted.iter().enumerate() {
            if old[i] {
                continue;
            }
            let rule = rules[c.rule as usize];
            let time = crate::when::from_millis(c.ms).to_string();
            let event = Event {
                id: kept.text(c.event_id).to_string(),
                time,
                source: "scan".into(),
                record: String::new(),
                principal: String::new(),
            };
            let mut a = rule.alert(Language::En, event, Kind::Match);
            a.tally_key = c.tally_key.map(|k| kept.text(k).to_string());
            a.novelty = novelty[i].take().unwrap_or_default();
            alerts.push((a, i));
        }
        let store = &mut InMemory::default();
        let Ok(fired) = threshold::apply_tagged(self.eval.rules(), alerts, store);
        let (mut fired, places): (Vec<Alert>, Vec<usize>) = fired.into_iter().unzip();
        let problems = read_again(&mut fired, &places, kept, files, max_input);
        for (a, i) in fired.iter().zip(places) {
            let Some(rule) = self.eval.rules().get(&a.rule) else {
                continue;
            };
            write_alert(&mut out, rule, a, &location(kept, &counted[i], files));
        }
        (out, problems)
    }

    fn empty_report(&self) -> Report {
        Report {
            matches: vec![0; self.eval.rule_count()],
            ..Report::default()
        }
    }

    fn scan_lines_parallel(&self, buf: &[u8], name: &str) -> Report {
        let mut bounds = vec![0];
        while *bounds.last().unwrap() < buf.len() {
            let from = (bounds.last().unwrap() + CHUNK).min(buf.len());
            let end = memchr::memchr(b'\n', &buf[from..]).map_or(buf.len(), |i| from + i + 1);
            bounds.push(end);
        }
        let chunks: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        let shapes: Vec<LineShapes> = chunks
            .par_iter()
            .map(|&(a, b)| LineShapes::of(&buf[a..b]))
            .collect();
        let mut first_line = Vec::with_capacity(chunks.len());
        let mut acc = 1;
        for s in &shapes {
            first_line.push(acc);
            acc += s.lines;
        }
        let reports: Vec<Report> = chunks
            .par_iter()
            .zip(first_line)
            .zip(&shapes)
            .map(|((&(a, b), line), shapes)| {
                let base = Base {
                    bytes: buf,
                    lossy: false,
                    name,
                };
                self.scan_lines(&buf[a..b], line, name, shapes, base)
            })
            .collect();
        Report::merged(self.eval.rule_count(), reports)
    }

    /// Scans a chunk of whole lines whose first line is number `first_line`.
    fn scan_lines(
        &self,
        buf: &[u8],
        first_line: u64,
        name: &str,
        shapes: &LineShapes,
        base: Base<'_>,
    ) -> Report {
        let mut rep = self.empty_report();
        for &(n, _) in &shapes.broken {
            rep.warnings.push(format!(
                "{name}:{}: malformed record (not a complete JSON object), skipped",
                first_line + n
            ));
        }
        for (n, odd) in &shapes.odd {
            rep.unread.push(format!("{name}:{}: {odd}", first_line + n));
        }
        let (mut counted_to, mut line) = (0, first_line);
        let mut pos = 0;
        let mut cands = Vec::new();
        // Lines in a row in which the finder hit: once `DENSE` have, each next line is
        // screened without asking the finder first (the screen finds every literal anyway),
        // until one is no candidate.
        let mut streak = 0;
        while pos < buf.len() {
            let dense = self.use_prefilter && streak >= DENSE;
            let at = if !dense && self.use_prefilter {
                match self.eval.next_hit(&buf[pos..]) {
                    Some(h) => pos + h,
                    None => break,
                }
            } else {
                pos
            };
            let start = memchr::memrchr(b'\n', &buf[pos..at]).map_or(pos, |i| pos + i + 1);
            let end = memchr::memchr(b'\n', &buf[at..]).map_or(buf.len(), |i| at + i);
            line += memchr::memchr_iter(b'\n', &buf[counted_to..start]).count() as u64;
            counted_to = start;
            streak = if start == pos { streak + 1 } else { 0 };
            let text = buf[start..end].trim_ascii();
            if !text.is_empty()
                && shapes
                    .broken
                    .binary_search_by_key(&start, |&(_, at)| at)
                    .is_err()
            {
                let loc = format!("{name}:{line}");
                let candidate = match std::str::from_utf8(text) {
                    Ok(t) => self.scan_value(t, &loc, &mut cands, &mut rep, base),
                    // Passed by, as the finder would have: its bytes are said only when it
                    // holds a literal.
                    Err(_) if dense && self.eval.next_hit(&buf[start..end]).is_none() => false,
                    Err(_) => {
                        rep.unread.push(format!(
                            "{loc}: invalid UTF-8 bytes were replaced by U+FFFD"
                        ));
                        let t = String::from_utf8_lossy(text);
                        self.scan_value(&t, &loc, &mut cands, &mut rep, base)
                    }
                };
                if !candidate {
                    streak = 0;
                }
            }
            pos = end + 1;
        }
        rep
    }

    fn scan_document(&self, buf: &[u8], name: &str) -> Report {
        let mut rep = self.empty_report();
        let mut cands = Vec::new();
        let text = match std::str::from_utf8(buf) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(e) => {
                rep.unread.push(format!(
                    "{name}: invalid UTF-8 at byte {}: such bytes were replaced by U+FFFD",
                    e.valid_up_to()
                ));
                String::from_utf8_lossy(buf)
            }
        };
        let base = Base {
            bytes: text.as_bytes(),
            lossy: matches!(text, Cow::Owned(_)),
            name,
        };
        format::for_each_value(text.as_bytes(), name, |v| match v {
            format::Value::Text(text, loc) => {
                // Said whatever the rules: a value of the wrong shape is not read as it was.
                if let Some(odd) = format::odd_container(text) {
                    rep.unread.push(format!("{loc}: {odd}"));
                }
                self.scan_value(text, &loc, &mut cands, &mut rep, base);
            }
            format::Value::Bad(why) => rep.warnings.push(why),
        });
        rep
    }

    /// Scans one JSON value (a record, a delivery file, an event …) located at `loc`; false
    /// when the prefilter found it could match no rule.
    fn scan_value(
        &self,
        text: &str,
        loc: &str,
        cands: &mut Vec<bool>,
        rep: &mut Report,
        base: Base<'_>,
    ) -> bool {
        if self.use_prefilter && !self.eval.screen(text.as_bytes(), cands) {
            return false;
        }
        match format::records(text) {
            Ok(recs) => {
                for r in recs {
                    self.scan_record(r, loc, cands, rep, base);
                }
            }
            Err(e) => rep
                .warnings
                .push(format!("{loc}: malformed record, skipped: {e}")),
        }
        true
    }

    fn scan_record(
        &self,
        raw: RawRecord<'_>,
        loc: &str,
        cands: &mut Vec<bool>,
        rep: &mut Report,
        base: Base<'_>,
    ) {
        let loc: Cow<str> = match raw.index {
            Some(i) => Cow::Owned(format!("{loc}[{i}]")),
            None => Cow::Borrowed(loc),
        };
        // A record without an index is the whole value `scan_value` just screened (the record,
        // or the event around it): its candidates are already in `cands`.
        let screen = match (self.use_prefilter, raw.index) {
            (false, _) => Screen::Off,
            (true, Some(_)) => Screen::Needed,
            (true, None) => Screen::Done,
        };
        match self.eval.evaluate(raw, cands, screen) {
            Verdict::Pass => {}
            Verdict::Malformed(m, might) if might.is_empty() => {
                rep.warnings.push(format!("{loc}: {m}"))
            }
            Verdict::Malformed(m, might) => {
                let names: Vec<&str> = might.iter().map(|r| r.name.as_str()).collect();
                rep.warnings.push(format!(
                    "{loc}: {m} (its text holds what rule {} looks for: it may match)",
                    names.join(", ")
                ))
            }
            Verdict::Match(m) => {
                let counts = |r: &Rule| r.threshold.is_some() || r.first_seen.is_some();
                for &(i, rule) in &m.rules {
                    rep.matches[i] += 1;
                    if !counts(rule) {
                        write_match(rep.out.part(), rule, &m.record, &loc);
                    }
                }
                // Judged once every input is read, in eventTime order.
                let mut kept = m.rules.iter().filter(|(_, r)| counts(r)).peekable();
                if kept.peek().is_some() {
                    let at = loc.strip_prefix(base.name).unwrap_or(&loc);
                    let place = base.place(&m.record.text);
                    let enricher = self.eval.enricher();
                    rep.kept.add(kept, &m.record, at, place, enricher);
                }
            }
        }
    }
}

/// Judges the first-seen matches among `counted`: why each is new (`None`: not, or not a
/// first-seen match), and which are not new. Each rule's sightings are its own (learning,
/// combinations): judged rule by rule, in parallel.
fn judge_first_seen(
    counted: &[Counted],
    keys: &Keys,
    rules: &[&Rule],
) -> (Vec<Option<String>>, Vec<bool>) {
    let mut by_rule: std::collections::BTreeMap<u32, (Vec<first_seen::Seen>, Vec<usize>)> =
        Default::default();
    for (i, c) in counted.iter().enumerate() {
        let rule = rules[c.rule as usize];
        if let (Some(fs), Some(key)) = (&rule.first_seen, c.seen_key) {
            let key = &keys.all[key as usize];
            let (seen, at) = by_rule.entry(c.rule).or_default();
            seen.push(first_seen::Seen {
                rule: &rule.name,
                fs,
                ms: c.ms,
                key,
            });
            at.push(i);
        }
    }
    let judged: Vec<(Vec<usize>, Vec<Option<String>>)> = by_rule
        .into_par_iter()
        .map(|(_, (seen, at))| {
            let history = &mut first_seen::InMemory::default();
            let Ok(why) = first_seen::judge_all(&seen, history, Judging::Alert);
            (at, why)
        })
        .collect();
    let mut novelty: Vec<Option<String>> = (0..counted.len()).map(|_| None).collect();
    let mut old = vec![false; counted.len()];
    for (at, why) in judged {
        for (i, why) in at.into_iter().zip(why) {
            old[i] = why.is_none();
            novelty[i] = why;
        }
    }
    (novelty, old)
}

/// Where a kept match was read, as `scan` says it.
fn location(kept: &Kept, c: &Counted, files: &[std::path::PathBuf]) -> String {
    let name = files.get(c.file as usize).map(|p| p.display().to_string());
    format!("{}{}", name.unwrap_or_default(), kept.text(c.at))
}

/// Puts in each alert the record of its match (`places[i]`, an index into `counted`), each
/// input read again once; the problems, as `location: reason`, when an input no longer holds
/// the record it held (the alert is then written without the record's fields).
fn read_again(
    alerts: &mut [Alert],
    places: &[usize],
    kept: &Kept,
    files: &[std::path::PathBuf],
    max_input: u64,
) -> Vec<String> {
    let counted = &kept.counted;
    let mut problems = Vec::new();
    let mut by_file: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    let gone = |c: &Counted, rule: &str| {
        let at = location(kept, c, files);
        format!("{at}: changed or gone since it was read: its alert ({rule}) is written without the record")
    };
    for (n, &i) in places.iter().enumerate() {
        match &counted[i] {
            Counted {
                record: Place::Text(t),
                ..
            } if t.is_empty() => problems.push(gone(&counted[i], &alerts[n].rule)),
            Counted {
                record: Place::Text(t),
                ..
            } => alerts[n].record = t.clone(),
            c => by_file.entry(c.file).or_default().push(n),
        }
    }
    for (file, wanted) in by_file {
        let data = files
            .get(file as usize)
            .map(|p| format::load_limited(p, max_input));
        let mut texts = Texts::of(match &data {
            Some(Ok((inp, _))) => &inp.data[..],
            _ => &[],
        });
        for n in wanted {
            let c = &counted[places[n]];
            let Place::At { start, len, lossy } = c.record else {
                continue;
            };
            let text = texts.at(start, len, lossy);
            // The same record (its eventID and eventTime, as taken when it matched), or the
            // input changed since it was read.
            let same = text.as_deref().is_some_and(|t| {
                Record::parse(t.into()).is_ok_and(|r| {
                    r.get_str("eventID").unwrap_or("") == kept.text(c.event_id)
                        && crate::when::event_millis(r.get_str("eventTime").unwrap_or("")) == c.ms
                })
            });
            match text {
                Some(t) if same => alerts[n].record = t,
                _ => problems.push(gone(c, &alerts[n].rule)),
            }
        }
    }
    problems
}

/// One pass over a chunk of JSON Lines: how many lines, and which are visibly not a whole
/// JSON object (truncated or garbage), so that they are reported even when the prefilter
/// never looks at them. A line that passes can still hold a syntax error inside; it is
/// reported when parsed, that is, whenever it could match a rule.
struct LineShapes {
    lines: u64,
    /// (line index in the chunk, byte offset of the line start), ascending.
    broken: Vec<(u64, usize)>,
    /// Lines that name a `Records` or `Events` container of the wrong shape, and what is odd.
    odd: Vec<(u64, String)>,
}

impl LineShapes {
    fn of(buf: &[u8]) -> LineShapes {
        let mut broken = Vec::new();
        let mut start = 0;
        let mut n = 0;
        let mut check = |start: usize, end: usize, n: u64| {
            let line = buf[start..end].trim_ascii();
            let whole = line.starts_with(b"{") && line.ends_with(b"}");
            if !line.is_empty() && !whole {
                broken.push((n, start));
            }
        };
        for nl in memchr::memchr_iter(b'\n', buf) {
            check(start, nl, n);
            start = nl + 1;
            n += 1;
        }
        if start < buf.len() {
            check(start, buf.len(), n);
        }
        LineShapes {
            lines: n,
            broken,
            odd: odd_lines(buf),
        }
    }
}

/// The lines of a chunk that name a `Records` or `Events` container of the wrong shape
/// (found by searching the chunk once for the names, which records rarely hold).
fn odd_lines(buf: &[u8]) -> Vec<(u64, String)> {
    let mut starts: Vec<usize> = memchr::memmem::find_iter(buf, b"\"Records\"")
        .chain(memchr::memmem::find_iter(buf, b"\"Events\""))
        .map(|at| memchr::memrchr(b'\n', &buf[..at]).map_or(0, |i| i + 1))
        .collect();
    starts.sort_unstable();
    starts.dedup();
    starts
        .into_iter()
        .filter_map(|start| {
            let end = memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |i| start + i);
            let text = std::str::from_utf8(&buf[start..end]).ok()?;
            let odd = format::odd_container(text)?;
            let n = memchr::memchr_iter(b'\n', &buf[..start]).count() as u64;
            Some((n, odd))
        })
        .collect()
}

/// Writes one match as a JSON line.
pub fn write_match(out: &mut Vec<u8>, rule: &Rule, r: &Record<'_>, loc: &str) {
    write_line(out, rule, Some(r), loc, &Kind::Match, (None, None));
}

/// The header of the aligned table `write_row` writes.
pub(crate) const ROW_HEADER: &str = "EVENT TIME           RULE                     SEVERITY  EVENT                  PRINCIPAL                                        SOURCE IP        EVENT ID";

/// Writes one alert as a row of an aligned table for reading (`backfill --output table`):
/// every value from the record made visible and cut to its column.
pub(crate) fn write_row(out: &mut Vec<u8>, a: &Alert) {
    let r = Record::parse(a.record.as_str().into()).ok();
    let get = |p: &[&str]| {
        r.as_ref()
            .and_then(|r| r.str_at(p))
            .unwrap_or("-")
            .to_string()
    };
    let cell = |s: &str, w: usize| {
        format!(
            "{:<w$}",
            crate::text::truncate(&crate::text::visible(s), w.saturating_sub(1))
        )
    };
    let (event, arn, ip) = (
        &["eventName"][..],
        &["userIdentity", "arn"][..],
        &["sourceIPAddress"][..],
    );
    let _ = writeln!(
        out,
        "{} {} {} {} {} {} {}",
        cell(&a.event_time, 21),
        cell(&a.rule, 24),
        cell(&a.severity.to_string(), 9),
        cell(&get(event), 22),
        cell(&get(arn), 48),
        cell(&get(ip), 16),
        crate::text::visible(&a.event_id)
    );
}

/// Writes one alert as a JSON line: a match, a threshold reached (its count from the alert,
/// never from the record), or a possible match (its record could not be read whole: named by
/// the ID the alert carries).
pub fn write_alert(out: &mut Vec<u8>, rule: &Rule, a: &Alert, loc: &str) {
    let rec = match a.kind {
        Kind::Match | Kind::Threshold(_) => Record::parse(a.record.as_str().into()).ok(),
        Kind::Possible { .. } | Kind::Own { .. } => None,
    };
    let id = rec.is_none().then_some(a.event_id.as_str());
    let new = Some(a.novelty.as_str()).filter(|n| !n.is_empty());
    write_line(out, rule, rec.as_ref(), loc, &a.kind, (id, new));
}

fn write_line(
    out: &mut Vec<u8>,
    rule: &Rule,
    r: Option<&Record<'_>>,
    loc: &str,
    kind: &Kind,
    (id, new): (Option<&str>, Option<&str>),
) {
    let get = |k: &str| r.and_then(|r| r.get_str(k));
    let at = |p: &[&str]| r.and_then(|r| r.str_at(p));
    let threshold = match kind {
        Kind::Threshold(c) => Some(serde_json::json!({
            "count": c.count,
            "period": c.period,
            "group": c.group,
            "events": c.events.iter().map(|(id, t)| serde_json::json!({"eventID": id, "eventTime": t})).collect::<Vec<_>>(),
        })),
        _ => None,
    };
    let title = match r {
        Some(r) => rule.title_for(&r.text, crate::language::Language::En),
        None => rule.title.as_str().into(),
    };
    let line = MatchLine {
        rule: &rule.name,
        severity: rule.severity.to_string(),
        title: &title,
        event_id: id.or_else(|| get("eventID")),
        event_time: get("eventTime"),
        event_name: get("eventName"),
        event_source: get("eventSource"),
        aws_region: get("awsRegion"),
        recipient_account_id: get("recipientAccountId"),
        principal_arn: r.and_then(|r| r.principal_arn()),
        principal_type: at(&["userIdentity", "type"]),
        user_name: at(&["userIdentity", "userName"]),
        source_ip_address: get("sourceIPAddress"),
        error_code: match kind {
            Kind::Possible { .. } => Some("trailwatch:UnreadableRecord"),
            _ => get("errorCode"),
        },
        location: loc,
        threshold,
        possible: match kind {
            Kind::Possible { why } => Some(why),
            _ => None,
        },
        new,
    };
    serde_json::to_writer(&mut *out, &line).expect("writing to a Vec cannot fail");
    out.push(b'\n');
}

/// Scans every path (folders recursively; `-` for stdin) in parallel and writes matches to
/// `out` in input order. Returns the total report (without output) and the unreadable inputs.
pub fn scan_paths(
    scanner: &Scanner,
    paths: &[std::path::PathBuf],
    max_input: u64,
    out: &mut dyn Write,
) -> std::io::Result<(Report, Vec<String>)> {
    let format::Expanded {
        files,
        mut errors,
        links,
    } = format::expand(paths);
    for l in links {
        eprintln!(
            "trailwatch: {}: a symbolic link, not followed (give its target to read it)",
            l.display()
        );
    }
    let results: Vec<Result<Report, String>> = files
        .par_iter()
        .map(|p| {
            format::load_limited(p, max_input).map(|(inp, problem)| {
                let mut rep = scanner.scan(&inp);
                rep.unread.extend(problem);
                rep
            })
        })
        .collect();
    let mut total = scanner.empty_report();
    for (file, r) in results.into_iter().enumerate() {
        match r {
            Ok(mut rep) => {
                rep.out.write_to(out)?;
                rep.out = Lines::default();
                for c in &mut rep.kept.counted {
                    c.file = file as u32;
                }
                total.merge(rep);
            }
            Err(e) => errors.push(e),
        }
    }
    let kept = std::mem::take(&mut total.kept);
    let (alerts, problems) = scanner.counted_alerts(&kept, &files, max_input);
    out.write_all(&alerts)?;
    total.unread.extend(problems);
    out.flush()?;
    Ok((total, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_matches_merged_keep_their_texts_and_keys() {
        // Each part keeps its matches' texts and keys; merged, each match still reads its own.
        let key = |who: &str| SeenKey {
            account: "111122223333".into(),
            combo: vec![who.into()],
            said: String::new(),
        };
        let part = |ids: &[(&str, &str)]| {
            let mut k = Kept::default();
            for (i, (id, who)) in ids.iter().enumerate() {
                let (event_id, at) = (k.keep(id), k.keep(&format!(":{i}")));
                let tally_key = Some(k.keep(&format!("n={id}")));
                let seen_key = Some(k.keys.id(key(who)));
                k.counted.push(Counted {
                    rule: 0,
                    seen_key,
                    ms: 0,
                    event_id,
                    tally_key,
                    file: 0,
                    at,
                    record: Place::Text(String::new()),
                });
            }
            k
        };
        let mut all = Kept::default();
        all.merge(part(&[("e1", "alice"), ("e2", "bob")]));
        all.merge(part(&[("e3", "bob"), ("e4", "carol")]));
        all.merge(Kept::default());
        all.merge(part(&[("e5", "carol")]));
        let read: Vec<(&str, &str, &str, &SeenKey)> = (all.counted.iter())
            .map(|c| {
                let k = &all.keys.all[c.seen_key.unwrap() as usize];
                (
                    all.text(c.event_id),
                    all.text(c.at),
                    all.text(c.tally_key.unwrap()),
                    k,
                )
            })
            .collect();
        let (alice, bob, carol) = (key("alice"), key("bob"), key("carol"));
        assert_eq!(
            read,
            [
                ("e1", ":0", "n=e1", &alice),
                ("e2", ":1", "n=e2", &bob),
                ("e3", ":0", "n=e3", &bob),
                ("e4", ":1", "n=e4", &carol),
                ("e5", ":0", "n=e5", &carol),
            ]
        );
        assert_eq!(all.keys.all.len(), 3, "each key once");
    }

    #[test]
    fn a_record_read_again_is_the_one_read_or_its_change_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.jsonl");
        let rec = r#"{"eventID":"e1","eventName":"GetSecretValue"}"#;
        std::fs::write(&f, format!("\u{FEFF}{rec}\n")).unwrap();
        let mut kept = Kept::default();
        let (event_id, at) = (kept.keep("e1"), kept.keep(":1"));
        kept.counted = vec![Counted {
            rule: 0,
            seen_key: None,
            ms: 0,
            event_id,
            tally_key: None,
            file: 0,
            at,
            record: Place::At {
                start: 0,
                len: rec.len(),
                lossy: false,
            },
        }];
        let event = Event {
            id: "e1".into(),
            time: String::new(),
            source: "scan".into(),
            record: String::new(),
            principal: String::new(),
        };
        let mut set = RuleSet::default();
        set.add_spec("default").unwrap();
        let rule = set.enabled().next().unwrap();
        let mut alerts = vec![rule.alert(Language::En, event, Kind::Match)];
        let files = [f.clone()];
        let problems = read_again(&mut alerts, &[0], &kept, &files, 1 << 20);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(alerts[0].record, rec, "after the byte-order mark");

        // Another record where it was, and an input gone: said, never a wrong record.
        alerts[0].record.clear();
        std::fs::write(&f, format!("\u{FEFF}{}\n", rec.replace("e1", "e2"))).unwrap();
        let problems = read_again(&mut alerts, &[0], &kept, &files, 1 << 20);
        assert!(alerts[0].record.is_empty());
        assert_eq!(problems.len(), 1);
        let at = format!("{}:1: changed or gone since it was read", f.display());
        assert!(problems[0].starts_with(&at), "{problems:?}");
        std::fs::remove_file(&f).unwrap();
        let problems = read_again(&mut alerts, &[0], &kept, &files, 1 << 20);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
