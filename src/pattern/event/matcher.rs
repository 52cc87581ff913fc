//! One entry of a field's match list (`"x"`, `{"prefix": "a"}`, `{"numeric": [">", 0]}` …), its
//! compilation with event-ruler's error reasons, and its test on one event value.

use serde_json::{Map, Value};

use super::cidr::Cidr;
use super::wildcard::Glob;
use crate::pattern::literals::{Encoding, Requirement};

/// A numeric comparison operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Strings excluded by `anything-but`.
#[derive(Debug, Clone, PartialEq)]
pub enum Excluded {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    /// Lower-cased.
    IgnoreCase(Vec<String>),
    Wildcards(Vec<Glob>),
}

/// A compiled matcher.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    Str(String),
    /// Numbers are equal when numerically equal (event-ruler's rule: `[300]` matches `300.0`).
    Num(f64),
    Bool(bool),
    Null,
    Prefix(String),
    /// Lower-cased.
    PrefixIgnoreCase(String),
    Suffix(String),
    /// Lower-cased.
    SuffixIgnoreCase(String),
    /// Lower-cased.
    EqualsIgnoreCase(String),
    Wildcard(Glob),
    AnythingBut(Excluded),
    Numeric(Vec<(NumOp, f64)>),
    Cidr(Cidr),
    Exists(bool),
}

/// Operator names, which cannot be field names inside `$or`.
pub(super) const OPERATORS: &[&str] = &[
    "prefix",
    "suffix",
    "equals-ignore-case",
    "wildcard",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
    "exactly",
];

fn string_of(op: &str, v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{op} match pattern must be a string"))
}

fn strings_of(op: &str, v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a.iter().map(|x| string_of(op, x)).collect(),
        _ => Err(format!("{op} match pattern must be a string")),
    }
}

impl Matcher {
    /// Compiles one element of a match list.
    pub fn compile(v: &Value) -> Result<Matcher, String> {
        match v {
            Value::String(s) => Ok(Matcher::Str(s.clone())),
            Value::Number(n) => Ok(Matcher::Num(n.as_f64().unwrap_or(f64::NAN))),
            Value::Bool(b) => Ok(Matcher::Bool(*b)),
            Value::Null => Ok(Matcher::Null),
            Value::Array(_) => {
                Err("Match value must be String, number, true, false, or null".into())
            }
            Value::Object(m) => Self::operator(m),
        }
    }

    fn operator(m: &Map<String, Value>) -> Result<Matcher, String> {
        let mut it = m.iter();
        let (op, v) = match (it.next(), it.next()) {
            (Some(kv), None) => kv,
            (None, _) => return Err("Empty objects are not allowed".into()),
            _ => return Err("Only one key allowed in match expression".into()),
        };
        Ok(match op.as_str() {
            "prefix" | "suffix" => {
                let prefix = op == "prefix";
                match v {
                    Value::Object(o) => match (o.len(), o.get("equals-ignore-case")) {
                        (1, Some(s)) => {
                            let s = string_of("equals-ignore-case", s)?.to_lowercase();
                            if prefix {
                                Matcher::PrefixIgnoreCase(s)
                            } else {
                                Matcher::SuffixIgnoreCase(s)
                            }
                        }
                        _ => {
                            let k = o.keys().next().map_or("{}", String::as_str);
                            return Err(format!("Unsupported {op} pattern: {k}"));
                        }
                    },
                    _ => {
                        let s = string_of(op, v)?;
                        if prefix {
                            Matcher::Prefix(s)
                        } else {
                            Matcher::Suffix(s)
                        }
                    }
                }
            }
            "equals-ignore-case" => Matcher::EqualsIgnoreCase(string_of(op, v)?.to_lowercase()),
            "exactly" => Matcher::Str(string_of(op, v)?),
            "wildcard" => Matcher::Wildcard(Glob::new(&string_of(op, v)?)?),
            "exists" => match v {
                Value::Bool(b) => Matcher::Exists(*b),
                _ => return Err("exists match pattern must be either true or false.".into()),
            },
            "cidr" => Matcher::Cidr(Cidr::new(&string_of(op, v)?)?),
            "numeric" => Matcher::Numeric(numeric(v)?),
            "anything-but" => Matcher::AnythingBut(anything_but(v)?),
            other => return Err(format!("Unrecognized match type {other}")),
        })
    }

