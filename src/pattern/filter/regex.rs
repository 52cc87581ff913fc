//! CloudWatch Logs `%regex%` syntax: validates AWS's restricted dialect and translates it to the
//! `regex` crate, keeping AWS's ASCII meaning of `\d`, `\s` and `\w`.
//!
//! Allowed: ASCII letters and digits, the symbols `: _ # = @ / ; , -` and space, the operators
//! `^ $ . * + ? {m,n} [...] |`, escapes `\d \D \s \S \w \W \xhh` and `\` before an operator.
//! Parentheses, other symbols and non-ASCII characters are rejected, as CloudWatch does.

use regex::Regex;

/// A compiled CloudWatch regular expression. Matching is a search (unanchored unless `^`/`$`).
#[derive(Debug, Clone)]
pub struct CwRegex {
    source: String,
    re: Regex,
}

impl CwRegex {
    /// Compiles the text between the `%` signs.
    pub fn new(source: &str) -> Result<CwRegex, String> {
        let translated = translate(source)?;
        let re = Regex::new(&translated)
            .map_err(|e| format!("invalid regular expression %{source}%: {}", first_line(&e)))?;
        Ok(CwRegex {
            source: source.to_string(),
            re,
        })
    }

    /// True when the regex matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text)
    }

    /// The pattern as written, without the `%` signs.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

fn first_line(e: &regex::Error) -> String {
    let s = e.to_string();
    s.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("not a valid regular expression")
        .trim_start_matches("error: ")
        .to_string()
}

const ASCII_SPACE: &str = r"\t\n\x0B\x0C\r ";
const OPERATORS: &str = "^$.*+?{}[]|\\-/";

fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || ":_#=@/;,- ".contains(c)
}

fn class_body(esc: char) -> Option<&'static str> {
    match esc {
        'd' => Some("0-9"),
        'w' => Some("A-Za-z0-9_"),
        's' => Some(ASCII_SPACE),
        _ => None,
    }
}

/// Translates an escape sequence starting after `\`; returns the regex-crate text.
fn escape(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    in_class: bool,
) -> Result<String, String> {
    let c = chars
        .next()
        .ok_or_else(|| "a regex cannot end with a lone backslash".to_string())?;
    if let Some(body) = class_body(c) {
        return Ok(if in_class {
            body.to_string()
        } else {
            format!("[{body}]")
        });
    }
    if let Some(body) = class_body(c.to_ascii_lowercase()) {
        // \D \W \S
        return Ok(format!("[^{body}]"));
    }
    match c {
        'x' => {
            let hex: String = (0..2).filter_map(|_| chars.next()).collect();
            if hex.len() != 2 || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                return Err(format!(
                    "\\x must be followed by two hex digits, found \\x{hex}"
                ));
            }
            let v = u8::from_str_radix(&hex, 16).unwrap_or(0);
            if v > 0x7f {
                return Err(format!("\\x{hex} is not an ASCII character"));
            }
            Ok(format!("\\x{hex}"))
        }
        c if OPERATORS.contains(c) || c == '%' => Ok(regex::escape(&c.to_string())),
        c => Err(format!("unsupported escape \\{c} in regex")),
    }
}

fn reject(c: char) -> String {
    if c == '(' || c == ')' {
        format!("parentheses are not supported in CloudWatch regular expressions (match a literal '{c}' with \\x{:02X})", c as u32)
    } else if c.is_ascii() {
        format!("character '{c}' is not allowed in a CloudWatch regular expression (write it as \\x{:02X})", c as u32)
    } else {
        format!("non-ASCII character '{c}' is not supported in CloudWatch regular expressions")
    }
}

