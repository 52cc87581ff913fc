//! Amazon EventBridge event patterns: content filtering with exact values, `prefix`, `suffix`,
//! `equals-ignore-case`, `wildcard`, `anything-but`, `numeric`, `exists`, `cidr` and `$or`.
//!
//! Pure and synchronous: [`EventPattern::new`] validates and compiles (rejecting invalid
//! patterns with event-ruler's reason and the path where it applies), [`EventPattern::is_match`]
//! evaluates an event. Where AWS is silent this follows event-ruler, the library EventBridge
//! runs; every such choice is listed in `docs/pattern-semantics.md`.

mod cidr;
mod matcher;
mod wildcard;

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::pattern::literals::Requirement;
use crate::pattern::reads::Reads;
pub use cidr::Cidr;
pub use matcher::Matcher;

/// The largest `EventPattern` the EventBridge API accepts.
pub const MAX_PATTERN_LEN: usize = 4096;
/// The most `$or` combinations one pattern may expand to.
pub const MAX_OR_COMBINATIONS: u64 = 1000;

/// Why a pattern is invalid, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event pattern is not valid. Reason: {reason}{}", if path.is_empty() { String::new() } else { format!(" (at {path})") })]
pub struct EventPatternError {
    pub reason: String,
    /// Dotted path of the offending member (`detail.eventName[1]`); empty for the whole pattern.
    pub path: String,
}

/// A field's test: a match list, or a nested object.
#[derive(Debug, Clone)]
enum Child {
    Leaf(Vec<Matcher>),
    Node(Node),
}

/// An object level of the pattern: fields that must all match, and `$or` blocks.
#[derive(Debug, Clone, Default)]
struct Node {
    fields: Vec<(String, Child)>,
    ors: Vec<Vec<Node>>,
}

/// A compiled EventBridge event pattern.
#[derive(Debug, Clone)]
pub struct EventPattern {
    source: String,
    root: Node,
}

