//! The value side of a filter condition (`= "x*"`, `>= 500`, `= %re%`), shared by JSON and
//! space-delimited patterns.

use super::regex::CwRegex;
use crate::pattern::literals::{Encoding, Requirement};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
        }
    }
}

/// A string comparison with CloudWatch's `*` wildcards at either end.
#[derive(Debug, Clone, PartialEq)]
pub enum StrMatch {
    /// `*` alone: any value.
    Any,
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
}

impl StrMatch {
    /// `*` at the start or end is a wildcard; a `*` anywhere else is a literal character.
    pub fn from_value(s: &str) -> StrMatch {
        if s == "*" {
            return StrMatch::Any;
        }
        let (lead, trail) = (s.starts_with('*'), s.len() >= 2 && s.ends_with('*'));
        match (lead, trail) {
            (true, true) => StrMatch::Contains(s[1..s.len() - 1].to_string()),
            (true, false) => StrMatch::Suffix(s[1..].to_string()),
            (false, true) => StrMatch::Prefix(s[..s.len() - 1].to_string()),
            (false, false) => StrMatch::Exact(s.to_string()),
        }
    }

    pub fn is_match(&self, v: &str) -> bool {
        match self {
            StrMatch::Any => true,
            StrMatch::Exact(s) => v == s,
            StrMatch::Prefix(s) => v.starts_with(s.as_str()),
            StrMatch::Suffix(s) => v.ends_with(s.as_str()),
            StrMatch::Contains(s) => v.contains(s.as_str()),
        }
    }

    fn literal(&self) -> Option<&str> {
        match self {
            StrMatch::Any => None,
            StrMatch::Exact(s)
            | StrMatch::Prefix(s)
            | StrMatch::Suffix(s)
            | StrMatch::Contains(s) => Some(s),
        }
    }
}

/// The test applied to one selected value or field.
#[derive(Debug, Clone)]
pub enum ValueTest {
    /// `=` / `!=` against a string (quoted, or a bare token that is not a number).
    Str { negate: bool, m: StrMatch },
    /// A numeric comparison against a number literal.
    Num { op: CmpOp, n: f64 },
    /// `= %re%` / `!= %re%`: a regex search inside the value.
    Regex { negate: bool, re: CwRegex },
}

/// What a selected value looks like to a test.
#[derive(Debug, Clone, Copy)]
pub enum Scalar<'a> {
    Str(&'a str),
    /// A number; its source text (for regexes) and value.
    Num(&'a str, f64),
}

impl ValueTest {
    /// Applies the test to a string or number value.
    pub fn test(&self, v: Scalar<'_>) -> bool {
        match (self, v) {
            (
                ValueTest::Str {
                    negate: false,
                    m: StrMatch::Any,
                },
                _,
            ) => true,
            (ValueTest::Str { negate, m }, Scalar::Str(s)) => m.is_match(s) != *negate,
            (ValueTest::Str { .. }, Scalar::Num(..)) => false,
            (ValueTest::Num { op, n }, Scalar::Num(_, x)) => {
                x.partial_cmp(n).is_some_and(|o| op.holds(o))
            }
            (ValueTest::Num { .. }, Scalar::Str(_)) => false,
            (ValueTest::Regex { negate, re }, Scalar::Str(s) | Scalar::Num(s, _)) => {
                re.is_match(s) != *negate
            }
        }
    }

    /// The literal a matching value must contain, for the prefilter.
    pub fn requirement(&self) -> Requirement {
        match self {
            ValueTest::Str { negate: false, m } => match m.literal() {
                Some(l) => Requirement::literal(l, Encoding::JsonString),
                None => Requirement::none(),
            },
            _ => Requirement::none(),
        }
    }

    pub fn is_regex(&self) -> bool {
        matches!(self, ValueTest::Regex { .. })
    }
}

/// Parses a CloudWatch number literal: `[+-]digits[.digits][(e|E)[+-]digits]`.
pub fn parse_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.trim_start_matches('+').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_only_at_the_ends() {
        assert!(StrMatch::from_value("Admin*").is_match("AdminBot"));
        assert!(StrMatch::from_value("*Event").is_match("MyEvent"));
        assert!(StrMatch::from_value("*x*").is_match("axb"));
        assert!(!StrMatch::from_value("Ad*min").is_match("Adxmin"));
        assert!(StrMatch::from_value("Ad*min").is_match("Ad*min"));
        assert_eq!(StrMatch::from_value("*"), StrMatch::Any);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("1e+3"), Some(1000.0));
        assert_eq!(parse_number("10e-3"), Some(0.01));
        assert_eq!(parse_number("-1.5"), Some(-1.5));
        assert_eq!(parse_number("+2"), Some(2.0));
        for bad in ["", "1.", ".5", "1e", "0x10", "1,0", "123.123.*"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }
}
