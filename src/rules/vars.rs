//! Variables in patterns: a `[vars]` table (`own_accounts = ["111122223333"]`,
//! `break_glass = "arn:aws:iam::111122223333:user/break-glass"`) referenced as `${name}`, so that
//! one rule works in every organization. Packs give defaults; a configuration's or rules file's
//! `[vars]` wins.
//!
//! - In an EventBridge pattern, `${name}` stands inside a JSON string value: a text variable
//!   is put in its place, a list variable makes one string per value (`["${own_accounts}"]` →
//!   `["111…","222…"]`, `["arn:aws:iam::${own_accounts}:*"]` → one ARN pattern per account, also
//!   inside `anything-but`); as the value of a one-key operator object, a list variable repeats
//!   the object (`[{"cidr": "${trusted_cidrs}"}]` → `[{"cidr":"10.0.0.0/8"},{"cidr":…}]`).
//! - In a filter pattern, a text variable is put in place (inside quotes, escaped); a list
//!   variable may only be compared: `$.x = "${list}"` → `($.x = "a" || $.x = "b")`, `!=` → `&&`.
//! - An empty list is the empty set: "anything but the list" (`{"anything-but":["${name}"]}`,
//!   `$.x != "${name}"`) is then anything at all (the value is compared with a text no record
//!   holds, so a missing field behaves as with a full list), and any other use matches nothing:
//!   an `exclude` with an empty allowlist excludes nothing, a rule whose own pattern needs one
//!   stays quiet (and `check` says so).
//!
//! Pure functions over text; no I/O.

use std::collections::BTreeMap;

/// A variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Text(String),
    List(Vec<String>),
}

/// Variables by name.
pub(crate) type Vars = BTreeMap<String, Var>;

impl Var {
    /// A TOML value as a variable: a string, or an array of strings.
    pub fn from_toml(v: &toml::Value) -> Result<Var, String> {
        match v {
            toml::Value::String(s) => Ok(Var::Text(s.clone())),
            toml::Value::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(String::from)
                        .ok_or_else(|| format!("a list of strings is expected, found {x}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Var::List),
            other => Err(format!(
                "a string or a list of strings is expected, found {}",
                other.type_str()
            )),
        }
    }
}

/// A pattern after its variables were put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expanded {
    Pattern(String),
    /// It uses an empty list variable (named): it matches nothing.
    Never(String),
}

/// The names used in `src`, in order, each once.
fn names(src: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "a `${` without its closing `}`".to_string())?;
        let name = &after[..end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!("`${{{name}}}` is not a variable name"));
        }
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// The text an empty list's "anything but" compares with: no CloudTrail value holds it.
fn nothing(name: &str) -> String {
    format!("(the list {name} is empty)")
}

