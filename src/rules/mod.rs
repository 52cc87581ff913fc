//! Rules and what is derived from them: a `[[rules]]` entry as written (`config`), a
//! compiled rule (`rule`), the set that runs (`set`), the built-in packs (`packs`), the literal
//! prefilter (`prefilter`), the one record evaluator that `scan`, the `files` source and every
//! poll use (`evaluate`), and what a source may ask AWS for (`pushdown`); the stateful
//! judgements of matches, counted (`threshold`) or new for an account (`first_seen`), over a
//! store the caller gives. Nothing here does I/O.

pub(crate) mod attack;
pub(crate) mod evaluate;
pub(crate) mod first_seen;
pub(crate) mod packs;
pub(crate) mod prefilter;
pub(crate) mod pushdown;
pub(crate) mod quiet;
mod rule;
mod set;
pub(crate) mod testing;
pub(crate) mod threshold;
pub(crate) mod vars;

pub use evaluate::Evaluator;
pub(crate) use prefilter::Prefilter;
pub(crate) use rule::{Rule, RulePattern, RuleTest, Threshold};
pub use set::RuleSet;
pub(crate) use set::RulesError;
