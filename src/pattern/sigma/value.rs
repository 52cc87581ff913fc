//! One Sigma value and how a field's value is tested against it: strings with `*` and `?`
//! wildcards (case-insensitive unless `cased`), regular expressions, CIDR blocks, numbers and
//! their comparisons, another field's value (`fieldref`). Values come from YAML: a number or a
//! boolean is compared as its text, as the specification treats every value as a string.

use regex::Regex;

use crate::pattern::event::Cidr;

/// A piece of a wildcard string.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Piece {
    Text(String),
    /// `*`: any run of characters.
    Any,
    /// `?`: exactly one character.
    One,
}

/// A string with wildcards, as written (escapes resolved), folded to lower case unless cased.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Wild {
    pub pieces: Vec<Piece>,
    pub cased: bool,
    /// The text as written (escapes resolved, case kept) when it has no wildcard.
    written: Option<String>,
}

impl Wild {
    /// Reads `\*`, `\?` and `\\` escapes (a backslash before anything else is itself).
    pub(super) fn parse(s: &str, cased: bool) -> Wild {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = s.chars().peekable();
        let flush = |text: &mut String, pieces: &mut Vec<Piece>| {
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(text)));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some('*' | '?' | '\\') => text.push(chars.next().expect("peeked")),
                    _ => text.push('\\'),
                },
                '*' => {
                    flush(&mut text, &mut pieces);
                    if pieces.last() != Some(&Piece::Any) {
                        pieces.push(Piece::Any);
                    }
                }
                '?' => {
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::One);
                }
                c => text.push(c),
            }
        }
        flush(&mut text, &mut pieces);
        let written = match pieces.as_slice() {
            [] => Some(String::new()),
            [Piece::Text(t)] => Some(t.clone()),
            _ => None,
        };
        let mut w = Wild {
            pieces,
            cased,
            written,
        };
        if !cased {
            for p in &mut w.pieces {
                if let Piece::Text(t) = p {
                    *t = t.to_lowercase();
                }
            }
        }
        w
    }

    /// With `*` added before (`contains`, `endswith`) and after (`contains`, `startswith`).
    pub(super) fn around(mut self, before: bool, after: bool) -> Wild {
        if before || after {
            self.written = None;
        }
        if before && self.pieces.first() != Some(&Piece::Any) {
            self.pieces.insert(0, Piece::Any);
        }
        if after && self.pieces.last() != Some(&Piece::Any) {
            self.pieces.push(Piece::Any);
        }
        self
    }

    /// True when the whole of `text` matches.
    pub(super) fn matches(&self, text: &str) -> bool {
        let folded;
        let plain = |t: &str| t.is_ascii() && !t.bytes().any(|b| b.is_ascii_uppercase());
        let t: &str = if self.cased || plain(text) {
            text
        } else {
            folded = text.to_lowercase();
            &folded
        };
        // Sigma's usual shapes (a value, `startswith`, `endswith`, `contains`) as plain string
        // searches; any other through the wildcard matcher.
        match self.pieces.as_slice() {
            [Piece::Text(p)] => t == p,
            [Piece::Text(p), Piece::Any] => t.starts_with(p.as_str()),
            [Piece::Any, Piece::Text(p)] => t.ends_with(p.as_str()),
            [Piece::Any, Piece::Text(p), Piece::Any] => {
                memchr::memmem::find(t.as_bytes(), p.as_bytes()).is_some()
            }
            pieces => glob(pieces, t),
        }
    }

    /// The text as written (in its case) when there is no wildcard in it.
    pub(super) fn exact(&self) -> Option<&str> {
        self.written.as_deref()
    }

    /// The longest run of plain text, which every matching value contains.
    pub(super) fn longest_text(&self) -> Option<&str> {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .max_by_key(|t| t.len())
    }
}

