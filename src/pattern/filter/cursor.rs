//! A character cursor shared by the three filter-pattern parsers: position tracking, quoted
//! strings, `%regex%` bodies, bare tokens, and errors that name the column.

use super::error::FilterError;
use super::regex::CwRegex;
use super::value::{parse_number, CmpOp, StrMatch, ValueTest};

pub(super) struct Cursor<'a> {
    pub src: &'a str,
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        Cursor { src, pos: 0 }
    }

    pub(super) fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub(super) fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    pub(super) fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Eats a keyword (case-insensitive) that is not followed by a word character.
    pub(super) fn eat_keyword(&mut self, kw: &str) -> bool {
        let r = self.rest();
        if r.len() >= kw.len()
            && r.is_char_boundary(kw.len())
            && r[..kw.len()].eq_ignore_ascii_case(kw)
            && !r[kw.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    /// An error at the current position.
    pub(super) fn err(&self, msg: impl Into<String>) -> FilterError {
        self.err_at(self.pos, msg)
    }

    pub(super) fn err_at(&self, pos: usize, msg: impl Into<String>) -> FilterError {
        FilterError {
            message: msg.into(),
            column: self.src[..pos.min(self.src.len())].chars().count() + 1,
        }
    }

    /// Reads a `"..."` string (the cursor is on the opening quote); `\"` and `\\` are escapes.
    pub(super) fn quoted(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err_at(start, "unterminated quoted string")),
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some(c @ ('"' | '\\')) => out.push(c),
                    Some(c) => {
                        out.push('\\');
                        out.push(c)
                    }
                    None => return Err(self.err_at(start, "unterminated quoted string")),
                },
                Some(c) => out.push(c),
            }
        }
    }

    /// Reads a `%...%` regex (the cursor is on the first `%`); `\%` does not end it.
    pub(super) fn regex(&mut self) -> Result<CwRegex, FilterError> {
        let start = self.pos;
        self.bump();
        let body_start = self.pos;
        loop {
            match self.bump() {
                None => return Err(self.err_at(start, "unterminated %regex% (missing closing %)")),
                Some('\\') => {
                    self.bump();
                }
                Some('%') => break,
                Some(_) => {}
            }
        }
        let body = &self.src[body_start..self.pos - 1];
        CwRegex::new(body).map_err(|m| self.err_at(start, m))
    }

    /// Reads a bare token up to whitespace, one of `stops`, `&&` or `||`.
    pub(super) fn bare(&mut self, stops: &str) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let r = self.rest();
            if c.is_whitespace() || stops.contains(c) || r.starts_with("&&") || r.starts_with("||")
            {
                break;
            }
            self.bump();
        }
        &self.src[start..self.pos]
    }

    /// Reads a comparison operator, if one is here.
    pub(super) fn cmp_op(&mut self) -> Option<CmpOp> {
        for (s, op) in [
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("=", CmpOp::Eq),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ] {
            if self.eat(s) {
                return Some(op);
            }
        }
        None
    }

    /// Reads the value after an operator: quoted string, `%regex%`, number or bare string.
    pub(super) fn value_test(&mut self, op: CmpOp, stops: &str) -> Result<ValueTest, FilterError> {
        self.skip_ws();
        let start = self.pos;
        let numeric_op = !matches!(op, CmpOp::Eq | CmpOp::Ne);
        let negate = op == CmpOp::Ne;
        match self.peek() {
            Some('"') => {
                let s = self.quoted()?;
                if numeric_op {
                    return match parse_number(&s) {
                        Some(n) => Ok(ValueTest::Num { op, n }),
                        None => Err(self.err_at(
                            start,
                            format!("{} needs a number, found \"{s}\"", op_text(op)),
                        )),
                    };
                }
                Ok(ValueTest::Str {
                    negate,
                    m: StrMatch::from_value(&s),
                })
            }
            Some('%') => {
                if numeric_op {
                    return Err(self.err(format!("{} cannot be used with a %regex%", op_text(op))));
                }
                Ok(ValueTest::Regex {
                    negate,
                    re: self.regex()?,
                })
            }
            _ => {
                let tok = self.bare(stops);
                if tok.is_empty() {
                    return Err(
                        self.err_at(start, format!("expected a value after {}", op_text(op)))
                    );
                }
                match parse_number(tok) {
                    Some(n) => Ok(ValueTest::Num { op, n }),
                    None if numeric_op => Err(self.err_at(
                        start,
                        format!("{} needs a number, found {tok}", op_text(op)),
                    )),
                    None => Ok(ValueTest::Str {
                        negate,
                        m: StrMatch::from_value(tok),
                    }),
                }
            }
        }
    }
}

pub(super) fn op_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}
