//! A record's values at a Sigma field path (`requestParameters.userName`): dotted names, each
//! element of a list on the way tested, values as text.

use std::borrow::Cow;

use serde_json::Value as Json;

/// The values at a dotted path (every element of a list on the way), as text: strings as they
/// are (borrowed), numbers and booleans as written, objects as JSON; null and missing give
/// nothing.
pub(super) fn leaves<'r>(record: &'r Json, path: &[String]) -> Vec<Cow<'r, str>> {
    let mut out = Vec::new();
    collect(record, path, &mut out);
    out
}

/// The leaves under `v` at `path`, in the record's order: one level of list is looked through
/// at each step.
fn collect<'r>(v: &'r Json, path: &[String], out: &mut Vec<Cow<'r, str>>) {
    let Some((p, rest)) = path.split_first() else {
        match v {
            Json::Null => {}
            Json::Array(items) => out.extend(items.iter().filter(|i| !i.is_null()).map(text_of)),
            other => out.push(text_of(other)),
        }
        return;
    };
    match v {
        Json::Array(items) => {
            (items.iter().filter_map(|i| i.get(p))).for_each(|x| collect(x, rest, out))
        }
        other => {
            if let Some(x) = other.get(p) {
                collect(x, rest, out)
            }
        }
    }
}

fn text_of(v: &Json) -> Cow<'_, str> {
    match v {
        Json::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// True when the path leads to a value, null included.
pub(super) fn present(record: &Json, path: &[String]) -> bool {
    let Some((p, rest)) = path.split_first() else {
        return true;
    };
    match record {
        Json::Array(items) => (items.iter().filter_map(|i| i.get(p))).any(|x| present(x, rest)),
        other => other.get(p).is_some_and(|x| present(x, rest)),
    }
}
