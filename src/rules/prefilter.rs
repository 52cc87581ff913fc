//! The literal prefilter: finds, in raw bytes, the records that might match some rule, so that
//! the others are skipped without being parsed.
//!
//! Built from each rule's [`Requirement`]. Sound by construction: a record is only skipped when
//! for every rule some required clause has none of its literals in the text. Literals inside
//! JSON strings can be hidden by escapes (`\u0052oot` is `Root`), so any text containing `\u`
//! (or `\/`, when a literal contains `/`) is treated as a candidate for every rule.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, Input, MatchKind, StartKind};

use std::collections::HashMap;

use crate::pattern::literals::{Encoding, Requirement};

/// Clauses of one rule, as indexes into the literal table; `None`: every record is a candidate.
type RuleClauses = Option<Vec<Vec<usize>>>;

#[derive(Debug, Clone)]
pub struct Prefilter {
    /// Finds the next position where any rule's best clause (or an escape) may be witnessed;
    /// `None` when some rule requires nothing, so every record must be looked at.
    finder: Option<Automata>,
    /// Finds every literal present in one record.
    checker: Option<Checker>,
    literals: usize,
    /// The longest literal's length in bytes.
    longest: usize,
    rules: Vec<RuleClauses>,
    /// Literal indexes of the escape triggers.
    escapes: Vec<usize>,
}

/// A literal of the table: its text, and whether it is matched ignoring ASCII case (Sigma's).
type Literal = (String, bool);

/// The finder's literals searched for as written, and those searched for ignoring ASCII case,
/// in two automata: a case-folded literal (a Sigma rule's) does not make every other literal
/// fold (the automaton stays on its fast paths, its prefilter among them).
#[derive(Debug, Clone)]
struct Automata {
    exact: Option<AhoCorasick>,
    folded: Option<AhoCorasick>,
    /// The longest literal of either.
    longest: usize,
}

impl Automata {
    /// The automata of `lits`; `None` when there is no literal.
    fn build(lits: &[&Literal]) -> Option<Automata> {
        let part = |folded: bool| {
            let texts: Vec<&str> = (lits.iter())
                .filter(|l| l.1 == folded)
                .map(|l| l.0.as_str())
                .collect();
            (!texts.is_empty()).then(|| {
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .ascii_case_insensitive(folded)
                    .build(&texts)
                    .expect("literal automaton builds")
            })
        };
        let a = Automata {
            exact: part(false),
            folded: part(true),
            longest: lits.iter().map(|l| l.0.len()).max().unwrap_or(0),
        };
        (a.exact.is_some() || a.folded.is_some()).then_some(a)
    }

    /// Where the first literal in `hay` starts. With two automata, the exact one searches a
    /// window that doubles from 4 KiB until a literal starts in it, and the folded one only up
    /// to the exact one's hit: neither runs far ahead for a hit the other finds near the start
    /// (`scan` asks again after every line).
    fn find(&self, hay: &[u8]) -> Option<usize> {
        let (exact, folded) = match (&self.exact, &self.folded) {
            (Some(e), Some(f)) => (e, f),
            (Some(one), None) | (None, Some(one)) => return one.find(hay).map(|m| m.start()),
            (None, None) => return None,
        };
        let (mut from, mut step) = (0, 4 << 10);
        loop {
            let to = (from + step).min(hay.len());
            // A literal starting before `to` ends before `stop`.
            let stop = (to + self.longest).min(hay.len());
            let e = exact
                .find(Input::new(hay).range(from..stop))
                .map(|m| m.start());
            // A folded literal starting before the exact hit ends before `bound`.
            let bound = e.map_or(stop, |h| (h + self.longest).min(stop));
            let f = folded
                .find(Input::new(hay).range(from..bound))
                .map(|m| m.start());
            match e.into_iter().chain(f).min() {
                Some(h) if h < to || stop == hay.len() => return Some(h),
                None if stop == hay.len() => return None,
                _ => (from, step) = (to, step * 2),
            }
        }
    }
}

/// Finds every literal of the table in one text in one pass: one automaton (a DFA: literals
/// meet it all through a record, so it runs without a prefilter) whose pattern `i` is the
/// table's literal `i`, ignoring ASCII case when some literal does, a hit of an exact literal
/// then confirmed by its bytes.
#[derive(Debug, Clone)]
struct Checker {
    ac: AhoCorasick,
    /// An exact literal's bytes, when the automaton ignores case.
    exact: Vec<Option<Box<[u8]>>>,
}

impl Checker {
    fn build(table: &[Literal]) -> Option<Checker> {
        if table.is_empty() {
            return None;
        }
        let folds = table.iter().any(|l| l.1);
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(folds)
            .kind(Some(AhoCorasickKind::DFA))
            .start_kind(StartKind::Unanchored)
            .prefilter(false)
            .build(table.iter().map(|l| l.0.as_bytes()))
            .expect("literal automaton builds");
        let exact = (table.iter())
            .map(|l| (folds && !l.1).then(|| l.0.as_bytes().into()))
            .collect();
        Some(Checker { ac, exact })
    }