    /// Tests one leaf value (never an object or array).
    pub fn test(&self, v: &Value) -> bool {
        match (self, v) {
            (Matcher::Str(p), Value::String(s)) => p == s,
            (Matcher::Num(p), Value::Number(n)) => n.as_f64() == Some(*p),
            (Matcher::Bool(p), Value::Bool(b)) => p == b,
            (Matcher::Null, Value::Null) => true,
            (Matcher::Prefix(p), Value::String(s)) => s.starts_with(p.as_str()),
            (Matcher::Suffix(p), Value::String(s)) => s.ends_with(p.as_str()),
            (Matcher::PrefixIgnoreCase(p), Value::String(s)) => {
                s.to_lowercase().starts_with(p.as_str())
            }
            (Matcher::SuffixIgnoreCase(p), Value::String(s)) => {
                s.to_lowercase().ends_with(p.as_str())
            }
            (Matcher::EqualsIgnoreCase(p), Value::String(s)) => s.to_lowercase() == *p,
            (Matcher::Wildcard(g), Value::String(s)) => g.is_match(s),
            (Matcher::Cidr(c), Value::String(s)) => c.contains(s),
            (Matcher::Numeric(conds), Value::Number(n)) => n.as_f64().is_some_and(|x| {
                conds.iter().all(|(op, b)| match op {
                    NumOp::Eq => x == *b,
                    NumOp::Lt => x < *b,
                    NumOp::Le => x <= *b,
                    NumOp::Gt => x > *b,
                    NumOp::Ge => x >= *b,
                })
            }),
            (Matcher::AnythingBut(ex), v) => !excluded(ex, v),
            _ => false,
        }
    }

    /// The literal every value passing this matcher contains, if there is one.
    fn literal(&self) -> Option<(String, Encoding)> {
        let s = match self {
            Matcher::Str(s) | Matcher::Prefix(s) | Matcher::Suffix(s) => s.clone(),
            Matcher::Wildcard(g) => g.longest_literal().to_string(),
            Matcher::Bool(b) => return Some((b.to_string(), Encoding::Raw)),
            Matcher::Null => return Some(("null".into(), Encoding::Raw)),
            _ => return None,
        };
        Some((s, Encoding::JsonString))
    }

    /// What a list of matchers requires of the text: one of their literals, if all have one.
    pub fn requirement(list: &[Matcher]) -> Requirement {
        match list
            .iter()
            .map(Matcher::literal)
            .collect::<Option<Vec<_>>>()
        {
            Some(lits) => Requirement::any_of(lits),
            None => Requirement::none(),
        }
    }
}

/// `anything-but` excludes only values of its own kind; everything else passes.
fn excluded(ex: &Excluded, v: &Value) -> bool {
    match (ex, v) {
        (Excluded::Strings(l), Value::String(s)) => l.iter().any(|x| x == s),
        (Excluded::Numbers(l), Value::Number(n)) => n.as_f64().is_some_and(|x| l.contains(&x)),
        (Excluded::Prefixes(l), Value::String(s)) => l.iter().any(|p| s.starts_with(p.as_str())),
        (Excluded::Suffixes(l), Value::String(s)) => l.iter().any(|p| s.ends_with(p.as_str())),
        (Excluded::IgnoreCase(l), Value::String(s)) => {
            let s = s.to_lowercase();
            l.contains(&s)
        }
        (Excluded::Wildcards(l), Value::String(s)) => l.iter().any(|g| g.is_match(s)),
        _ => false,
    }
}

