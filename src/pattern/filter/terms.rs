//! Term patterns for unstructured text: `ERROR`, `"disk full"`, `ERROR -retrying`, `?FATAL ?PANIC`.
//!
//! Decisions where AWS is silent: an unquoted term may hold any non-blank characters; a lone `-`
//! or `?` followed by blanks applies to the next term (`"ERROR" - "Exiting"`); a pattern of only
//! `-` terms matches messages containing none of them.

use super::cursor::Cursor;
use super::error::FilterError;
use crate::pattern::literals::{Encoding, Requirement};

/// A parsed term pattern.
#[derive(Debug, Clone, Default)]
pub(super) struct Terms {
    /// Plain terms: all must occur.
    pub required: Vec<String>,
    /// `-term`: none may occur.
    pub excluded: Vec<String>,
    /// `?term`: at least one must occur, when there are no plain or `-` terms.
    pub optional: Vec<String>,
}

pub(super) fn parse(src: &str) -> Result<Terms, FilterError> {
    let mut c = Cursor::new(src);
    let mut t = Terms::default();
    loop {
        c.skip_ws();
        let Some(first) = c.peek() else { break };
        let start = c.pos;
        let kind = match first {
            '-' | '?' => {
                c.bump();
                c.skip_ws();
                first
            }
            _ => ' ',
        };
        let term = match c.peek() {
            Some('"') => c.quoted()?,
            Some('%') => {
                return Err(
                    c.err("a %regex% must be the whole pattern; it cannot be mixed with terms")
                );
            }
            Some(_) => {
                // Only blanks and quotes end an unquoted term (`&&` is text here).
                let from = c.pos;
                while c.peek().is_some_and(|ch| !ch.is_whitespace() && ch != '"') {
                    c.bump();
                }
                c.src[from..c.pos].to_string()
            }
            None => return Err(c.err_at(start, format!("'{first}' must be followed by a term"))),
        };
        if term.is_empty() && kind != ' ' {
            return Err(c.err_at(start, format!("'{kind}' must be followed by a term")));
        }
        match kind {
            '-' => t.excluded.push(term),
            '?' => t.optional.push(term),
            _ => t.required.push(term),
        }
    }
    Ok(t)
}

impl Terms {
    pub(super) fn is_match(&self, msg: &str) -> bool {
        if self.required.is_empty() && self.excluded.is_empty() {
            return self.optional.is_empty()
                || self.optional.iter().any(|t| msg.contains(t.as_str()));
        }
        self.required.iter().all(|t| msg.contains(t.as_str()))
            && !self.excluded.iter().any(|t| msg.contains(t.as_str()))
    }

    pub(super) fn requirement(&self) -> Requirement {
        if self.required.is_empty() && self.excluded.is_empty() {
            return Requirement::any_of(self.optional.iter().map(|t| (t.clone(), Encoding::Raw)));
        }
        Requirement::all((self.required.iter()).map(|t| Requirement::literal(t, Encoding::Raw)))
    }
}
