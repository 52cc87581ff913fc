//! CloudTrail data as it is stored: files and folders, plain or gzip (`file`), how a buffer
//! lays out its values (`layout`), and the records each value holds (`shape`). Pure reading:
//! no rules, no AWS.

pub mod file;
pub mod layout;
pub mod shape;
pub mod stream;

pub use file::{expand, load, load_limited, Data, Input};
pub use layout::{for_each_value, layout, Layout, Value};
pub use shape::{records, RawRecord};
