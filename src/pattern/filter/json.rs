//! JSON filter patterns (`{ $.a.b = "x" && ($.c > 1 || $.d NOT EXISTS) }`): parser and evaluator.

use serde_json::Value;

use super::cursor::Cursor;
use super::error::FilterError;
use super::value::{Scalar, StrMatch, ValueTest};
use crate::pattern::literals::{Encoding, Requirement};
use crate::pattern::reads::Reads;

const MAX_WILDCARDS_PER_SELECTOR: usize = 1;
const MAX_WILDCARDS_PER_PATTERN: usize = 3;

/// One step of a selector.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    Key(String),
    Index(usize),
    /// `[*]`: any array element.
    AnyIndex,
    /// `.*`: any object member.
    AnyKey,
}

/// What a condition checks on the selected value(s).
#[derive(Debug, Clone)]
pub(super) enum Check {
    Value(ValueTest),
    IsNull,
    IsTrue,
    IsFalse,
    NotExists,
}

/// A boolean expression over conditions.
#[derive(Debug, Clone)]
pub(super) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cond { selector: Vec<Step>, check: Check },
}

/// See `FilterPattern::pinned_strings`.
pub(super) fn pinned(e: &Expr, path: &[&str]) -> Option<Vec<String>> {
    match e {
        Expr::Cond {
            selector,
            check:
                Check::Value(ValueTest::Str {
                    negate: false,
                    m: StrMatch::Exact(s),
                }),
        } if selector.len() == path.len()
            && selector
                .iter()
                .zip(path)
                .all(|(st, k)| matches!(st, Step::Key(x) if x == k)) =>
        {
            Some(vec![s.clone()])
        }
        Expr::Cond { .. } => None,
        // Any conjunct that pins the member pins the whole; the smallest set is the sharpest.
        Expr::And(xs) => xs
            .iter()
            .filter_map(|x| pinned(x, path))
            .min_by_key(Vec::len),
        Expr::Or(xs) => {
            let mut all = Vec::new();
            for x in xs {
                for v in pinned(x, path)? {
                    if !all.contains(&v) {
                        all.push(v);
                    }
                }
            }
            Some(all)
        }
    }
}

/// The top-level members the expression's selectors start at (any, for `$.*` or `$[0]`).
pub(super) fn reads(e: &Expr) -> Reads {
    match e {
        Expr::And(v) | Expr::Or(v) => Reads::all(v.iter().map(reads)),
        Expr::Cond { selector, .. } => match selector.first() {
            Some(Step::Key(k)) => Reads::members([k.as_str()]),
            _ => Reads::Anything,
        },
    }
}

/// Parses a whole JSON pattern, braces included.
pub(super) fn parse(src: &str) -> Result<Expr, FilterError> {
    let mut p = Parser {
        c: Cursor::new(src),
        wildcards: 0,
        regexes: 0,
        depth: 0,
    };
    p.c.skip_ws();
    if !p.c.eat("{") {
        return Err(p.c.err("a JSON pattern starts with {"));
    }
    p.c.skip_ws();
    if p.c.peek() == Some('}') {
        return Err(p
            .c
            .err("empty JSON pattern {}: add a condition such as $.field = value"));
    }
    let e = p.or()?;
    p.c.skip_ws();
    if !p.c.eat("}") {
        return Err(match p.c.peek() {
            Some(c) => p.c.err(format!(
                "unexpected '{c}': expected &&, || or the closing }}"
            )),
            None => p.c.err("missing closing }"),
        });
    }
    p.c.skip_ws();
    if let Some(c) = p.c.peek() {
        return Err(p.c.err(format!("unexpected '{c}' after the closing }}")));
    }
    if p.regexes > super::error::MAX_REGEXES {
        return Err(FilterError {
            message: format!(
                "a pattern may hold at most {} regular expressions",
                super::error::MAX_REGEXES
            ),
            column: 1,
        });
    }
    Ok(e)
}

struct Parser<'a> {
    c: Cursor<'a>,
    wildcards: usize,
    regexes: usize,
    /// Brackets open around the condition being read.
    depth: usize,
}

