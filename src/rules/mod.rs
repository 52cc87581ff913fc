//! Rules and what is derived from them: a `[[rules]]` entry as written (`config`), a
//! compiled rule (`rule`), the set that runs (`set`), the built-in packs (`packs`), the literal
//! prefilter (`prefilter`), the one record evaluator that `scan`, the `files` source and every
//! poll use (`evaluate`), and what a source may ask AWS for (`pushdown`). Nothing here does
//! I/O.

pub mod attack;
pub mod evaluate;
pub mod packs;
pub mod prefilter;
pub mod pushdown;
mod rule;
mod set;
pub mod testing;
pub mod threshold;
pub mod vars;

pub use evaluate::Evaluator;
pub use prefilter::Prefilter;
pub use rule::{Rule, RulePattern, RuleTest, Threshold};
pub use set::{RuleSet, RulesError};
