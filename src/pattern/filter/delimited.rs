//! Space-delimited patterns (`[ip, user, ..., status=5*, bytes > 1000]`) and the tokeniser that
//! splits a message into fields.
//!
//! Decisions where AWS is silent: runs of spaces separate like one space; a `"..."` or `[...]`
//! field runs to its closing character (or the end of the message); without `...` the number of
//! slots must equal the number of fields; `...` matches zero or more fields and may appear more
//! than once; every test in a slot applies to that slot's own field.

use super::cursor::Cursor;
use super::error::FilterError;
use super::value::{parse_number, Scalar, ValueTest};

/// One slot of the pattern.
#[derive(Debug, Clone)]
pub(super) enum Slot {
    /// `...`: any number of fields.
    Ellipsis,
    /// Tests joined by `||` of `&&` groups; empty means "any value".
    Tests(Vec<Vec<ValueTest>>),
}

/// Parses a space-delimited pattern: its slots, and how many regular expressions it holds.
pub(super) fn parse(src: &str) -> Result<(Vec<Slot>, usize), FilterError> {
    let mut c = Cursor::new(src);
    let mut regexes = 0;
    c.skip_ws();
    if !c.eat("[") {
        return Err(c.err("a space-delimited pattern starts with ["));
    }
    let mut slots = Vec::new();
    loop {
        c.skip_ws();
        if c.eat("]") {
            break;
        }
        if c.peek().is_none() {
            return Err(c.err("missing closing ]"));
        }
        if c.eat("...") {
            slots.push(Slot::Ellipsis);
        } else {
            slots.push(Slot::Tests(slot_tests(&mut c, &mut regexes)?));
        }
        c.skip_ws();
        if c.eat(",") {
            continue;
        }
        if c.eat("]") {
            break;
        }
        return Err(match c.peek() {
            Some(ch) => c.err(format!("unexpected '{ch}': expected , or ]")),
            None => c.err("missing closing ]"),
        });
    }
    c.skip_ws();
    if let Some(ch) = c.peek() {
        return Err(c.err(format!("unexpected '{ch}' after the closing ]")));
    }
    if slots.is_empty() {
        return Err(FilterError {
            message: "empty space-delimited pattern []".into(),
            column: 1,
        });
    }
    Ok((slots, regexes))
}

/// One slot's tests: named fields with optional comparisons, joined by `&&` and `||`.
fn slot_tests(c: &mut Cursor, regexes: &mut usize) -> Result<Vec<Vec<ValueTest>>, FilterError> {
    let mut ors: Vec<Vec<ValueTest>> = Vec::new();
    let mut ands: Vec<ValueTest> = Vec::new();
    let mut bare_name = false;
    loop {
        c.skip_ws();
        let name_start = c.pos;
        while c
            .peek()
            .is_some_and(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        {
            c.bump();
        }
        if c.pos == name_start {
            return Err(match c.peek() {
                Some(ch) => c.err(format!("unexpected '{ch}': expected a field name or ...")),
                None => c.err("missing closing ]"),
            });
        }
        c.skip_ws();
        if let Some(op) = c.cmp_op() {
            let t = c.value_test(op, ",]")?;
            if t.is_regex() {
                *regexes += 1;
            }
            ands.push(t);
        } else {
            bare_name = true;
        }
        c.skip_ws();
        if c.eat("&&") {
            if bare_name {
                return Err(c.err("&& must join two tests such as code=404"));
            }
            continue;
        }
        if c.eat("||") {
            if bare_name {
                return Err(c.err("|| must join two tests such as code=404"));
            }
            ors.push(std::mem::take(&mut ands));
            continue;
        }
        break;
    }
    if !ands.is_empty() {
        ors.push(ands);
    }
    Ok(ors)
}

/// Splits a message into fields.
pub(super) fn fields(msg: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = msg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' => i += 1,
            open @ (b'"' | b'[') => {
                let close = if open == b'"' { b'"' } else { b']' };
                let start = i + 1;
                let end = memchr::memchr(close, &b[start..]).map_or(b.len(), |e| start + e);
                out.push(&msg[start..end]);
                i = (end + 1).min(b.len());
            }
            _ => {
                let start = i;
                let end = memchr::memchr(b' ', &b[start..]).map_or(b.len(), |e| start + e);
                out.push(&msg[start..end]);
                i = end;
            }
        }
    }
    out
}

fn slot_matches(slot: &[Vec<ValueTest>], field: &str) -> bool {
    if slot.is_empty() {
        return true;
    }
    let num = parse_number(field);
    let v = match num {
        Some(n) => Scalar::Num(field, n),
        None => Scalar::Str(field),
    };
    slot.iter().any(|and| {
        and.iter().all(|t| match (t, v) {
            // A field that reads as a number still compares as text with = and !=.
            (ValueTest::Str { .. }, Scalar::Num(s, _)) => t.test(Scalar::Str(s)),
            _ => t.test(v),
        })
    })
}

/// True when the slots match the fields, `...` absorbing any run of fields.
pub(super) fn is_match(slots: &[Slot], msg: &str) -> bool {
    let f = fields(msg);
    // ok[j]: the slots seen so far can consume exactly the first j fields.
    let mut ok = vec![false; f.len() + 1];
    ok[0] = true;
    for slot in slots {
        let mut next = vec![false; f.len() + 1];
        match slot {
            Slot::Ellipsis => {
                let mut reach = false;
                for j in 0..=f.len() {
                    reach |= ok[j];
                    next[j] = reach;
                }
            }
            Slot::Tests(t) => {
                for j in 0..f.len() {
                    if ok[j] && slot_matches(t, f[j]) {
                        next[j + 1] = true;
                    }
                }
            }
        }
        ok = next;
    }
    ok[f.len()]
}