/// Wildcard matching with backtracking on the last `*` (linear in practice).
fn glob(pieces: &[Piece], text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    // (piece index, char index) to go back to after the last `*`.
    let mut star: Option<(usize, usize)> = None;
    let (mut p, mut i) = (0, 0);
    loop {
        let step = match pieces.get(p) {
            Some(Piece::Any) => {
                star = Some((p + 1, i));
                p += 1;
                continue;
            }
            Some(Piece::One) if i < chars.len() => Some(1),
            Some(Piece::Text(t)) => {
                let n = t.chars().count();
                let here = chars
                    .get(i..i + n)
                    .is_some_and(|w| w.iter().copied().eq(t.chars()));
                here.then_some(n)
            }
            Some(Piece::One) => None,
            None if i == chars.len() => return true,
            None => None,
        };
        match step {
            Some(n) => {
                p += 1;
                i += n;
            }
            None => match star {
                Some((sp, si)) if si < chars.len() => {
                    star = Some((sp, si + 1));
                    p = sp;
                    i = si + 1;
                }
                _ => return false,
            },
        }
    }
}

/// How a number is compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Cmp {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// One value of a field's test.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Str(Wild),
    /// A YAML number: equal as a number, or as text.
    Num(f64, String),
    Compare(Cmp, f64),
    Re(Regex),
    Cidr(Cidr),
    /// Another field's value (`fieldref`), compared as text.
    Field {
        path: Vec<String>,
        cased: bool,
    },
}

impl Value {
    /// True when the field's value (as text) satisfies it; `record` is there for `fieldref`.
    pub(super) fn test(&self, v: &str, record: &serde_json::Value) -> bool {
        match self {
            Value::Str(w) => w.matches(v),
            Value::Num(n, text) => v == text || v.parse::<f64>().is_ok_and(|x| x == *n),
            Value::Compare(c, n) => v.parse::<f64>().is_ok_and(|x| match c {
                Cmp::Lt => x < *n,
                Cmp::Lte => x <= *n,
                Cmp::Gt => x > *n,
                Cmp::Gte => x >= *n,
            }),
            Value::Re(r) => r.is_match(v),
            Value::Cidr(c) => c.contains(v),
            Value::Field { path, cased } => super::path::leaves(record, path).iter().any(|o| {
                if *cased {
                    o == v
                } else {
                    o.to_lowercase() == v.to_lowercase()
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_escapes_and_case() {
        let w = |s: &str| Wild::parse(s, false);
        assert!(w("CreateUser").matches("createuser"));
        assert!(!Wild::parse("CreateUser", true).matches("createuser"));
        assert!(w("Create*").matches("CreateAccessKey") && w("*Key").matches("CreateAccessKey"));
        assert!(w("prog?.exe").matches("progA.exe") && !w("prog?.exe").matches("prog.exe"));
        assert!(w(r"a\*b").matches("a*b") && !w(r"a\*b").matches("axb"));
        assert!(
            w(r"a\\*").matches(r"a\anything"),
            "an escaped backslash, then a wildcard"
        );
        assert!(
            w(r"C:\Windows").matches(r"c:\windows"),
            "a plain backslash is itself"
        );
        assert!(w("a*b*c").matches("a-b-b-c") && !w("a*b*c").matches("acb"));
        assert!(w("").matches("") && !w("").matches("x"));
        assert!(w("*").matches(""));
        assert!(w("ÉTÉ").matches("été"), "case folds beyond ASCII");
        assert_eq!(w("a*b").around(true, true).pieces.len(), 5);
    }

    #[test]
    fn the_usual_shapes_match_as_the_wildcard_matcher_does() {
        let texts = [
            "",
            "Kali",
            "kali linux",
            "aws-cli/2 PACU",
            "pacu",
            "é-Été",
            "xpacux",
            "ab",
        ];
        for value in ["pacu", "Kali", "été", "", "a", "ab"] {
            for cased in [false, true] {
                for (start, end) in [(false, false), (true, false), (false, true), (true, true)] {
                    let w = Wild::parse(value, cased).around(start, end);
                    for t in texts {
                        let folded = if cased {
                            t.to_string()
                        } else {
                            t.to_lowercase()
                        };
                        let want = glob(&w.pieces, &folded);
                        assert_eq!(w.matches(t), want, "{value:?} {start} {end} {cased} {t:?}");
                    }
                }
            }
        }
    }
}