    /// Marks in `seen` (by table index) every literal in `hay`.
    fn mark(&self, hay: &[u8], seen: &mut [bool]) {
        for m in self.ac.find_overlapping_iter(hay) {
            let p = m.pattern().as_usize();
            if let Some(lit) = &self.exact[p] {
                if hay[m.range()] != **lit {
                    continue;
                }
            }
            seen[p] = true;
        }
    }
}

impl Prefilter {
    pub fn new(reqs: &[Requirement]) -> Prefilter {
        let mut table: Vec<Literal> = Vec::new();
        let mut at: HashMap<Literal, usize> = HashMap::new();
        let mut index = |l: Literal, table: &mut Vec<Literal>| {
            *at.entry(l.clone()).or_insert_with(|| {
                table.push(l);
                table.len() - 1
            })
        };
        let mut rules = Vec::new();
        let mut json_literals = false;
        let mut slash = false;
        let mut finder_lits: Vec<usize> = Vec::new();
        let mut exhaustive = false;
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
            }
            let lit = |l: &crate::pattern::literals::Literal| {
                (l.text.clone(), l.encoding == Encoding::JsonStringFolded)
            };
            let clauses = r
                .clauses
                .iter()
                .map(|c| c.iter().map(|l| index(lit(l), &mut table)).collect())
                .collect();
            rules.push(Some(clauses));
            for l in r.best().into_iter().flatten() {
                finder_lits.push(index(lit(l), &mut table));
            }
        }
        let mut escapes = Vec::new();
        if json_literals {
            escapes.push(index(("\\u".into(), false), &mut table));
            if slash {
                escapes.push(index(("\\/".into(), false), &mut table));
            }
            finder_lits.extend(escapes.iter().copied());
        }
        finder_lits.sort();
        finder_lits.dedup();
        let finder = if exhaustive {
            None
        } else {
            let lits: Vec<&Literal> = finder_lits.iter().map(|&i| &table[i]).collect();
            Automata::build(&lits)
        };
        let checker = Checker::build(&table);
        Prefilter {
            finder,
            checker,
            literals: table.len(),
            longest: table.iter().map(|l| l.0.len()).max().unwrap_or(0),
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
            Some(f) => f.find(hay),
            None => (!hay.is_empty()).then_some(0),
        }
    }

    /// Marks in `out` (one flag per rule) the rules that may match the record `text`.
    /// Returns true when at least one may.
    pub fn candidates(&self, text: &[u8], out: &mut Vec<bool>) -> bool {
        thread_local! {
            static SEEN: std::cell::RefCell<Vec<bool>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SEEN.with_borrow_mut(|seen| {
            seen.clear();
            seen.resize(self.literals, false);
            if let Some(c) = &self.checker {
                c.mark(text, seen);
            }
            self.judge(seen, out)
        })
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
        c.mark(&self.carry, &mut self.seen);
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
    fn a_folded_literal_ignores_case_and_leaves_the_others_exact() {
        let folded = Requirement::any_of([("deleteuser".to_string(), Encoding::JsonStringFolded)]);
        let p = Prefilter::new(&[req(&[&["CreateUser"]]), folded]);
        let mut out = Vec::new();
        assert!(
            !p.candidates(br#"{"eventName":"createuser"}"#, &mut out),
            "an exact literal stays exact beside a folded one"
        );
        assert!(p.candidates(br#"{"eventName":"DELETEUser"}"#, &mut out));
        assert_eq!(out, [false, true]);
        assert!(p.candidates(br#"{"eventName":"CreateUser"}"#, &mut out));
        assert_eq!(out, [true, false]);
        // The first hit of either, wherever it is.
        assert_eq!(p.next_hit(b"xx createuser DeleteUSER CreateUser"), Some(14));
        assert_eq!(p.next_hit(b"xx CreateUser DELETEuser"), Some(3));
        assert_eq!(p.next_hit(b"xx DELETEuser CreateUser"), Some(3));
        assert_eq!(p.next_hit(b"xx createuser"), None);
        // Far into a long text, across the search windows' ends (64 KiB, then doubling).
        let at = |exact: usize, folded: usize| {
            let mut hay = vec![b'.'; 600_000];
            hay[exact..exact + 10].copy_from_slice(b"CreateUser");
            hay[folded..folded + 10].copy_from_slice(b"deleteUSER");
            p.next_hit(&hay)
        };
        for (e, f) in [
            (300_000, 100_000),
            (65_530, 400_000),
            (500_000, 196_600),
            (589_990, 0),
        ] {
            assert_eq!(at(e, f), Some(e.min(f)), "{e} {f}");
        }
        assert_eq!(p.next_hit(&[b'.'; 300_000]), None);
        let mut c = p.chunked();
        b"..DeLeTeUsEr..".chunks(3).for_each(|b| c.feed(b));
        assert!(c.finish(&mut out));
        assert_eq!(out, [false, true]);
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
