//! A Sigma search identifier's definition (a map of field tests, a list of them, or keywords)
//! read with its modifiers, and judged on one record: what it holds, the literals it needs,
//! the values it pins a member to.

use serde_json::Value as Json;

use super::error::{err, SigmaError};
use super::path::{leaves, present};
use super::value::{Cmp, Value, Wild};
use crate::pattern::event::Cidr;
use crate::pattern::literals::{Encoding, Requirement};
use crate::pattern::reads::Reads;

/// A search identifier's definition.
#[derive(Debug, Clone)]
pub(super) enum Search {
    /// A map: every field test holds.
    Fields(Vec<FieldTest>),
    /// A list of maps: any of them holds.
    AnyOf(Vec<Search>),
    /// Plain values looked for anywhere in the record (all of them with `|all`).
    Keywords { values: Vec<Wild>, all: bool },
}

/// One `field|modifiers: values` of a map.
#[derive(Debug, Clone)]
pub(super) struct FieldTest {
    path: Vec<String>,
    test: Test,
}

#[derive(Debug, Clone)]
pub(super) enum Test {
    /// Any of the values (all of them with `all`; none of them with `neq`).
    Values {
        values: Vec<Value>,
        all: bool,
        neq: bool,
    },
    Exists(bool),
    /// `null`: missing or null.
    Null,
}

/// A search identifier's definition.
pub(super) fn search(def: &Json) -> Result<Search, SigmaError> {
    match def {
        Json::Object(m) => {
            if let Some(v) = m.get("|all") {
                if m.len() > 1 {
                    return err("`|all` keywords stand alone in their search");
                }
                return Ok(Search::Keywords {
                    values: keyword_values(v)?,
                    all: true,
                });
            }
            m.iter()
                .map(|(k, v)| field_test(k, v))
                .collect::<Result<_, _>>()
                .map(Search::Fields)
        }
        Json::Array(items) if items.iter().all(Json::is_object) => items
            .iter()
            .map(search)
            .collect::<Result<_, _>>()
            .map(Search::AnyOf),
        Json::Array(_) | Json::String(_) | Json::Number(_) => Ok(Search::Keywords {
            values: keyword_values(def)?,
            all: false,
        }),
        _ => err("a search is a map, a list of maps, or a list of keywords"),
    }
}

fn keyword_values(v: &Json) -> Result<Vec<Wild>, SigmaError> {
    let items = match v {
        Json::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    items
        .iter()
        .map(|x| match x {
            Json::String(s) => Ok(Wild::parse(s, false).around(true, true)),
            Json::Number(n) => Ok(Wild::parse(&n.to_string(), false).around(true, true)),
            _ => err("a keyword is a string or a number"),
        })
        .collect()
}

/// The modifiers trailwatch reads.
const KNOWN: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "all",
    "re",
    "i",
    "m",
    "s",
    "cidr",
    "exists",
    "cased",
    "neq",
    "lt",
    "lte",
    "gt",
    "gte",
    "fieldref",
    "base64",
    "base64offset",
];

/// One `field|modifiers: value(s)`.
fn field_test(key: &str, v: &Json) -> Result<FieldTest, SigmaError> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default();
    let mods: Vec<&str> = parts.collect();
    if field.is_empty() {
        return err(format!(
            "`{key}`: a field name is needed before the modifiers"
        ));
    }
    for m in &mods {
        if !KNOWN.contains(m) {
            return err(format!(
                "`{key}`: the modifier `{m}` is not supported for CloudTrail records (trailwatch reads: {})",
                KNOWN.join(", ")
            ));
        }
    }
    let path: Vec<String> = field.split('.').map(str::to_string).collect();
    let has = |m: &str| mods.contains(&m);
    if has("exists") {
        return match v {
            Json::Bool(b) => Ok(FieldTest {
                path,
                test: Test::Exists(*b),
            }),
            _ => err(format!("`{key}`: exists takes true or false")),
        };
    }
    let items = match v {
        Json::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    if items.iter().any(Json::is_null) {
        if items.len() > 1 {
            return err(format!("`{key}`: null cannot be one of several values (its own selection, as the specification says)"));
        }
        return Ok(FieldTest {
            path,
            test: Test::Null,
        });
    }
    if has("all") && items.len() < 2 {
        return err(format!("`{key}`: all needs several values"));
    }
    let mut values = Vec::new();
    for item in &items {
        values.extend(value_of(key, item, &mods)?);
    }
    Ok(FieldTest {
        path,
        test: Test::Values {
            values,
            all: has("all"),
            neq: has("neq"),
        },
    })
}

