//! CloudWatch Logs filter patterns, the language of metric filters, subscription filters and
//! `FilterLogEvents`: term, `%regex%`, JSON and space-delimited patterns.
//!
//! Pure and synchronous: compile once with [`FilterPattern::new`], evaluate many times with
//! [`FilterPattern::is_match`] on a log message (for CloudTrail, the record's JSON text).
//! Choices made where AWS's documentation is silent are stated in each submodule and in
//! `docs/pattern-semantics.md`.

mod cursor;
mod delimited;
mod error;
mod json;
pub mod regex;
mod terms;
pub mod value;

use serde_json::Value;

pub use self::error::{FilterError, MAX_PATTERN_LEN, MAX_REGEXES};
use crate::pattern::literals::Requirement;
use crate::pattern::reads::Reads;

#[derive(Debug, Clone)]
enum Kind {
    All,
    Terms(terms::Terms),
    Regex(regex::CwRegex),
    Json(json::Expr),
    Delimited(Vec<delimited::Slot>),
}

/// A compiled CloudWatch Logs filter pattern.
#[derive(Debug, Clone)]
pub struct FilterPattern {
    source: String,
    kind: Kind,
}

impl FilterPattern {
    /// Compiles a pattern, choosing its kind by its first non-blank character as CloudWatch does.
    pub fn new(src: &str) -> Result<FilterPattern, FilterError> {
        if src.chars().count() > MAX_PATTERN_LEN {
            return Err(FilterError {
                message: format!("pattern is longer than {MAX_PATTERN_LEN} characters"),
                column: MAX_PATTERN_LEN + 1,
            });
        }
        let t = src.trim();
        let kind = if t.is_empty() || t == "\"\"" || t == "\" \"" {
            Kind::All
        } else if t.starts_with('{') {
            Kind::Json(json::parse(src)?)
        } else if t.starts_with('[') {
            let (slots, regexes) = delimited::parse(src)?;
            if regexes > MAX_REGEXES {
                return Err(FilterError {
                    message: format!(
                        "a pattern may hold at most {MAX_REGEXES} regular expressions"
                    ),
                    column: 1,
                });
            }
            Kind::Delimited(slots)
        } else if t.len() >= 2
            && t.starts_with('%')
            && t.ends_with('%')
            && !t[1..t.len() - 1].contains(char::is_whitespace)
        {
            Kind::Regex(
                regex::CwRegex::new(&t[1..t.len() - 1]).map_err(|m| FilterError {
                    message: m,
                    column: 1,
                })?,
            )
        } else {
            Kind::Terms(terms::parse(src)?)
        };
        Ok(FilterPattern {
            source: src.to_string(),
            kind,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True for JSON patterns, which only match messages that are JSON objects.
    pub fn is_json(&self) -> bool {
        matches!(self.kind, Kind::Json(_))
    }

    /// Evaluates the pattern on a log message.
    pub fn is_match(&self, message: &str) -> bool {
        match &self.kind {
            Kind::Json(_) => match serde_json::from_str::<Value>(message) {
                Ok(v) => self.is_match_parsed(message, &v),
                Err(_) => false,
            },
            _ => self.is_match_parsed(message, &Value::Null),
        }
    }

    /// Evaluates the pattern on a message whose JSON parse the caller already has.
    pub fn is_match_parsed(&self, message: &str, parsed: &Value) -> bool {
        match &self.kind {
            Kind::All => true,
            Kind::Terms(t) => t.is_match(message),
            Kind::Regex(r) => r.is_match(message),
            Kind::Json(e) => parsed.is_object() && json::eval(e, parsed),
            Kind::Delimited(s) => delimited::is_match(s, message),
        }
    }

    /// The exact strings the member at `path` must equal for a message to match, when the
    /// pattern pins it to a finite set (`{ $.eventName = A || $.eventName = B }` pins
    /// `eventName` to A, B). `None` when some matching message could hold another value.
    pub fn pinned_strings(&self, path: &[&str]) -> Option<Vec<String>> {
        match &self.kind {
            Kind::Json(e) => json::pinned(e, path),
            _ => None,
        }
    }

    /// The members of a parsed message the pattern reads: a JSON pattern's selectors; the
    /// other kinds read the text alone.
    pub fn reads(&self) -> Reads {
        match &self.kind {
            Kind::Json(e) => json::reads(e),
            _ => Reads::nothing(),
        }
    }

    /// Literals that every matching message contains (for prefiltering).
    pub fn requirement(&self) -> Requirement {
        match &self.kind {
            Kind::Terms(t) => t.requirement(),
            Kind::Json(e) => json::requirement(e),
            Kind::All | Kind::Regex(_) | Kind::Delimited(_) => Requirement::none(),
        }
    }
}

#[cfg(test)]
mod tests;
