//! The literal prefilter: finds, in raw bytes, the records that might match some rule, so that
//! the others are skipped without being parsed.
//!
//! Built from each rule's [`Requirement`]. Sound by construction: a record is only skipped when
//! for every rule some required clause has none of its literals in the text. Literals inside
//! JSON strings can be hidden by escapes (`\u0052oot` is `Root`), so any text containing `\u`
//! (or `\/`, when a literal contains `/`) is treated as a candidate for every rule.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{
    AhoCorasick, AhoCorasickBuilder, Anchored, Input, MatchKind, PatternID, StartKind,
};

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

/// Finds every literal of the table in one text: one automaton (a DFA) whose pattern `i` is
/// the table's literal `i`, ignoring ASCII case when some literal does, a hit of an exact
/// literal then confirmed by its bytes.
///
/// Literals meet it all through a record, so the automaton's own prefilter rarely pays: it
/// has one only for a handful of literals, and is then used. Otherwise the text is walked as
/// four parts at once (each overlapping the next by the longest literal less one byte, so each
/// occurrence lies whole in some part): a DFA's step waits on the previous one, and four
/// independent walks keep the processor busy while they wait (about twice as fast as one).
#[derive(Debug, Clone)]
struct Checker {
    dfa: DFA,
    /// An exact literal's bytes, when the automaton ignores case.
    exact: Vec<Option<Box<[u8]>>>,
    /// The longest literal's length in bytes.
    longest: usize,
}

/// How many parts of a text the checker walks together.
const WAYS: usize = 4;

impl Checker {
    fn build(table: &[Literal]) -> Option<Checker> {
        if table.is_empty() {
            return None;
        }
        let folds = table.iter().any(|l| l.1);
        let dfa = DFA::builder()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(folds)
            .start_kind(StartKind::Unanchored)
            .prefilter(true)
            .build(table.iter().map(|l| l.0.as_bytes()))
            .expect("literal automaton builds");
        let exact = (table.iter())
            .map(|l| (folds && !l.1).then(|| l.0.as_bytes().into()))
            .collect();
        let longest = table.iter().map(|l| l.0.len()).max().unwrap_or(0);
        Some(Checker {
            dfa,
            exact,
            longest,
        })
    }

    /// Marks in `seen` (by table index) every literal in `hay`.
    fn mark(&self, hay: &[u8], seen: &mut [bool]) {
        if self.dfa.prefilter().is_some() {
            let all = (self.dfa)
                .try_find_overlapping_iter(Input::new(hay))
                .expect("an unanchored automaton searches any text");
            for m in all {
                self.note(hay, m.pattern(), m.end(), seen);
            }
            return;
        }
        let start = (self.dfa)
            .start_state(Anchored::No)
            .expect("an unanchored automaton has an unanchored start");
        let part = hay.len() / WAYS;
        if part < 2 * self.longest.max(1) {
            self.walk(hay, 0, start, seen);
            return;
        }
        let overlap = self.longest.saturating_sub(1);
        let from: [usize; WAYS] = std::array::from_fn(|k| k * part);
        let parts: [&[u8]; WAYS] = std::array::from_fn(|k| {
            let end = if k == WAYS - 1 {
                hay.len()
            } else {
                from[k] + part + overlap
            };
            &hay[from[k]..end]
        });
        let together = parts.iter().map(|p| p.len()).min().unwrap_or(0);
        let mut at = [start; WAYS];
        // `i` is a column across the four parts, not an index of one of them.
        #[allow(clippy::needless_range_loop)]
        for i in 0..together {
            let mut special = false;
            for k in 0..WAYS {
                at[k] = self.dfa.next_state(Anchored::No, at[k], parts[k][i]);
                special |= self.dfa.is_special(at[k]);
            }
            if special {
                for k in 0..WAYS {
                    self.matches_at(hay, at[k], from[k] + i + 1, seen);
                }
            }
        }
        for k in 0..WAYS {
            let end = from[k] + parts[k].len();
            self.walk(&hay[..end], from[k] + together, at[k], seen);
        }
    }

    /// Walks `hay` from `from` to its end, from state `sid`.
    fn walk(&self, hay: &[u8], from: usize, mut sid: StateID, seen: &mut [bool]) {
        for (i, &b) in hay[from..].iter().enumerate() {
            sid = self.dfa.next_state(Anchored::No, sid, b);
            if self.dfa.is_special(sid) {
                self.matches_at(hay, sid, from + i + 1, seen);
            }
        }
    }

    /// Notes the literals of state `sid`, reached at `end` in `hay`.
    fn matches_at(&self, hay: &[u8], sid: StateID, end: usize, seen: &mut [bool]) {
        if !self.dfa.is_match(sid) {
            return;
        }
        for i in 0..self.dfa.match_len(sid) {
            self.note(hay, self.dfa.match_pattern(sid, i), end, seen);
        }
    }

    /// Notes literal `p`, found ending at `end` in `hay` (an exact one only when its bytes are
    /// there as written).
    fn note(&self, hay: &[u8], p: PatternID, end: usize, seen: &mut [bool]) {
        let p = p.as_usize();
        if let Some(lit) = &self.exact[p] {
            if hay[end - lit.len()..end] != **lit {
                return;
            }
        }
        seen[p] = true;
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
        let keep = c.longest.saturating_sub(1).min(self.carry.len());
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

    /// The literals of `table` in `text`, one by one (the checker's reference).
    fn naive(table: &[Literal], text: &[u8]) -> Vec<bool> {
        let lower = text.to_ascii_lowercase();
        let has = |h: &[u8], n: &[u8]| h.windows(n.len()).any(|w| w == n);
        (table.iter())
            .map(|(l, folded)| match folded {
                true => has(&lower, &l.to_ascii_lowercase().into_bytes()),
                false => has(text, l.as_bytes()),
            })
            .collect()
    }

    #[test]
    fn the_checker_finds_every_literal_wherever_the_text_is_split() {
        let lit = |t: &str, folded: bool| (t.to_string(), folded);
        // Enough literals that the automaton has no prefilter (the four-part walk), and few
        // enough that it has one; exact ones among folded ones (confirmed by their bytes),
        // and literals inside others.
        let many = vec![
            lit("AssumedRole", false),
            lit("Role", false),
            lit("GetSecretValue", false),
            lit("Get", false),
            lit("stratus-red-team", true),
            lit("kali", true),
            lit("IAMUser", false),
            lit("true", false),
            lit("\\u", false),
            lit("ec2.amazonaws.com", false),
        ];
        let few = vec![lit("AwsApiCall", false), lit("\\u", false)];
        for (table, prefiltered) in [(many, false), (few, true)] {
            let c = Checker::build(&table).unwrap();
            assert_eq!(c.dfa.prefilter().is_some(), prefiltered);
            let mut seen = vec![false; table.len()];
            for len in 0..160usize {
                for (l, folded) in &table {
                    // A folded literal is also written in another case; an exact one that
                    // differs only in case must not be seen.
                    let forms = match folded {
                        true => vec![l.clone(), l.to_ascii_uppercase()],
                        false => vec![l.clone(), l.to_ascii_lowercase()],
                    };
                    for form in forms {
                        for at in 0..=len.saturating_sub(form.len()) {
                            let mut text = vec![b'.'; len.max(form.len())];
                            text[at..at + form.len()].copy_from_slice(form.as_bytes());
                            seen.iter_mut().for_each(|s| *s = false);
                            c.mark(&text, &mut seen);
                            assert_eq!(
                                seen,
                                naive(&table, &text),
                                "{:?}",
                                String::from_utf8_lossy(&text)
                            );
                        }
                    }
                }
            }
        }
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
