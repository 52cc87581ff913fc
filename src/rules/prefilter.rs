//! The literal prefilter: finds, in raw bytes, the records that might match some rule, so that
//! the others are skipped without being parsed.
//!
//! Built from each rule's [`Requirement`]. Sound by construction: a record is only skipped when
//! for every rule some required clause has none of its literals in the text. Literals inside
//! JSON strings can be hidden by escapes (`\u0052oot` is `Root`), so any text containing `\u`
//! (or `\/`, when a literal contains `/`) is treated as a candidate for every rule.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use std::collections::HashMap;

use crate::pattern::literals::{Encoding, Requirement};

/// Clauses of one rule, as indexes into the literal table; `None`: every record is a candidate.
type RuleClauses = Option<Vec<Vec<usize>>>;

#[derive(Debug, Clone)]
pub struct Prefilter {
    /// Finds the next position where any rule's best clause (or an escape) may be witnessed;
    /// `None` when some rule requires nothing, so every record must be looked at.
    finder: Option<AhoCorasick>,
    /// Finds every literal present in one record.
    checker: Option<AhoCorasick>,
    literals: usize,
    /// The longest literal's length in bytes.
    longest: usize,
    rules: Vec<RuleClauses>,
    /// Literal indexes of the escape triggers.
    escapes: Vec<usize>,
}

impl Prefilter {
    pub fn new(reqs: &[Requirement]) -> Prefilter {
        let mut table: Vec<String> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        let mut index = |s: &str, table: &mut Vec<String>| {
            *at.entry(s.to_string()).or_insert_with(|| {
                table.push(s.to_string());
                table.len() - 1
            })
        };
        let mut rules = Vec::new();
        let mut json_literals = false;
        let mut slash = false;
        let mut finder_lits: Vec<String> = Vec::new();
        let mut exhaustive = false;
        // Case-folded literals (Sigma's) make the automata ignore ASCII case for every literal:
        // more candidates, never fewer, so still sound.
        let mut folded = false;
        for r in reqs {
            if r.is_none() {
                rules.push(None);
                exhaustive = true;
                continue;
            }
            for l in r.clauses.iter().flatten() {
                if matches!(
                    l.encoding,
                    Encoding::JsonString | Encoding::JsonStringFolded
                ) {
                    json_literals = true;
                    slash |= l.text.contains('/');
                }
                folded |= l.encoding == Encoding::JsonStringFolded;
            }
            let clauses = r
                .clauses
                .iter()
                .map(|c| c.iter().map(|l| index(&l.text, &mut table)).collect())
                .collect();
            rules.push(Some(clauses));
            finder_lits.extend(r.best().into_iter().flatten().map(|l| l.text.clone()));
        }
        let mut escapes = Vec::new();
        if json_literals {
            escapes.push(index("\\u", &mut table));
            finder_lits.push("\\u".into());
            if slash {
                escapes.push(index("\\/", &mut table));
                finder_lits.push("\\/".into());
            }
        }
        finder_lits.sort();
        finder_lits.dedup();
        let build = |lits: &[String], kind: MatchKind| {
            AhoCorasickBuilder::new()
                .match_kind(kind)
                .ascii_case_insensitive(folded)
                .build(lits)
                .expect("literal automaton builds")
        };
        let finder = (!exhaustive && !finder_lits.is_empty())
            .then(|| build(&finder_lits, MatchKind::LeftmostFirst));
        let checker = (!table.is_empty()).then(|| build(&table, MatchKind::Standard));
        Prefilter {
            finder,
            checker,
            literals: table.len(),
            longest: table.iter().map(String::len).max().unwrap_or(0),
            rules,
            escapes,
        }
    }

    /// True when records can be skipped at all.
    pub fn skips(&self) -> bool {
        self.finder.is_some()
    }

    /// The offset of the next place in `hay` where a candidate record may be; `None` when there
    /// is none. Without a finder every offset may be, so this returns `Some(0)`.
    pub fn next_hit(&self, hay: &[u8]) -> Option<usize> {
        match &self.finder {
            Some(f) => f.find(hay).map(|m| m.start()),
            None => (!hay.is_empty()).then_some(0),
        }
    }

    /// Marks in `out` (one flag per rule) the rules that may match the record `text`.
    /// Returns true when at least one may.
    pub fn candidates(&self, text: &[u8], out: &mut Vec<bool>) -> bool {
        let mut seen = vec![false; self.literals];
        if let Some(c) = &self.checker {
            for m in c.find_overlapping_iter(text) {
                seen[m.pattern().as_usize()] = true;
            }
        }
        self.judge(&seen, out)
    }

