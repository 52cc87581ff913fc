//! The one record evaluator: a record's text in, the rules it matches out. `scan`, the `files`
//! source and every poll go through it, so a record is judged the same way wherever it is read:
//! screened by the literal prefilter, parsed (see `record` for lone surrogates; the members no
//! rule it may match reads are left out of the value), wrapped in its EventBridge event when it
//! came in one, then matched rule by rule, exclusions included.

use std::fmt;

use std::sync::Arc;

use super::{Prefilter, Rule, RuleSet};
use crate::enrich::Enricher;
use crate::format::RawRecord;
use crate::language::Language;
use crate::record::{self, Record, Repair, Unread};

/// Rules ready to judge records one by one.
pub struct Evaluator {
    rules: RuleSet,
    /// Indexes of the enabled rules in `rules.all()`, in the prefilter's order.
    enabled: Vec<usize>,
    prefilter: Prefilter,
    /// What each enabled rule reads among the members a parse may leave out (bits of an index
    /// of `unread`), and whether it reads `enrich` (the bit `unread.len()`, above those).
    reads: Vec<usize>,
    /// `Unread::every()`: a record's parse leaves out the members no rule it may match (no
    /// candidate of the prefilter) reads, and `enrich` is worked out only when one reads it.
    unread: Vec<Unread>,
    /// The language of alerts' titles and subjects.
    language: Language,
    /// The networks of records' source addresses, put in every record the rules see (in
    /// place of any `enrich` member the record carried) when a rule reads them.
    enricher: Arc<Enricher>,
}

/// Whether a record's candidate rules still have to be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Run the prefilter on the record (or on the event around it).
    Needed,
    /// The candidates were found for this very text (the value the record is).
    Done,
    /// No prefilter: every rule is a candidate, and the record is parsed whole
    /// (verification, benchmarks).
    Off,
}

/// Why a record could not be judged.
#[derive(Debug)]
pub enum Malformed {
    NotObject,
    Record(serde_json::Error),
    Event(serde_json::Error),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::NotObject => f.write_str("record is not a JSON object, skipped"),
            Malformed::Record(e) => write!(f, "malformed record, skipped: {e}"),
            Malformed::Event(e) => write!(f, "malformed event, skipped: {e}"),
        }
    }
}

/// A record and the enabled rules it matches (at least one), with their indexes among the
/// enabled rules, and what had to be repaired to read it.
pub struct Matched<'e, 't> {
    /// Its text whole; its value without the members no rule it may match reads
    /// (`record::Unread`).
    pub record: Record<'t>,
    pub rules: Vec<(usize, &'e Rule)>,
    pub repairs: Vec<Repair>,
}

/// The evaluator's judgement of one record.
pub enum Verdict<'e, 't> {
    /// No rule matches.
    Pass,
    Match(Matched<'e, 't>),
    /// The record cannot be read; `might_match`: the enabled rules whose literals its text
    /// holds (empty without the prefilter), which it may match.
    Malformed(Malformed, Vec<&'e Rule>),
}

impl Evaluator {
    /// The enabled rules of `rules`, ready.
    pub fn new(rules: RuleSet) -> Evaluator {
        let enabled: Vec<usize> = rules
            .all()
            .iter()
            .enumerate()
            .filter(|(_, r)| r.enabled)
            .map(|(i, _)| i)
            .collect();
        let unread = Unread::every();
        let reads = (enabled.iter())
            .map(|&i| {
                let reads = rules.all()[i].reads();
                let enrich = if reads.reads("enrich") {
                    unread.len()
                } else {
                    0
                };
                Unread::bits_read(&reads) | enrich
            })
            .collect();
        Evaluator {
            prefilter: rules.prefilter(),
            reads,
            unread,
            enabled,
            rules,
            language: Language::default(),
            enricher: Arc::default(),
        }
    }

    /// Records seen with the networks `enricher` knows.
    pub fn with_enricher(mut self, enricher: Arc<Enricher>) -> Self {
        self.enricher = enricher;
        self
    }

    /// The networks of records' source addresses.
    pub fn enricher(&self) -> &Enricher {
        &self.enricher
    }

    /// Alerts' titles and subjects in `language`.
    pub fn with_language(mut self, language: Language) -> Self {
        self.language = language;
        self
    }

    pub fn language(&self) -> Language {
        self.language
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The enabled rules, in the order of `Screen` candidates.
    pub fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.enabled.iter().map(|&i| &self.rules.all()[i])
    }

    /// The number of enabled rules.
    pub fn rule_count(&self) -> usize {
        self.enabled.len()
    }

    /// Finds the candidate rules of raw bytes; false when no rule can match them.
    pub fn screen(&self, text: &[u8], cands: &mut Vec<bool>) -> bool {
        self.prefilter.candidates(text, cands)
    }