fn translate(src: &str) -> Result<String, String> {
    if src.is_empty() {
        return Err("empty regular expression %%".into());
    }
    let mut out = String::with_capacity(src.len() + 8);
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str(&escape(&mut chars, false)?),
            '^' | '$' | '.' | '*' | '+' | '?' | '|' => out.push(c),
            '{' => {
                let mut body = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(d) if d.is_ascii_digit() || d == ',' => body.push(d),
                        Some(d) => {
                            return Err(format!("unexpected '{d}' inside a {{m,n}} repetition"))
                        }
                        None => return Err("unclosed '{' in regex".into()),
                    }
                }
                let (lo, hi) = match body.split_once(',') {
                    Some((lo, hi)) => (lo, Some(hi)),
                    None => (body.as_str(), None),
                };
                if (lo.is_empty() && hi.is_none_or(str::is_empty))
                    || hi.is_some_and(|h| h.contains(','))
                {
                    return Err(format!("invalid repetition {{{body}}}"));
                }
                let lo = if lo.is_empty() { "0" } else { lo };
                match hi {
                    None => out.push_str(&format!("{{{lo}}}")),
                    Some(hi) => out.push_str(&format!("{{{lo},{hi}}}")),
                }
            }
            '[' => {
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                let mut empty = true;
                loop {
                    match chars.next() {
                        None => return Err("unclosed '[' in regex".into()),
                        Some(']') if !empty => break,
                        Some('\\') => out.push_str(&escape(&mut chars, true)?),
                        Some('-') => out.push('-'),
                        Some(c) if is_plain(c) || "^$.*+?{}|".contains(c) => {
                            if c == ' ' || c.is_ascii_alphanumeric() {
                                out.push(c)
                            } else {
                                out.push('\\');
                                out.push(c)
                            }
                        }
                        Some(c) => return Err(reject(c)),
                    }
                    empty = false;
                }
                out.push(']');
            }
            c if is_plain(c) => out.push_str(&regex::escape(&c.to_string())),
            c => return Err(reject(c)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(re: &str, text: &str) -> bool {
        CwRegex::new(re).unwrap().is_match(text)
    }

    #[test]
    fn reference_examples() {
        assert!(m(r"user=[a-z]+\d{2,}", "login user=bob42 ok"));
        assert!(!m(r"user=[a-z]+\d{2,}", "login user=Bob42"));
        assert!(m(r"^\[WARN\]", "[WARN] low memory"));
        assert!(!m(r"^\[WARN\]", "boot [WARN] x"));
        assert!(m("AUTHORIZED", "UNAUTHORIZED REQUEST"));
        assert!(m(r"\x28", "f(x)"));
        assert!(m(r"\x3A", "a:b"));
        assert!(m(r"done\x21", "done!"));
        assert!(m(r"10\.10\.0\.1", "ip 10.10.0.1"));
        assert!(!m(r"10\.10\.0\.1", "ip 10x10x0x1"));
    }

    #[test]
    fn alternation_without_groups_splits_whole_sides() {
        assert!(m("gra|ey", "grab"));
        assert!(m("gra|ey", "hey"));
        assert!(!m("gra|ey", "gry"));
        assert!(m("err|fail", "it failed"));
    }

    #[test]
    fn classes_are_ascii() {
        assert!(m(r"^\d+$", "0123"));
        assert!(!m(r"^\d+$", "٣")); // Arabic-Indic digit is not \d in CloudWatch
        assert!(m(r"^\w+$", "a_Z9"));
        assert!(!m(r"^\w+$", "é"));
        assert!(m(r"a\sb", "a\tb"));
        assert!(m(r"^\S+$", "abc"));
        assert!(m(r"^[^a-c]$", "d"));
        assert!(!m(r"^[^a-c]$", "b"));
        assert!(m(r"^[\d_]+$", "1_2"));
    }

    #[test]
    fn repetitions() {
        assert!(m(r"^a{2}$", "aa"));
        assert!(!m(r"^a{2}$", "aaa"));
        assert!(m(r"^a{,2}$", ""));
        assert!(m(r"^a{1,}$", "aaaa"));
        assert!(m(r"^ab?c*d+.$", "acddx"));
    }

    #[test]
    fn invalid_regexes_are_rejected_with_reason() {
        for (re, needle) in [
            ("(err|fail)", "parentheses"),
            ("done!", "'!'"),
            ("caf\u{e9}", "non-ASCII"),
            ("a\\q", "unsupported escape"),
            ("a\\x4", "two hex digits"),
            ("[abc", "unclosed"),
            ("a{2", "unclosed"),
            ("*a", "invalid regular expression"),
            ("", "empty"),
        ] {
            let err = CwRegex::new(re).unwrap_err();
            assert!(err.contains(needle), "{re}: {err}");
        }
    }
}