    /// The rules whose clauses all have a literal among `seen`.
    fn judge(&self, seen: &[bool], out: &mut Vec<bool>) -> bool {
        out.clear();
        let escaped = self.escapes.iter().any(|&i| seen[i]);
        let mut any = false;
        for r in &self.rules {
            let ok = escaped
                || match r {
                    None => true,
                    Some(clauses) => clauses.iter().all(|c| c.iter().any(|&i| seen[i])),
                };
            any |= ok;
            out.push(ok);
        }
        any
    }

    /// True when rule `i` needs some literal (a record without it cannot match).
    pub fn requires(&self, i: usize) -> bool {
        self.rules.get(i).is_some_and(Option::is_some)
    }

    /// A search for the literals across the chunks of a text too long to keep whole.
    pub fn chunked(&self) -> Chunked<'_> {
        Chunked {
            p: self,
            seen: vec![false; self.literals],
            carry: Vec::new(),
        }
    }
}

/// The literals found in a text given chunk by chunk (a literal may straddle two chunks).
pub struct Chunked<'p> {
    p: &'p Prefilter,
    seen: Vec<bool>,
    /// The end of the previous chunk, shorter than the longest literal.
    carry: Vec<u8>,
}

impl Chunked<'_> {
    pub fn feed(&mut self, bytes: &[u8]) {
        let Some(c) = &self.p.checker else { return };
        self.carry.extend_from_slice(bytes);
        for m in c.find_overlapping_iter(&self.carry) {
            self.seen[m.pattern().as_usize()] = true;
        }
        let keep = self.p.longest.saturating_sub(1).min(self.carry.len());
        self.carry.drain(..self.carry.len() - keep);
    }

    /// The rules that may match the text fed so far (as `candidates`); starts again.
    pub fn finish(&mut self, out: &mut Vec<bool>) -> bool {
        let any = self.p.judge(&self.seen, out);
        self.seen.iter_mut().for_each(|s| *s = false);
        self.carry.clear();
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(lits: &[&[&str]]) -> Requirement {
        lits.iter().fold(Requirement::none(), |r, c| {
            r.and(Requirement::any_of(
                c.iter().map(|s| (s.to_string(), Encoding::JsonString)),
            ))
        })
    }

    #[test]
    fn skips_records_without_literals() {
        let p = Prefilter::new(&[
            req(&[&["Root"]]),
            req(&[&["iam.amazonaws.com"], &["CreateUser", "DeleteUser"]]),
        ]);
        let mut out = Vec::new();
        assert!(!p.candidates(br#"{"eventName":"GetObject"}"#, &mut out));
        assert!(!p.candidates(
            br#"{"eventSource":"iam.amazonaws.com","eventName":"GetUser"}"#,
            &mut out
        ));
        assert!(p.candidates(
            br#"{"eventSource":"iam.amazonaws.com","eventName":"CreateUser"}"#,
            &mut out
        ));
        assert_eq!(out, [false, true]);
        assert!(
            p.candidates(br#"{"type":"\u0052oot"}"#, &mut out),
            "escapes make every rule a candidate"
        );
        assert_eq!(out, [true, true]);
        assert_eq!(p.next_hit(b"xxxx DeleteUser"), Some(5));
        assert_eq!(
            p.next_hit(b"xxxx iam.amazonaws.com"),
            None,
            "the finder uses each rule's best clause"
        );
    }

    #[test]
    fn literals_are_found_across_chunks() {
        let p = Prefilter::new(&[req(&[&["iam.amazonaws.com"], &["CreateUser"]])]);
        let text = br#"{"eventSource":"iam.amazonaws.com","x":"....","eventName":"CreateUser"}"#;
        let mut whole = Vec::new();
        p.candidates(text, &mut whole);
        for size in [1, 3, 7, 16] {
            let mut c = p.chunked();
            text.chunks(size).for_each(|b| c.feed(b));
            let mut out = Vec::new();
            assert!(c.finish(&mut out), "chunks of {size}");
            assert_eq!(out, whole);
            // It starts again after finishing.
            c.feed(b"CreateUser");
            assert!(!c.finish(&mut out));
        }
        assert!(p.requires(0));
    }

    #[test]
    fn a_rule_without_requirement_makes_everything_a_candidate() {
        let p = Prefilter::new(&[req(&[&["Root"]]), Requirement::none()]);
        assert!(!p.skips());
        let mut out = Vec::new();
        assert!(p.candidates(b"{}", &mut out));
        assert_eq!(out, [false, true]);
    }
}