impl Parser<'_> {
    fn or(&mut self) -> Result<Expr, FilterError> {
        self.chain("||", Self::and, Expr::Or)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        self.chain("&&", Self::primary, Expr::And)
    }

    /// `item (op item)*`, folded into `make` when there is more than one item.
    fn chain(
        &mut self,
        op: &str,
        item: fn(&mut Self) -> Result<Expr, FilterError>,
        make: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, FilterError> {
        let mut items = vec![item(self)?];
        loop {
            self.c.skip_ws();
            if !self.c.eat(op) {
                break;
            }
            items.push(item(self)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            make(items)
        })
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        self.c.skip_ws();
        if self.c.eat("(") {
            self.depth += 1;
            if self.depth > super::error::MAX_DEPTH {
                return Err(self.c.err(format!(
                    "brackets nest deeper than {}: write the pattern flatter",
                    super::error::MAX_DEPTH
                )));
            }
            let e = self.or()?;
            self.depth -= 1;
            self.c.skip_ws();
            if !self.c.eat(")") {
                return Err(self.c.err("missing closing )"));
            }
            return Ok(e);
        }
        self.cond()
    }

    fn cond(&mut self) -> Result<Expr, FilterError> {
        let selector = self.selector()?;
        self.c.skip_ws();
        let at = self.c.pos;
        let check = if self.c.eat_keyword("IS") {
            self.c.skip_ws();
            if self.c.eat_keyword("NULL") {
                Check::IsNull
            } else if self.c.eat_keyword("TRUE") {
                Check::IsTrue
            } else if self.c.eat_keyword("FALSE") {
                Check::IsFalse
            } else if self.c.eat_keyword("NOT") {
                return Err(self
                    .c
                    .err_at(at, "IS NOT is not supported: use != or NOT EXISTS"));
            } else {
                return Err(self.c.err("expected NULL, TRUE or FALSE after IS"));
            }
        } else if self.c.eat_keyword("NOT") {
            self.c.skip_ws();
            if !self.c.eat_keyword("EXISTS") {
                return Err(self.c.err("expected EXISTS after NOT"));
            }
            Check::NotExists
        } else if self.c.eat_keyword("EXISTS") {
            return Err(self.c.err_at(
                at,
                "EXISTS is not supported: use NOT EXISTS, or = * for any value",
            ));
        } else if let Some(op) = self.c.cmp_op() {
            let t = self.c.value_test(op, "()}")?;
            if t.is_regex() {
                self.regexes += 1;
            }
            Check::Value(t)
        } else {
            return Err(match self.c.peek() {
                Some(c) => self.c.err(format!(
                    "unexpected '{c}': expected an operator (=, !=, <, <=, >, >=, IS, NOT EXISTS)"
                )),
                None => self.c.err("expected an operator after the selector"),
            });
        };
        Ok(Expr::Cond { selector, check })
    }

    fn selector(&mut self) -> Result<Vec<Step>, FilterError> {
        let start = self.c.pos;
        if !self.c.eat("$") {
            return Err(match self.c.peek() {
                Some(c) => self.c.err(format!(
                    "unexpected '{c}': a condition starts with a selector such as $.eventName"
                )),
                None => self.c.err("expected a condition"),
            });
        }
        let mut steps = Vec::new();
        let mut wild = 0;
        loop {
            let step = if self.c.eat(".") {
                self.member()?
            } else if self.c.eat("[") {
                self.index()?
            } else {
                break;
            };
            if matches!(step, Step::AnyKey | Step::AnyIndex) {
                wild += 1;
            }
            steps.push(step);
        }
        if steps.is_empty() {
            return Err(self.c.err_at(
                start,
                "a selector needs a path after $, such as $.eventName",
            ));
        }
        if wild > MAX_WILDCARDS_PER_SELECTOR {
            return Err(self
                .c
                .err_at(start, "a selector may hold only one wildcard ([*] or .*)"));
        }
        self.wildcards += wild;
        if self.wildcards > MAX_WILDCARDS_PER_PATTERN {
            return Err(self
                .c
                .err_at(start, "a pattern may hold at most three wildcard selectors"));
        }
        Ok(steps)
    }

    /// The step after a `.`: `*`, `['key']` or a name.
    fn member(&mut self) -> Result<Step, FilterError> {
        if self.c.eat("*") {
            return Ok(Step::AnyKey);
        }
        if self.c.eat("['") {
            let kstart = self.c.pos;
            let Some(end) = self.c.rest().find("']") else {
                return Err(self.c.err_at(kstart - 2, "unterminated ['key'] selector"));
            };
            let key = self.c.rest()[..end].to_string();
            self.c.pos += end + 2;
            return Ok(Step::Key(key));
        }
        let name_start = self.c.pos;
        while self
            .c
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.c.bump();
        }
        if self.c.pos == name_start {
            return Err(match self.c.peek() {
                Some(c) if !c.is_whitespace() => self.c.err(format!(
                    "'{c}' cannot appear in a property name: quote the key as $.['name']"
                )),
                _ => self.c.err("expected a property name after '.'"),
            });
        }
        Ok(Step::Key(self.c.src[name_start..self.c.pos].to_string()))
    }

    /// The step after a `[`: `*]` or a number and `]`.
    fn index(&mut self) -> Result<Step, FilterError> {
        if self.c.eat("*]") {
            return Ok(Step::AnyIndex);
        }
        let d = self.c.bare("]");
        let idx = d.parse::<usize>().map_err(|_| {
            self.c
                .err(format!("array index must be a number or *, found '{d}'"))
        })?;
        if !self.c.eat("]") {
            return Err(self.c.err("missing ] after array index"));
        }
        Ok(Step::Index(idx))
    }
}