/// One value under its modifiers (`base64offset` gives three).
fn value_of(key: &str, item: &Json, mods: &[&str]) -> Result<Vec<Value>, SigmaError> {
    let has = |m: &str| mods.contains(&m);
    let text = match item {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        Json::Bool(b) => b.to_string(),
        _ => {
            return err(format!(
                "`{key}`: a value is a string, a number or a boolean"
            ))
        }
    };
    for (m, c) in [
        ("lt", Cmp::Lt),
        ("lte", Cmp::Lte),
        ("gt", Cmp::Gt),
        ("gte", Cmp::Gte),
    ] {
        if has(m) {
            let n = text
                .parse::<f64>()
                .map_err(|_| SigmaError(format!("`{key}`: {m} needs a number")))?;
            return Ok(vec![Value::Compare(c, n)]);
        }
    }
    if has("re") {
        let flags: String = ["i", "m", "s"].iter().filter(|f| has(f)).copied().collect();
        let src = if flags.is_empty() {
            text
        } else {
            format!("(?{flags}){text}")
        };
        let r = regex::Regex::new(&src).map_err(|e| SigmaError(format!("`{key}`: {e}")))?;
        return Ok(vec![Value::Re(r)]);
    }
    if has("cidr") {
        return Ok(vec![Value::Cidr(
            Cidr::new(&text).map_err(|e| SigmaError(format!("`{key}`: {e}")))?,
        )]);
    }
    if has("fieldref") {
        return Ok(vec![Value::Field {
            path: text.split('.').map(str::to_string).collect(),
            cased: has("cased"),
        }]);
    }
    if let (Json::Number(n), false) = (
        item,
        mods.iter()
            .any(|m| ["contains", "startswith", "endswith"].contains(m)),
    ) {
        if let Some(f) = n.as_f64() {
            return Ok(vec![Value::Num(f, text)]);
        }
    }
    let texts = if has("base64offset") {
        base64_offsets(&text)
    } else if has("base64") {
        vec![base64_of(text.as_bytes())]
    } else {
        vec![text]
    };
    let (before, after) = if has("contains") || has("base64offset") {
        (true, true)
    } else {
        (has("endswith"), has("startswith"))
    };
    Ok(texts
        .into_iter()
        .map(|t| {
            // Encoded values are plain text: their `*` or `?` are not wildcards (there are none).
            Value::Str(Wild::parse(&t, has("cased")).around(before, after))
        })
        .collect())
}

pub(super) fn base64_of(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The three texts a value shows in base64 at each offset (pySigma's `base64offset`).
fn base64_offsets(text: &str) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut b = vec![b' '; i];
            b.extend_from_slice(text.as_bytes());
            let enc = base64_of(&b);
            let end = enc.len() - END[(text.len() + i) % 3];
            enc.get(START[i]..end).unwrap_or_default().to_string()
        })
        .collect()
}

/// The member a field path starts at (every member, for an empty path).
fn reads_path(path: &[String]) -> Reads {
    match path.first() {
        Some(k) => Reads::members([k.as_str()]),
        None => Reads::Anything,
    }
}

