//! Sigma detection rules (the Sigma specification, rules 2.x and modifiers 2.1) over CloudTrail
//! records, as written: `logsource` must be AWS CloudTrail; field names are the record's paths
//! (`requestParameters.userName`; a path through a list tests each element); values are
//! case-insensitive strings with `*` and `?` wildcards unless a modifier says otherwise.
//!
//! Choices where the specification leaves it to the tool (pinned by the tests):
//! - a field test on a missing field is false (so `not` of it is true); `field: null` holds when
//!   the field is missing or null; `''` only for an empty string; `exists` looks at presence
//!   only (a null field exists);
//! - keywords (a list of plain values, or `'|all'`) are looked for in every string of the
//!   record, as substrings;
//! - `neq` holds when the field is missing or differs from every value.
//!
//! Unsupported modifiers (`expand`, `windash`, the UTF-16 and time modifiers) and aggregations
//! are refused with the reason, never ignored. Pure: YAML and JSON in, a verdict out.

mod condition;
mod error;
mod path;
mod rule;
mod search;
mod value;

pub use self::error::SigmaError;
pub use self::rule::SigmaRule;

#[cfg(test)]
mod tests;
