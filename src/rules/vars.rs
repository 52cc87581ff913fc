//! Variables in patterns: a `[vars]` table (`own_accounts = ["111122223333"]`,
//! `break_glass = "arn:aws:iam::111122223333:user/break-glass"`) referenced as `${name}`, so that
//! one rule works in every organization. Packs give defaults; a configuration's or rules file's
//! `[vars]` wins.
//!
//! - In an EventBridge pattern, `"${name}"` stands where a JSON string may: a text variable
//!   becomes that string, a list variable its strings (`["${own_accounts}"]` → `["111…","222…"]`,
//!   also inside `anything-but`); as the value of a one-key operator object, a list variable
//!   repeats the object (`[{"cidr": "${trusted_cidrs}"}]` → `[{"cidr":"10.0.0.0/8"},{"cidr":…}]`).
//! - In a filter pattern, a text variable is put in place (inside quotes, escaped); a list
//!   variable may only be compared: `$.x = "${list}"` → `($.x = "a" || $.x = "b")`, `!=` → `&&`.
//! - A pattern that uses an empty list variable matches nothing: an `exclude` with an empty
//!   allowlist excludes nothing, a rule whose own pattern needs one stays quiet (and `check`
//!   says so).
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
pub type Vars = BTreeMap<String, Var>;

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
pub enum Expanded {
    Pattern(String),
    /// It uses an empty list variable (named): it matches nothing.
    Never(String),
}

/// True when `src` uses a variable.
pub fn uses_vars(src: &str) -> bool {
    src.contains("${")
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

/// The variables a pattern uses, or the name of an empty list among them.
type Used<'v> = Result<Vec<(String, &'v Var)>, String>;

/// Looks up every variable `src` uses; the inner `Err` names an empty list (the pattern then
/// matches nothing).
fn lookup<'v>(src: &str, vars: &'v Vars) -> Result<Used<'v>, String> {
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
        if matches!(v, Var::List(l) if l.is_empty()) {
            return Ok(Err(n));
        }
        out.push((n, v));
    }
    Ok(Ok(out))
}

/// Puts variables into an EventBridge pattern's text.
pub fn expand_event(src: &str, vars: &Vars) -> Result<Expanded, String> {
    let used = match lookup(src, vars)? {
        Ok(u) => u,
        Err(empty) => return Ok(Expanded::Never(empty)),
    };
    let mut out = src.to_string();
    for (name, v) in used {
        if let Var::List(l) = v {
            out = repeat_operator_objects(&out, &name, l);
        }
        let token = format!("\"${{{name}}}\"");
        let bare = format!("${{{name}}}");
        if out.contains(&bare) && out.matches(&bare).count() != out.matches(&token).count() {
            return Err(format!(
                "`${{{name}}}` must stand alone in quotes, where a JSON string may: [\"${{{name}}}\"]"
            ));
        }
        let with = match v {
            Var::Text(t) => json_string(t),
            Var::List(l) => l
                .iter()
                .map(|s| json_string(s))
                .collect::<Vec<_>>()
                .join(","),
        };
        out = out.replace(&token, &with);
    }
    Ok(Expanded::Pattern(out))
}

/// `{"op": "${name}"}` → `{"op":"a"},{"op":"b"}` for each value of a list variable.
fn repeat_operator_objects(src: &str, name: &str, values: &[String]) -> String {
    let token = format!("\"${{{name}}}\"");
    let mut out = String::new();
    let mut rest = src;
    while let Some(at) = rest.find(&token) {
        let before = &rest[..at];
        let after = &rest[at + token.len()..];
        // Backwards: `:`, the operator's quoted name, `{`.
        let open = before.trim_end().strip_suffix(':').and_then(|b| {
            let b = b.trim_end().strip_suffix('"')?;
            let q = b.rfind('"')?;
            let op = &b[q + 1..];
            let brace = b[..q].trim_end().strip_suffix('{')?;
            Some((brace.len(), op.to_string()))
        });
        let close = after
            .trim_start()
            .strip_prefix('}')
            .map(|a| rest.len() - a.len());
        match (open, close) {
            (Some((brace, op)), Some(end)) if !op.is_empty() && !op.contains(['{', '}', ',']) => {
                out.push_str(&rest[..brace]);
                let each: Vec<String> = values
                    .iter()
                    .map(|v| format!("{{{}:{}}}", json_string(&op), json_string(v)))
                    .collect();
                out.push_str(&each.join(","));
                rest = &rest[end..];
            }
            _ => {
                out.push_str(&rest[..at + token.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A filter pattern's quoted string content for `s`.
fn filter_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Puts variables into a filter pattern's text.
pub fn expand_filter(src: &str, vars: &Vars) -> Result<Expanded, String> {
    let used = match lookup(src, vars)? {
        Ok(u) => u,
        Err(empty) => return Ok(Expanded::Never(empty)),
    };
    let mut out = src.to_string();
    for (name, v) in used {
        out = match v {
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
        assert!(expand_event(r#"{"a":["${nope}"]}"#, &vars())
            .unwrap_err()
            .contains("unknown variable `${nope}`"));
        assert!(expand_event(r#"{"a":["x${own}"]}"#, &vars())
            .unwrap_err()
            .contains("must stand alone"));
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
}