/// Looks up every variable `src` uses.
fn lookup<'v>(src: &str, vars: &'v Vars) -> Result<Vec<(String, &'v Var)>, String> {
    let mut out = Vec::new();
    for n in names(src)? {
        let v = vars.get(&n).ok_or_else(|| {
            let known: Vec<&str> = vars.keys().map(String::as_str).collect();
            format!(
                "unknown variable `${{{n}}}` (set it in [vars]; known: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })?;
        out.push((n, v));
    }
    Ok(out)
}

/// The values a plain text stands for: each variable put in its place, a list variable giving
/// one value per item (several lists: every combination). An empty list gives no value.
pub(crate) fn expand_values(src: &str, vars: &Vars) -> Result<Vec<String>, String> {
    let mut out = vec![src.to_string()];
    for (name, var) in lookup(src, vars)? {
        let token = format!("${{{name}}}");
        let values: Vec<&String> = match var {
            Var::Text(t) => vec![t],
            Var::List(l) => l.iter().collect(),
        };
        let token = &token;
        out = out
            .iter()
            .flat_map(|o| values.iter().map(move |v| o.replace(token, v)))
            .collect();
    }
    Ok(out)
}

/// Puts variables into an EventBridge pattern's text.
pub(crate) fn expand_event(src: &str, vars: &Vars) -> Result<Expanded, String> {
    let mut out = src.to_string();
    for (name, v) in lookup(src, vars)? {
        if matches!(v, Var::List(l) if l.is_empty()) {
            // `{"anything-but": "${name}"}` or `[ "${name}" ]`: anything but nothing.
            let but = regex::Regex::new(&format!(
                r#""anything-but"\s*:\s*(?:\[\s*"\$\{{{n}\}}"\s*\]|"\$\{{{n}\}}")"#,
                n = regex::escape(&name)
            ))
            .expect("a valid expression");
            out = but
                .replace_all(
                    &out,
                    format!(r#""anything-but":[{}]"#, json_string(&nothing(&name))),
                )
                .into_owned();
            if out.contains(&format!("${{{name}}}")) {
                return Ok(Expanded::Never(name));
            }
            continue;
        }
        let values = match v {
            Var::Text(t) => std::slice::from_ref(t),
            Var::List(l) => l.as_slice(),
        };
        out = expand_literals(&out, &name, values)?;
    }
    Ok(Expanded::Pattern(out))
}

/// Every JSON string literal of `src` holding `${name}` becomes one literal per value (the
/// variable put in its place, escaped); as the value of a one-key operator object, the object
/// is repeated instead (`{"prefix":"arn:${x}"}` → `{"prefix":"arn:a"},{"prefix":"arn:b"}`).
fn expand_literals(src: &str, name: &str, values: &[String]) -> Result<String, String> {
    static LITERAL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#""(?:[^"\\]|\\.)*""#).expect("a valid expression")
    });
    let token = format!("${{{name}}}");
    let mut out = String::new();
    let mut done = 0;
    for m in LITERAL.find_iter(src) {
        if m.start() < done || !m.as_str().contains(&token) {
            continue;
        }
        let (before, after) = (&src[done..m.start()], &src[m.end()..]);
        if after.trim_start().starts_with(':') {
            return Err(format!("`{token}` stands where a value may, not in a key"));
        }
        let each: Vec<String> = values
            .iter()
            .map(|v| {
                let escaped = json_string(v);
                m.as_str().replace(&token, &escaped[1..escaped.len() - 1])
            })
            .collect();
        // Backwards from the literal: `:`, the operator's quoted name, `{`; forwards: `}`.
        let op = before.trim_end().strip_suffix(':').and_then(|b| {
            let b = b.trim_end().strip_suffix('"')?;
            let q = b.rfind('"')?;
            let op = &b[q + 1..];
            let brace = b[..q].trim_end().strip_suffix('{')?;
            let close = after.trim_start().strip_prefix('}')?;
            (!op.is_empty() && !op.contains(['{', '}', ',', '"']))
                .then(|| (brace.len(), op.to_string(), src.len() - close.len()))
        });
        match op {
            Some((brace, op, end)) => {
                out.push_str(&before[..brace]);
                let objects: Vec<String> = each
                    .iter()
                    .map(|lit| format!("{{{}:{lit}}}", json_string(&op)))
                    .collect();
                out.push_str(&objects.join(","));
                done = end;
            }
            None => {
                out.push_str(before);
                out.push_str(&each.join(","));
                done = m.end();
            }
        }
    }
    out.push_str(&src[done..]);
    if out.contains(&token) {
        return Err(format!(
            "`{token}` must be inside a quoted JSON string: [\"{token}\"] or [\"arn:aws:iam::{token}:*\"]"
        ));
    }
    Ok(out)
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A filter pattern's quoted string content for `s`.
fn filter_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Puts variables into a filter pattern's text.
pub(crate) fn expand_filter(src: &str, vars: &Vars) -> Result<Expanded, String> {
    let mut out = src.to_string();
    for (name, v) in lookup(src, vars)? {
        out = match v {
            Var::List(l) if l.is_empty() => {
                // `!= "${name}"`: different from every value of an empty list.
                let but =
                    regex::Regex::new(&format!(r#"!=\s*"?\$\{{{}\}}"?"#, regex::escape(&name)))
                        .expect("a valid expression");
                let out = but
                    .replace_all(&out, format!("!= \"{}\"", nothing(&name)))
                    .into_owned();
                if out.contains(&format!("${{{name}}}")) {
                    return Ok(Expanded::Never(name));
                }
                out
            }
            Var::Text(t) => {
                let quoted = format!("\"${{{name}}}\"");
                let bare = format!("${{{name}}}");
                out.replace(&quoted, &format!("\"{}\"", filter_string(t)))
                    .replace(&bare, &filter_string(t))
            }
            Var::List(l) => expand_filter_list(&out, &name, l)?,
        };
    }
    Ok(Expanded::Pattern(out))
}

/// Rewrites every `<selector> = "${name}"` (or `!=`) into one comparison per value.
fn expand_filter_list(src: &str, name: &str, values: &[String]) -> Result<String, String> {
    let token = format!("${{{name}}}");
    let mut out = String::new();
    let mut rest = src;
    while let Some(at) = rest.find(&token) {
        // The token, with its quotes when quoted.
        let quoted =
            at > 0 && rest[..at].ends_with('"') && rest[at + token.len()..].starts_with('"');
        let (start, end) = if quoted {
            (at - 1, at + token.len() + 1)
        } else {
            (at, at + token.len())
        };
        let before = rest[..start].trim_end();
        let (op, lhs_end) = if let Some(b) = before.strip_suffix("!=") {
            ("!=", b.trim_end().len())
        } else if let Some(b) = before.strip_suffix('=') {
            ("=", b.trim_end().len())
        } else {
            return Err(format!(
                "the list variable `${{{name}}}` can only be compared: $.field = \"${{{name}}}\" or != \"${{{name}}}\""
            ));
        };
        // The selector: from `$` to the operator.
        let lhs_start = before[..lhs_end]
            .rfind('$')
            .ok_or_else(|| format!("`${{{name}}}` is compared with no $.selector before it"))?;
        let selector = before[lhs_start..lhs_end].trim();
        let join = if op == "=" { " || " } else { " && " };
        let each: Vec<String> = values
            .iter()
            .map(|v| format!("{selector} {op} \"{}\"", filter_string(v)))
            .collect();
        out.push_str(&rest[..lhs_start]);
        out.push('(');
        out.push_str(&each.join(join));
        out.push(')');
        rest = &rest[end..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars::from([
            (
                "own".into(),
                Var::List(vec!["111122223333".into(), "444455556666".into()]),
            ),
            ("none".into(), Var::List(vec![])),
            ("bg".into(), Var::Text("arn:aws:iam::1:user/\"odd\"".into())),
        ])
    }

    #[test]
    fn event_patterns_take_strings_and_lists() {
        let e = expand_event(
            r#"{"detail":{"a":["${own}"],"b":[{"anything-but":["${own}"]}],"c":["${bg}"]}}"#,
            &vars(),
        )
        .unwrap();
        assert_eq!(
            e,
            Expanded::Pattern(r#"{"detail":{"a":["111122223333","444455556666"],"b":[{"anything-but":["111122223333","444455556666"]}],"c":["arn:aws:iam::1:user/\"odd\""]}}"#.into())
        );
        assert_eq!(
            expand_event(r#"{"a":["${none}"]}"#, &vars()).unwrap(),
            Expanded::Never("none".into())
        );
        // Anything but an empty list is anything (present); any other use still matches nothing.
        assert_eq!(
            expand_event(
                r#"{"a":[{"anything-but": [ "${none}" ]}],"b":[{"anything-but":"${none}"}]}"#,
                &vars()
            )
            .unwrap(),
            Expanded::Pattern(
                r#"{"a":[{"anything-but":["(the list none is empty)"]}],"b":[{"anything-but":["(the list none is empty)"]}]}"#
                    .into()
            )
        );
        assert_eq!(
            expand_event(
                r#"{"a":[{"anything-but":["${none}"]}],"b":["${none}"]}"#,
                &vars()
            )
            .unwrap(),
            Expanded::Never("none".into())
        );
        assert!(expand_event(r#"{"a":["${nope}"]}"#, &vars())
            .unwrap_err()
            .contains("unknown variable `${nope}`"));
        assert_eq!(
            expand_event(
                r#"{"a":["x${own}"],"b":[{"anything-but":{"wildcard":["arn:aws:iam::${own}:*"]}}],"c":[{"prefix":"a${bg}"}]}"#,
                &vars()
            )
            .unwrap(),
            Expanded::Pattern(r#"{"a":["x111122223333","x444455556666"],"b":[{"anything-but":{"wildcard":["arn:aws:iam::111122223333:*","arn:aws:iam::444455556666:*"]}}],"c":[{"prefix":"aarn:aws:iam::1:user/\"odd\""}]}"#.into())
        );
        assert!(expand_event(r#"{"a":[${own}]}"#, &vars())
            .unwrap_err()
            .contains("must be inside a quoted JSON string"));
        assert!(expand_event(r#"{"${own}":["a"]}"#, &vars())
            .unwrap_err()
            .contains("not in a key"));
        assert_eq!(
            expand_event(r#"{"a":["b"]}"#, &vars()).unwrap(),
            Expanded::Pattern(r#"{"a":["b"]}"#.into())
        );
        let ops = expand_event(r#"{"ip":[{"cidr": "${own}" }, "x"]}"#, &vars()).unwrap();
        assert_eq!(
            ops,
            Expanded::Pattern(
                r#"{"ip":[{"cidr":"111122223333"},{"cidr":"444455556666"}, "x"]}"#.into()
            )
        );
    }

    #[test]
    fn filter_patterns_compare_with_lists() {
        let e = expand_filter(
            r#"{ $.recipientAccountId = "${own}" && $.x != ${own} }"#,
            &vars(),
        )
        .unwrap();
        assert_eq!(
            e,
            Expanded::Pattern(r#"{ ($.recipientAccountId = "111122223333" || $.recipientAccountId = "444455556666") && ($.x != "111122223333" && $.x != "444455556666") }"#.into())
        );
        let t = expand_filter(r#"{ $.userIdentity.arn = "${bg}" }"#, &vars()).unwrap();
        assert_eq!(
            t,
            Expanded::Pattern(r#"{ $.userIdentity.arn = "arn:aws:iam::1:user/\"odd\"" }"#.into())
        );
        assert_eq!(
            expand_filter(r#"{ $.a = "${none}" }"#, &vars()).unwrap(),
            Expanded::Never("none".into())
        );
        assert_eq!(
            expand_filter(r#"{ $.a != "${none}" && $.b = 1 }"#, &vars()).unwrap(),
            Expanded::Pattern(r#"{ $.a != "(the list none is empty)" && $.b = 1 }"#.into())
        );
        assert!(expand_filter(r#"{ $.a > "${own}" }"#, &vars())
            .unwrap_err()
            .contains("can only be compared"));
        assert!(expand_filter("{ $.a = \"${unclosed\" }", &vars()).is_err());
    }

    #[test]
    fn toml_values_become_variables() {
        assert_eq!(
            Var::from_toml(&toml::Value::String("a".into())).unwrap(),
            Var::Text("a".into())
        );
        let arr = toml::Value::Array(vec![toml::Value::String("a".into())]);
        assert_eq!(Var::from_toml(&arr).unwrap(), Var::List(vec!["a".into()]));
        assert!(Var::from_toml(&toml::Value::Integer(1)).is_err());
    }

    #[test]
    fn plain_values_expand_to_one_per_item() {
        let mut v = Vars::new();
        v.insert("acct".into(), Var::List(vec!["1".into(), "2".into()]));
        v.insert("role".into(), Var::Text("ci".into()));
        v.insert("none".into(), Var::List(vec![]));
        assert_eq!(
            expand_values("arn:aws:iam::${acct}:role/${role}", &v).unwrap(),
            ["arn:aws:iam::1:role/ci", "arn:aws:iam::2:role/ci"]
        );
        assert!(expand_values("${none}", &v).unwrap().is_empty());
        assert!(expand_values("${nope}", &v).is_err());
    }
}
