//! A Sigma condition: search identifiers joined by `and`, `or`, `not`, parentheses, and
//! `1 of` / `any of` / `all of` / `N of` a pattern of identifiers (`selection*`) or `them` (every
//! identifier not starting with `_`). Precedence, loosest first: or, and, not, x of, brackets.

use super::value::Wild;

/// How deep brackets and `not`s may nest (the parser recurses; a rule 20,000 brackets deep
/// must be refused, not overflow the stack).
pub(super) const MAX_DEPTH: usize = 64;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Search(String),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// At least `n` of the searches (`n` = their number for `all of`).
    Of(usize, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Pipe,
}

fn tokens(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    let end = |word: &mut String, out: &mut Vec<Tok>| {
        if !word.is_empty() {
            out.push(Tok::Word(std::mem::take(word)));
        }
    };
    for c in s.chars() {
        match c {
            '(' | ')' | '|' => {
                end(&mut word, &mut out);
                out.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    _ => Tok::Pipe,
                });
            }
            c if c.is_whitespace() => end(&mut word, &mut out),
            c => word.push(c),
        }
    }
    end(&mut word, &mut out);
    out
}

/// Parses `s` against the rule's search identifiers.
pub(super) fn parse(s: &str, names: &[String]) -> Result<Expr, String> {
    let toks = tokens(s);
    if toks.contains(&Tok::Pipe) {
        return Err(format!("condition '{s}': aggregations (`| count() …`) are not supported: put a threshold on the rule entry instead"));
    }
    let mut p = Parser {
        toks,
        at: 0,
        names,
        depth: 0,
    };
    let e = p.or()?;
    match p.toks.get(p.at) {
        None => Ok(e),
        Some(t) => Err(format!(
            "condition '{s}': unexpected {t:?} at word {}",
            p.at + 1
        )),
    }
}

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    names: &'a [String],
    /// Brackets and `not`s open around the word being read.
    depth: usize,
}

impl Parser<'_> {
    fn word(&self) -> Option<&str> {
        match self.toks.get(self.at) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    /// One level deeper, refused past `MAX_DEPTH`.
    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "brackets and `not`s nest deeper than {MAX_DEPTH} (at word {}): write the condition flatter",
                self.at + 1
            ));
        }
        Ok(())
    }

    fn keyword(&self, k: &str) -> bool {
        self.word().is_some_and(|w| w.eq_ignore_ascii_case(k))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.not()?];
        while self.keyword("and") {
            self.at += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.at += 1;
            self.deeper()?;
            let e = Expr::Not(Box::new(self.not()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.toks.get(self.at).cloned() {
            Some(Tok::Open) => {
                self.at += 1;
                self.deeper()?;
                let e = self.or()?;
                self.depth -= 1;
                if self.toks.get(self.at) != Some(&Tok::Close) {
                    return Err("a `(` without its `)`".into());
                }
                self.at += 1;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                self.at += 1;
                let next_is_of = self.keyword("of");
                if next_is_of {
                    self.at += 1;
                    return self.of(&w);
                }
                if ["and", "or", "not", "of", "them"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
                {
                    return Err(format!("`{w}` where a search identifier was expected"));
                }
                if !self.names.contains(&w) {
                    return Err(format!("the condition names `{w}`, which is not a search identifier of the detection"));
                }
                Ok(Expr::Search(w))
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("the condition ends too early".into()),
        }
    }

    /// `QUANT of PATTERN` after its `of`.
    fn of(&mut self, quant: &str) -> Result<Expr, String> {
        let Some(target) = self.word().map(str::to_string) else {
            return Err(format!("`{quant} of` needs a pattern or `them`"));
        };
        self.at += 1;
        let chosen: Vec<String> = if target.eq_ignore_ascii_case("them") {
            self.names
                .iter()
                .filter(|n| !n.starts_with('_'))
                .cloned()
                .collect()
        } else {
            self.names
                .iter()
                .filter(|n| Wild::parse(&target, true).matches(n))
                .cloned()
                .collect()
        };
        if chosen.is_empty() {
            return Err(format!("`{quant} of {target}` names no search identifier"));
        }
        let n = match quant.to_ascii_lowercase().as_str() {
            "all" => chosen.len(),
            "any" => 1,
            q => q
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("`{quant} of`: say 1, any, all or a number"))?,
        };
        Ok(Expr::Of(n, chosen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["selection", "selection_b", "filter", "_hidden"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn a_condition_nested_too_deep_is_refused_not_overflowing() {
        let nested = |n: usize| format!("{}selection{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(
            parse(&nested(MAX_DEPTH), &names()),
            Ok(Expr::Search("selection".into()))
        );
        for n in [MAX_DEPTH + 1, 20_000] {
            let e = parse(&nested(n), &names()).unwrap_err();
            assert!(e.contains("nest deeper than 64"), "{e}");
        }
        let nots = format!("{}selection", "not ".repeat(20_000));
        assert!(parse(&nots, &names()).unwrap_err().contains("nest deeper"));
        // Depth is what is open at once, not how many brackets there are.
        let wide = vec!["(selection)"; 5_000].join(" or ");
        assert!(parse(&wide, &names()).is_ok());
    }

    #[test]
    fn precedence_and_quantifiers() {
        let e = parse("selection and not filter or selection_b", &names()).unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![
                Expr::And(vec![
                    Expr::Search("selection".into()),
                    Expr::Not(Box::new(Expr::Search("filter".into())))
                ]),
                Expr::Search("selection_b".into())
            ])
        );
        assert_eq!(
            parse("1 of selection*", &names()).unwrap(),
            Expr::Of(1, vec!["selection".into(), "selection_b".into()])
        );
        assert_eq!(
            parse("all of them", &names()).unwrap(),
            Expr::Of(
                3,
                vec!["selection".into(), "selection_b".into(), "filter".into()]
            ),
            "them leaves out identifiers starting with _"
        );
        assert!(parse("selection and (filter or _hidden)", &names()).is_ok());
        for bad in [
            "selection and",
            "nope",
            "1 of nope*",
            "selection | count() > 5",
            "(selection",
            "selection filter",
        ] {
            assert!(parse(bad, &names()).is_err(), "{bad}");
        }
    }
}