fn anything_but(v: &Value) -> Result<Excluded, String> {
    const MIXED: &str = "Inside anything but list, either all values are number or string, mixed type is not supported";
    match v {
        Value::String(s) => Ok(Excluded::Strings(vec![s.clone()])),
        Value::Number(n) => Ok(Excluded::Numbers(vec![n.as_f64().unwrap_or(f64::NAN)])),
        Value::Array(a) => {
            if a.iter().any(|x| !(x.is_string() || x.is_number())) {
                return Err(
                    "Inside anything but list, start|null|boolean is not supported.".into(),
                );
            }
            if !a.is_empty() && a.iter().all(Value::is_string) {
                Ok(Excluded::Strings(
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                ))
            } else if !a.is_empty() && a.iter().all(Value::is_number) {
                Ok(Excluded::Numbers(
                    a.iter().filter_map(Value::as_f64).collect(),
                ))
            } else {
                Err(MIXED.into())
            }
        }
        Value::Object(o) => {
            let mut it = o.iter();
            let (op, inner) = match (it.next(), it.next()) {
                (Some(kv), None) => kv,
                (None, _) => return Err("Empty objects are not allowed".into()),
                _ => return Err("Only one key allowed in match expression".into()),
            };
            let list = strings_of(op, inner);
            Ok(match op.as_str() {
                "prefix" | "suffix" => {
                    let list = list?;
                    if list.iter().any(String::is_empty) {
                        return Err("Null prefix/suffix not allowed".into());
                    }
                    if op == "prefix" {
                        Excluded::Prefixes(list)
                    } else {
                        Excluded::Suffixes(list)
                    }
                }
                "equals-ignore-case" => {
                    Excluded::IgnoreCase(list?.iter().map(|s| s.to_lowercase()).collect())
                }
                "wildcard" => Excluded::Wildcards(
                    list?
                        .iter()
                        .map(|s| Glob::new(s))
                        .collect::<Result<_, _>>()?,
                ),
                other => return Err(format!("Unsupported anything-but pattern: {other}")),
            })
        }
        Value::Null | Value::Bool(_) => {
            Err("Value of anything-but must be an array or single string/number value.".into())
        }
    }
}

fn numeric(v: &Value) -> Result<Vec<(NumOp, f64)>, String> {
    let Value::Array(a) = v else {
        return Err("Value of numeric must be an array.".into());
    };
    if a.is_empty() {
        return Err("Invalid member in numeric match: ]".into());
    }
    let op_at = |i: usize| -> Result<NumOp, String> {
        let o = &a[i];
        Ok(match o.as_str() {
            Some("=") => NumOp::Eq,
            Some("<") => NumOp::Lt,
            Some("<=") => NumOp::Le,
            Some(">") => NumOp::Gt,
            Some(">=") => NumOp::Ge,
            Some(other) => return Err(format!("Unrecognized numeric range operator: {other}")),
            None => return Err(format!("Unrecognized numeric range operator: {o}")),
        })
    };
    let num_at = |i: usize, op: &Value| -> Result<f64, String> {
        let opname = op.as_str().unwrap_or("?");
        match a.get(i) {
            Some(Value::Number(n)) => n
                .as_f64()
                .ok_or_else(|| format!("Value of {opname} must be numeric")),
            _ => Err(format!("Value of {opname} must be numeric")),
        }
    };
    let first = op_at(0)?;
    let n1 = num_at(1, &a[0])?;
    match first {
        NumOp::Eq | NumOp::Lt | NumOp::Le => {
            if a.len() > 2 {
                return Err("Too many elements in numeric expression".into());
            }
            Ok(vec![(first, n1)])
        }
        NumOp::Gt | NumOp::Ge => {
            if a.len() == 2 {
                return Ok(vec![(first, n1)]);
            }
            if a.len() > 4 {
                return Err("Too many elements in numeric expression".into());
            }
            let second = op_at(2)?;
            if !matches!(second, NumOp::Lt | NumOp::Le) {
                return Err(format!(
                    "Bad numeric range operator: {}",
                    a[2].as_str().unwrap_or("?")
                ));
            }
            let n2 = num_at(3, &a[2])?;
            if n1 >= n2 {
                return Err("Bottom must be less than top".into());
            }
            Ok(vec![(first, n1), (second, n2)])
        }
    }
}