    /// A witness of every byte of a record too long to keep whole: which enabled rules'
    /// literals it holds (`format::stream` hands its verdict on with the reduced record).
    pub fn witness(&self) -> LiteralWitness<'_> {
        LiteralWitness {
            chunked: self.prefilter.chunked(),
            flags: Vec::new(),
        }
    }

    /// The enabled rules a reduced record may match in what was elided from it: their
    /// literals are in its whole text (`whole`, the witness's verdict) but not in what was
    /// kept. (A rule that needs no literal cannot be judged this way.)
    pub fn elided_matches(&self, whole: &[usize], kept: &str) -> Vec<&Rule> {
        let mut in_kept = Vec::new();
        self.prefilter.candidates(kept.as_bytes(), &mut in_kept);
        self.enabled()
            .enumerate()
            .filter(|(i, _)| {
                whole.contains(i)
                    && !in_kept.get(*i).copied().unwrap_or(true)
                    && self.prefilter.requires(*i)
            })
            .map(|(_, r)| r)
            .collect()
    }

    /// The offset of the next place in `hay` where some rule may match (`scan`'s line jumps).
    pub fn next_hit(&self, hay: &[u8]) -> Option<usize> {
        self.prefilter.next_hit(hay)
    }

    /// Judges one record. `cands` holds the candidate rules when `screen` is `Done`.
    pub fn evaluate<'t>(
        &self,
        raw: RawRecord<'t>,
        cands: &mut Vec<bool>,
        screen: Screen,
    ) -> Verdict<'_, 't> {
        if !raw.text.trim_start().starts_with('{') {
            return Verdict::Malformed(Malformed::NotObject, Vec::new());
        }
        match screen {
            Screen::Needed => {
                let bytes = raw.event.unwrap_or(&raw.text).as_bytes();
                if !self.prefilter.candidates(bytes, cands) {
                    return Verdict::Pass;
                }
            }
            Screen::Done => {}
            Screen::Off => {
                cands.clear();
                cands.resize(self.enabled.len(), true);
            }
        }
        let might = |cands: &[bool]| -> Vec<&Rule> {
            if screen == Screen::Off {
                return Vec::new();
            }
            self.enabled()
                .zip(cands.iter())
                .filter(|(_, c)| **c)
                .map(|(r, _)| r)
                .collect()
        };
        // What the rules this record may match read.
        let read = (cands.iter().zip(&self.reads))
            .filter(|(c, _)| **c)
            .fold(0, |read, (_, r)| read | r);
        let enrich_bit = self.unread.len();
        let unread = match screen {
            Screen::Off => &Unread::default(),
            _ => &self.unread[read & (enrich_bit - 1)],
        };
        let (mut rec, repairs) = match Record::parse_leaving_out(raw.text, unread) {
            Ok(r) => r,
            Err(e) => return Verdict::Malformed(Malformed::Record(e), might(cands)),
        };
        if let Some(ev) = raw.event {
            match record::parse_value(ev) {
                Ok(v) => rec.event = Some(v),
                Err(e) => return Verdict::Malformed(Malformed::Event(e), might(cands)),
            }
        }
        if read & enrich_bit != 0 || screen == Screen::Off {
            self.enricher.apply(&mut rec.value, rec.event.as_mut());
        }
        let rules: Vec<(usize, &Rule)> = self
            .enabled()
            .enumerate()
            .zip(cands.iter())
            .filter(|((_, r), c)| **c && r.is_match(&rec))
            .map(|(r, _)| r)
            .collect();
        if rules.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Match(Matched {
                record: rec,
                rules,
                repairs,
            })
        }
    }

    /// Judges a record given as its JSON text alone (what AWS APIs return).
    pub fn evaluate_text<'t>(&self, text: &'t str, cands: &mut Vec<bool>) -> Verdict<'_, 't> {
        let raw = RawRecord {
            text: text.into(),
            event: None,
            index: None,
        };
        self.evaluate(raw, cands, Screen::Needed)
    }
}

/// What an [`Evaluator`] learns from the bytes of a record too long to keep: the enabled
/// rules whose literals are in it.
pub struct LiteralWitness<'e> {
    chunked: super::prefilter::Chunked<'e>,
    flags: Vec<bool>,
}

impl crate::format::stream::Witness for LiteralWitness<'_> {
    fn feed(&mut self, bytes: &[u8]) {
        self.chunked.feed(bytes);
    }

    fn verdict(&mut self) -> Vec<usize> {
        self.chunked.finish(&mut self.flags);
        self.flags
            .iter()
            .enumerate()
            .filter(|(_, f)| **f)
            .map(|(i, _)| i)
            .collect()
    }
}
