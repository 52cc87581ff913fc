//! A record's values at a Sigma field path (`requestParameters.userName`): dotted names, each
//! element of a list on the way tested, values as text.

use serde_json::Value as Json;

/// The values at a dotted path (every element of a list on the way), as text: strings as they
/// are, numbers and booleans as written, objects as JSON; null and missing give nothing.
pub(super) fn leaves(record: &Json, path: &[String]) -> Vec<String> {
    let mut cur = vec![record];
    for p in path {
        let mut next = Vec::new();
        for v in cur {
            let v = match v {
                Json::Array(items) => items.iter().filter_map(|i| i.get(p)).collect::<Vec<_>>(),
                other => other.get(p).into_iter().collect(),
            };
            next.extend(v);
        }
        cur = next;
    }
    let mut out = Vec::new();
    for v in cur {
        match v {
            Json::Null => {}
            Json::String(s) => out.push(s.clone()),
            Json::Array(items) => out.extend(items.iter().filter(|i| !i.is_null()).map(text_of)),
            other => out.push(text_of(other)),
        }
    }
    out
}

fn text_of(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// True when the path leads to a value, null included.
pub(super) fn present(record: &Json, path: &[String]) -> bool {
    let mut cur = vec![record];
    for p in path {
        cur = cur
            .into_iter()
            .flat_map(|v| match v {
                Json::Array(items) => items.iter().filter_map(|i| i.get(p)).collect::<Vec<_>>(),
                other => other.get(p).into_iter().collect(),
            })
            .collect();
    }
    !cur.is_empty()
}