fn err(reason: impl Into<String>, path: &str) -> EventPatternError {
    EventPatternError {
        reason: reason.into(),
        path: path.to_string(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Node {
    /// The members of the object this node tests: each key as written and, for a dotted key
    /// (`"userIdentity.type"`), the member its path starts at.
    fn reads(&self) -> Reads {
        let keys = (self.fields.iter()).map(|(k, _)| Reads::path(k).union(Reads::members([k])));
        Reads::all(keys.chain(self.ors.iter().flatten().map(Node::reads)))
    }

    /// See `EventPattern::reads`.
    fn reads_top(&self, out: &mut Vec<(String, Reads)>) {
        for (key, child) in &self.fields {
            let (top, below) = match key.split_once('.') {
                Some((top, rest)) => (top, Reads::path(rest).union(Reads::members([rest]))),
                None => match child {
                    Child::Node(n) => (key.as_str(), n.reads()),
                    Child::Leaf(_) => (key.as_str(), Reads::Anything),
                },
            };
            out.push((top.to_string(), below));
        }
        self.ors.iter().flatten().for_each(|n| n.reads_top(out));
    }

    fn pinned(&self, path: &[&str]) -> Option<Vec<String>> {
        let mut best: Option<Vec<String>> = None;
        let mut consider = |v: Option<Vec<String>>| {
            if let Some(v) = v {
                if best.as_ref().is_none_or(|b| v.len() < b.len()) {
                    best = Some(v);
                }
            }
        };
        for (key, child) in &self.fields {
            // A key may itself be dotted ("detail.eventName").
            let parts: Vec<&str> = key.split('.').collect();
            if parts.len() > path.len() || parts.iter().zip(path).any(|(a, b)| a != b) {
                continue;
            }
            let rest = &path[parts.len()..];
            consider(match child {
                Child::Leaf(ms) if rest.is_empty() => ms
                    .iter()
                    .map(|m| match m {
                        Matcher::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
                Child::Node(n) if !rest.is_empty() => n.pinned(rest),
                _ => None,
            });
        }
        for alternatives in &self.ors {
            let mut all: Vec<String> = Vec::new();
            let union = alternatives.iter().try_for_each(|n| {
                for v in n.pinned(path)? {
                    if !all.contains(&v) {
                        all.push(v);
                    }
                }
                Some(())
            });
            consider(union.map(|_| all));
        }
        best
    }
}

impl EventPattern {
    /// Parses, validates and compiles a pattern given as JSON text.
    pub fn new(src: &str) -> Result<EventPattern, EventPatternError> {
        if src.chars().count() > MAX_PATTERN_LEN {
            return Err(err(
                format!("pattern is longer than {MAX_PATTERN_LEN} characters"),
                "",
            ));
        }
        let v: Value = serde_json::from_str(src).map_err(|e| {
            err(
                format!(
                    "not valid JSON: {} (line {}, column {})",
                    strip_position(&e),
                    e.line(),
                    e.column()
                ),
                "",
            )
        })?;
        let root = match &v {
            Value::Object(m) => compile_object(m, "")?,
            _ => return Err(err("Filter is not an object", "")),
        };
        let combos = root.combinations();
        if combos > MAX_OR_COMBINATIONS {
            return Err(err(
                format!("Rule is too complex: $or expands to {combos} combinations (at most {MAX_OR_COMBINATIONS})"),
                "",
            ));
        }
        Ok(EventPattern {
            source: src.to_string(),
            root,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Evaluates the pattern on an event.
    pub fn is_match(&self, event: &Value) -> bool {
        match event {
            Value::Object(m) => self.root.matches(Some(m)),
            _ => self.root.matches(None),
        }
    }

    /// Evaluates the pattern on an event whose top-level members are produced on demand (for
    /// example the EventBridge envelope around a CloudTrail record, built without copying it).
    pub fn is_match_with<'a>(&self, top: &dyn Fn(&str) -> Option<Cow<'a, Value>>) -> bool {
        self.root.matches_top(top)
    }

    /// The exact strings the member at `path` must equal for an event to match, when the pattern
    /// pins it to a finite set (`{"detail": {"eventName": ["A", "B"]}}` pins
    /// `detail.eventName` to A, B). `None` when some matching event could hold another value.
    pub fn pinned_strings(&self, path: &[&str]) -> Option<Vec<String>> {
        self.root.pinned(path)
    }

    /// The top-level members of an event the pattern reads, each with the members of it that it
    /// reads (`{"detail": {"eventName": …}, "source": …}` reads `detail`'s `eventName`, and
    /// `source` whole).
    pub fn reads(&self) -> Vec<(String, Reads)> {
        let mut out = Vec::new();
        self.root.reads_top(&mut out);
        out
    }

    /// Literals every matching CloudTrail record contains. Only `detail` (the record itself),
    /// `account` and `region` count: the other envelope members are derived, not in the text.
    pub fn requirement(&self) -> Requirement {
        Requirement::all(
            (self.root.fields.iter())
                .filter(|(k, _)| matches!(k.as_str(), "detail" | "account" | "region"))
                .map(|(_, c)| c.requirement()),
        )
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn compile_object(m: &Map<String, Value>, path: &str) -> Result<Node, EventPatternError> {
    if m.is_empty() {
        return Err(err("Empty objects are not allowed", path));
    }
    let mut node = Node::default();
    for (k, v) in m {
        let p = join(path, k);
        if k == "$or" {
            node.ors.push(compile_or(v, &p)?);
            continue;
        }
        let child = match v {
            Value::Object(o) => Child::Node(compile_object(o, &p)?),
            Value::Array(a) => Child::Leaf(compile_list(a, &p)?),
            _ => return Err(err(format!("\"{k}\" must be an object or an array"), &p)),
        };
        node.insert(k.split('.').collect::<Vec<_>>().as_slice(), child);
    }
    Ok(node)
}

fn compile_or(v: &Value, path: &str) -> Result<Vec<Node>, EventPatternError> {
    let Value::Array(a) = v else {
        return Err(err("It must be an Array followed with $or.", path));
    };
    if a.len() < 2 {
        return Err(err(
            "There must have at least 2 Objects in $or relationship.",
            path,
        ));
    }
    a.iter()
        .enumerate()
        .map(|(i, alt)| {
            let p = format!("{path}[{i}]");
            let Value::Object(o) = alt else {
                return Err(err(
                    "Only JSON object is allowed in array of $or relationship.",
                    &p,
                ));
            };
            if let Some(k) = o.keys().find(|k| matcher::OPERATORS.contains(&k.as_str())) {
                return Err(err(
                    format!("{k} is Ruler reserved fieldName which cannot be used inside $or."),
                    &p,
                ));
            }
            compile_object(o, &p)
        })
        .collect()
}

fn compile_list(a: &[Value], path: &str) -> Result<Vec<Matcher>, EventPatternError> {
    if a.is_empty() {
        return Err(err("Empty arrays are not allowed", path));
    }
    a.iter()
        .enumerate()
        .map(|(i, v)| Matcher::compile(v).map_err(|r| err(r, &format!("{path}[{i}]"))))
        .collect()
}

impl Node {
    /// Adds a field under a dotted path (`"a.b"` is the same as `{"a": {"b": …}}`).
    fn insert(&mut self, segs: &[&str], child: Child) {
        let (first, rest) = segs.split_first().expect("split yields a segment");
        if rest.is_empty() {
            match child {
                Child::Node(n) => {
                    if let Some((_, Child::Node(existing))) = self
                        .fields
                        .iter_mut()
                        .find(|(k, c)| k == first && matches!(c, Child::Node(_)))
                    {
                        existing.fields.extend(n.fields);
                        existing.ors.extend(n.ors);
                    } else {
                        self.fields.push((first.to_string(), Child::Node(n)));
                    }
                }
                leaf => {
                    self.fields
                        .retain(|(k, c)| !(k == first && matches!(c, Child::Leaf(_))));
                    self.fields.push((first.to_string(), leaf));
                }
            }
            return;
        }
        let pos = match self
            .fields
            .iter()
            .position(|(k, c)| k == first && matches!(c, Child::Node(_)))
        {
            Some(p) => p,
            None => {
                self.fields
                    .push((first.to_string(), Child::Node(Node::default())));
                self.fields.len() - 1
            }
        };
        if let Child::Node(n) = &mut self.fields[pos].1 {
            n.insert(rest, child);
        }
    }

    fn combinations(&self) -> u64 {
        let mut total: u64 = 1;
        for (_, c) in &self.fields {
            if let Child::Node(n) = c {
                total = total.saturating_mul(n.combinations());
            }
        }
        for alts in &self.ors {
            let sum = alts
                .iter()
                .map(Node::combinations)
                .fold(0u64, u64::saturating_add);
            total = total.saturating_mul(sum);
        }
        total
    }

    fn matches(&self, obj: Option<&Map<String, Value>>) -> bool {
        self.fields.iter().all(|(k, c)| match obj {
            Some(m) => match dotted_member(m, k) {
                Some(v) => c.matches(Some(&v)),
                None => c.matches(m.get(k)),
            },
            None => c.matches(None),
        }) && self
            .ors
            .iter()
            .all(|alts| alts.iter().any(|n| n.matches(obj)))
    }

    fn matches_top<'a>(&self, top: &dyn Fn(&str) -> Option<Cow<'a, Value>>) -> bool {
        self.fields
            .iter()
            .all(|(k, c)| c.matches(top(k).as_deref()))
            && self
                .ors
                .iter()
                .all(|alts| alts.iter().any(|n| n.matches_top(top)))
    }

    fn requirement(&self) -> Requirement {
        let fields = self.fields.iter().map(|(_, c)| c.requirement());
        let ors =
            (self.ors.iter()).map(|alts| Requirement::either(alts.iter().map(Node::requirement)));
        Requirement::all(fields.chain(ors))
    }
}

impl Child {
    fn matches(&self, v: Option<&Value>) -> bool {
        match self {
            // A scalar (the usual case) is its own only leaf, and nothing is collected.
            Child::Leaf(list) => match v {
                None | Some(Value::Object(_)) => {
                    (list.iter()).any(|m| matches!(m, Matcher::Exists(false)))
                }
                Some(Value::Array(_)) => {
                    let mut leaves = Vec::new();
                    collect_leaves(v, &mut leaves);
                    list.iter().any(|m| match m {
                        Matcher::Exists(want) => leaves.is_empty() != *want,
                        m => leaves.iter().any(|l| m.test(l)),
                    })
                }
                Some(leaf) => list.iter().any(|m| match m {
                    Matcher::Exists(want) => *want,
                    m => m.test(leaf),
                }),
            },
            // Arrays are transparent, and one element must satisfy the whole nested object
            // (event-ruler's array consistency).
            Child::Node(n) => match v {
                Some(Value::Object(m)) => n.matches(Some(m)),
                Some(Value::Array(a)) if !a.is_empty() => a.iter().any(|e| self.matches(Some(e))),
                _ => n.matches(None),
            },
        }
    }

    fn requirement(&self) -> Requirement {
        match self {
            Child::Leaf(list) => Matcher::requirement(list),
            Child::Node(n) => n.requirement(),
        }
    }
}

/// When the event spells a nested path with dots (`{"a.b": 1}`), the member `k` as the nested
/// object it stands for, merged with a plain `k` object if there is one. `None` when the event
/// has no such keys, which is the usual case and costs one scan of the member names.
fn dotted_member(m: &Map<String, Value>, k: &str) -> Option<Value> {
    let mut nested: Option<Map<String, Value>> = None;
    // The dot after `k` is looked at first: most names are rejected without a comparison.
    let dotted = |ek: &str| ek.as_bytes().get(k.len()) == Some(&b'.') && ek.starts_with(k);
    for (ek, ev) in m {
        if let Some(rest) = dotted(ek).then(|| &ek[k.len() + 1..]) {
            nested
                .get_or_insert_with(Map::new)
                .insert(rest.to_string(), ev.clone());
        }
    }
    let mut nested = nested?;
    if let Some(Value::Object(plain)) = m.get(k) {
        for (pk, pv) in plain {
            nested.entry(pk.clone()).or_insert_with(|| pv.clone());
        }
    }
    Some(Value::Object(nested))
}

/// The leaf values at a path: scalars, with arrays flattened; objects are not leaves.
fn collect_leaves<'v>(v: Option<&'v Value>, out: &mut Vec<&'v Value>) {
    match v {
        None | Some(Value::Object(_)) => {}
        Some(Value::Array(a)) => a.iter().for_each(|e| collect_leaves(Some(e), out)),
        Some(s) => out.push(s),
    }
}

#[cfg(test)]
mod tests;
