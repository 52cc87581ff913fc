//! The `wildcard` operator: whole-string globs where `*` matches any run of characters,
//! `\*` is a literal star and `\\` a literal backslash.

/// A compiled glob: literal parts separated by stars.
#[derive(Debug, Clone, PartialEq)]
pub struct Glob {
    /// Literal runs; a star sits between each pair.
    parts: Vec<String>,
    leading_star: bool,
    trailing_star: bool,
}

impl Glob {
    /// Validates and compiles a glob, with event-ruler's error reasons.
    pub fn new(p: &str) -> Result<Glob, String> {
        let mut parts = vec![String::new()];
        let mut chars = p.chars().enumerate().peekable();
        let mut prev_star = false;
        let (mut leading_star, mut trailing_star) = (false, false);
        while let Some((i, c)) = chars.next() {
            match c {
                '*' => {
                    if prev_star {
                        return Err(format!("Consecutive wildcard characters at pos {i}"));
                    }
                    if i == 0 {
                        leading_star = true;
                    } else {
                        parts.push(String::new());
                    }
                    prev_star = true;
                    trailing_star = true;
                    continue;
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('*' | '\\'))) => parts.last_mut().unwrap().push(e),
                    _ => return Err(format!("Invalid escape character at pos {i}")),
                },
                c => parts.last_mut().unwrap().push(c),
            }
            prev_star = false;
            trailing_star = false;
        }
        if trailing_star && parts.len() > 1 && parts.last().is_some_and(String::is_empty) {
            parts.pop();
        }
        Ok(Glob {
            parts,
            leading_star,
            trailing_star,
        })
    }

    pub fn is_match(&self, s: &str) -> bool {
        let n = self.parts.len();
        let mut rest = s;
        for (i, part) in self.parts.iter().enumerate() {
            let first = i == 0 && !self.leading_star;
            let last = i == n - 1 && !self.trailing_star;
            if first && last {
                return rest == part;
            }
            if first {
                match rest.strip_prefix(part.as_str()) {
                    Some(r) => rest = r,
                    None => return false,
                }
            } else if last {
                return rest.len() >= part.len() && rest.ends_with(part.as_str());
            } else {
                match rest.find(part.as_str()) {
                    Some(at) => rest = &rest[at + part.len()..],
                    None => return false,
                }
            }
        }
        true
    }

    /// The longest literal run, which every matching value contains.
    pub fn longest_literal(&self) -> &str {
        self.parts
            .iter()
            .max_by_key(|p| p.len())
            .map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(p: &str, s: &str) -> bool {
        Glob::new(p).unwrap().is_match(s)
    }

    #[test]
    fn globs() {
        assert!(g("/var/*/app.log", "/var/log/x/app.log"));
        assert!(!g("/var/*/app.log", "/var/app.log"));
        assert!(g("50\\*OFF", "50*OFF"));
        assert!(!g("50\\*OFF", "50% OFF"));
        assert!(g("*", ""));
        assert!(g("a*", "a"));
        assert!(g("*a", "ba"));
        assert!(!g("*a", "ab"));
        assert!(g("a*b*c", "abc"));
        assert!(g("a*b*c", "aXbYbZc"));
        assert!(!g("a*b*c", "aXbYbZ"));
        assert!(g("*ab*ab", "abab"));
        assert!(!g("aa*aa", "aaa"));
        assert!(g("x\\\\y", "x\\y"));
        assert!(g("exact", "exact") && !g("exact", "exactly"));
        assert!(g("a?c", "a?c") && !g("a?c", "abc"), "? is literal");
        assert!(g("한*글", "한국어글"));
    }

    #[test]
    fn invalid_globs() {
        assert_eq!(
            Glob::new("a**b").unwrap_err(),
            "Consecutive wildcard characters at pos 2"
        );
        assert_eq!(
            Glob::new("a\\b").unwrap_err(),
            "Invalid escape character at pos 1"
        );
        assert!(Glob::new("a\\").is_err());
    }
}