impl FieldTest {
    /// Its field's member, and those of the fields its values name (`fieldref`).
    fn reads(&self) -> Reads {
        let refs = match &self.test {
            Test::Values { values, .. } => (values.iter())
                .filter_map(|v| match v {
                    Value::Field { path, .. } => Some(reads_path(path)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Reads::all(refs).union(reads_path(&self.path))
    }
}

impl Search {
    pub(super) fn holds(&self, r: &Json) -> bool {
        match self {
            Search::Fields(tests) => tests.iter().all(|t| t.holds(r)),
            Search::AnyOf(items) => items.iter().any(|s| s.holds(r)),
            Search::Keywords { values, all } => {
                let mut strings = Vec::new();
                collect_strings(r, &mut strings);
                let found = |w: &Wild| strings.iter().any(|s| w.matches(s));
                if *all {
                    values.iter().all(found)
                } else {
                    values.iter().any(found)
                }
            }
        }
    }

    pub(super) fn need(&self) -> Requirement {
        match self {
            Search::Fields(tests) => Requirement::all(tests.iter().map(|t| t.need())),
            Search::AnyOf(items) => or_all(items.iter().map(Search::need)),
            Search::Keywords { values, all: true } => {
                Requirement::all(values.iter().map(literal_of))
            }
            Search::Keywords { values, .. } => or_all(values.iter().map(literal_of)),
        }
    }

    /// The top-level members its field tests read; keywords read every value.
    pub(super) fn reads(&self) -> Reads {
        match self {
            Search::Fields(tests) => Reads::all(tests.iter().map(FieldTest::reads)),
            Search::AnyOf(items) => Reads::all(items.iter().map(Search::reads)),
            Search::Keywords { .. } => Reads::Anything,
        }
    }

    pub(super) fn pinned(&self, path: &[&str]) -> Option<Vec<String>> {
        match self {
            Search::Fields(tests) => tests.iter().find_map(|t| t.pinned(path)),
            Search::AnyOf(items) => union(items.iter().map(|s| s.pinned(path))),
            Search::Keywords { .. } => None,
        }
    }
}

fn collect_strings(v: &Json, out: &mut Vec<String>) {
    match v {
        Json::String(s) => out.push(s.clone()),
        Json::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Json::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        Json::Number(n) => out.push(n.to_string()),
        _ => {}
    }
}

impl FieldTest {
    fn holds(&self, r: &Json) -> bool {
        match &self.test {
            Test::Exists(want) => present(r, &self.path) == *want,
            Test::Null => {
                leaves(r, &self.path).is_empty() && !has_non_null_container(r, &self.path)
            }
            Test::Values { values, all, neq } => {
                let got = leaves(r, &self.path);
                let one = |v: &Value| got.iter().any(|g| v.test(g, r));
                let hit = if *all {
                    values.iter().all(one)
                } else {
                    values.iter().any(one)
                };
                hit != *neq
            }
        }
    }

    fn need(&self) -> Requirement {
        match &self.test {
            Test::Values {
                values,
                all: false,
                neq: false,
            } => or_all(values.iter().map(value_literal)),
            Test::Values {
                values,
                all: true,
                neq: false,
            } => Requirement::all(values.iter().map(value_literal)),
            _ => Requirement::none(),
        }
    }

    fn pinned(&self, path: &[&str]) -> Option<Vec<String>> {
        if self.path.len() != path.len() || self.path.iter().zip(path).any(|(a, b)| a != b) {
            return None;
        }
        match &self.test {
            Test::Values {
                values,
                all: false,
                neq: false,
            } => values
                .iter()
                // As the rule writes them (AWS writes its names in one case; every record is
                // checked again, ignoring case).
                .map(|v| match v {
                    Value::Str(w) => w.exact().map(str::to_string),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }
}

/// True when the field holds an empty list or map (not null: it is there).
fn has_non_null_container(r: &Json, path: &[String]) -> bool {
    let mut cur = r;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return false,
        }
    }
    matches!(cur, Json::Array(_) | Json::Object(_))
}

/// The literal a value's matches contain.
fn value_literal(v: &Value) -> Requirement {
    match v {
        Value::Str(w) => literal_of(w),
        Value::Num(_, text) => Requirement::literal(text, Encoding::JsonString),
        Value::Re(r) => crate::pattern::literals::of_regex(r.as_str()),
        _ => Requirement::none(),
    }
}

/// A wildcard string's longest plain text, found in any letter case (ASCII text only: other
/// letters fold in ways the prefilter does not; none across JSON's punctuation: an object's
/// value is tested as its compact JSON).
fn literal_of(w: &Wild) -> Requirement {
    match w.longest_text() {
        Some(t) if t.is_ascii() && !crate::pattern::literals::may_span_members(t) => {
            let enc = if w.cased {
                Encoding::JsonString
            } else {
                Encoding::JsonStringFolded
            };
            Requirement::literal(t, enc)
        }
        _ => Requirement::none(),
    }
}

/// Either of the requirements holds.
pub(super) fn or_all(rs: impl Iterator<Item = Requirement>) -> Requirement {
    Requirement::either(rs)
}

/// All the sets together, when every one is a set.
pub(super) fn union(sets: impl Iterator<Item = Option<Vec<String>>>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for s in sets {
        out.extend(s?);
    }
    out.sort();
    out.dedup();
    Some(out)
}
