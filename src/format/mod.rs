//! CloudTrail data as it is stored: files and folders, plain or gzip (`file`), how a buffer
//! lays out its values (`layout`), the records each value holds (`shape`), read as a stream
//! with limits (`stream`), or JSON Lines at a search's pace (`lines`). Pure reading:
//! no rules, no AWS.

pub(crate) mod file;
pub(crate) mod layout;
pub(crate) mod lines;
pub(crate) mod proof;
pub(crate) mod shape;
pub(crate) mod stream;

pub(crate) use file::{body_of, expand, is_gzip, load_limited, Body, Expanded};
pub use file::{Data, Input};
pub(crate) use layout::{for_each_value, layout, Layout, Value};
pub(crate) use proof::{Proof, Proving};
pub(crate) use shape::{odd_container, records, RawRecord};

/// A byte-order mark: not part of the JSON, skipped at the start of an input.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";