fn select<'v>(v: &'v Value, steps: &[Step], out: &mut Vec<&'v Value>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(v);
        return;
    };
    match (step, v) {
        (Step::Key(k), Value::Object(m)) => {
            if let Some(c) = m.get(k) {
                select(c, rest, out)
            }
        }
        (Step::Index(i), Value::Array(a)) => {
            if let Some(c) = a.get(*i) {
                select(c, rest, out)
            }
        }
        (Step::AnyIndex, Value::Array(a)) => a.iter().for_each(|c| select(c, rest, out)),
        (Step::AnyKey, Value::Object(m)) => m.values().for_each(|c| select(c, rest, out)),
        _ => {}
    }
}

fn check_one(check: &Check, v: &Value) -> bool {
    match (check, v) {
        (Check::IsNull, Value::Null) => true,
        (Check::IsTrue, Value::Bool(true)) => true,
        (Check::IsFalse, Value::Bool(false)) => true,
        (Check::Value(t), Value::String(s)) => t.test(Scalar::Str(s)),
        (Check::Value(t), Value::Number(n)) => {
            let text = n.to_string();
            t.test(Scalar::Num(&text, n.as_f64().unwrap_or(f64::NAN)))
        }
        _ => false,
    }
}

/// Evaluates the expression on a parsed JSON message.
pub(super) fn eval(e: &Expr, root: &Value) -> bool {
    match e {
        Expr::And(v) => v.iter().all(|e| eval(e, root)),
        Expr::Or(v) => v.iter().any(|e| eval(e, root)),
        Expr::Cond { selector, check } => {
            let mut nodes = Vec::new();
            select(root, selector, &mut nodes);
            match check {
                Check::NotExists => nodes.is_empty(),
                _ => nodes.iter().any(|n| check_one(check, n)),
            }
        }
    }
}

/// The literals a matching message must contain.
pub(super) fn requirement(e: &Expr) -> Requirement {
    match e {
        Expr::And(v) => Requirement::all(v.iter().map(requirement)),
        Expr::Or(v) => Requirement::either(v.iter().map(requirement)),
        Expr::Cond { check, .. } => match check {
            Check::Value(t) => t.requirement(),
            Check::IsNull => Requirement::literal("null", Encoding::Raw),
            Check::IsTrue => Requirement::literal("true", Encoding::Raw),
            Check::IsFalse => Requirement::literal("false", Encoding::Raw),
            Check::NotExists => Requirement::none(),
        },
    }
}
