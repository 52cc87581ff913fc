//! Necessary literal conditions: what text must occur in a message for a pattern to be able to
//! match. The rule set's prefilter uses them to skip records without parsing them.
//!
//! A [`Requirement`] is a conjunction of clauses; a clause is a disjunction of literals. An empty
//! requirement means "anything may match". Requirements are only ever weakened (clauses
//! dropped), never strengthened, so a prefilter built from them cannot change a verdict.

/// How a literal appears in the raw message text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encoding {
    /// Occurs byte for byte (term patterns, JSON tokens such as `true`).
    Raw,
    /// Occurs inside a JSON string: a `\uXXXX` (or `\/`) escape may hide it.
    JsonString,
    /// Occurs inside a JSON string in any ASCII letter case (Sigma's values): an ASCII text.
    JsonStringFolded,
}

/// One literal that may witness a clause.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Literal {
    pub text: String,
    pub encoding: Encoding,
}

/// At least one of these literals occurs in every matching message.
pub type Clause = Vec<Literal>;

/// Every clause holds in every matching message. Empty: no constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    pub clauses: Vec<Clause>,
}

/// Shorter literals occur everywhere and only slow the prefilter down.
const MIN_LITERAL_LEN: usize = 3;
/// A longer literal is kept as its first bytes: what contains it contains them (weaker, so
/// still sound), and an automaton over a 40,000-byte literal takes a minute to build.
const MAX_LITERAL_LEN: usize = 128;

impl Requirement {
    /// No constraint.
    pub fn none() -> Self {
        Requirement::default()
    }

    /// A single literal that must occur, or no constraint when it cannot be used.
    pub fn literal(text: &str, encoding: Encoding) -> Self {
        Self::any_of(std::iter::once((text.to_string(), encoding)))
    }

    /// One clause: at least one of the literals occurs. Unusable literals void the clause.
    pub fn any_of(lits: impl IntoIterator<Item = (String, Encoding)>) -> Self {
        let mut clause = Vec::new();
        for (mut text, encoding) in lits {
            if !usable(&text, &encoding) {
                return Requirement::none();
            }
            text.truncate(text.floor_char_boundary(MAX_LITERAL_LEN));
            clause.push(Literal { text, encoding });
        }
        if clause.is_empty() {
            return Requirement::none();
        }
        clause.sort();
        clause.dedup();
        Requirement {
            clauses: vec![clause],
        }
    }

    /// Both hold.
    pub fn and(self, other: Requirement) -> Self {
        Self::all([self, other])
    }

    /// Either holds: one clause made of each side's best clause.
    pub fn or(self, other: Requirement) -> Self {
        Self::either([self, other])
    }

    /// Every one holds: their clauses, each once. Linear in their size (a rule may join tens
    /// of thousands).
    pub fn all(rs: impl IntoIterator<Item = Requirement>) -> Self {
        let mut seen = std::collections::HashSet::new();
        let mut clauses = Vec::new();
        for r in rs {
            for c in r.clauses {
                if seen.insert(c.clone()) {
                    clauses.push(c);
                }
            }
        }
        Requirement { clauses }
    }

    /// At least one holds: one clause made of each one's best clause (nothing required when
    /// one of them requires nothing, or there are none). Sorted once, whatever their number.
    pub fn either(rs: impl IntoIterator<Item = Requirement>) -> Self {
        let mut c: Clause = Vec::new();
        for r in rs {
            match r.best() {
                Some(b) => c.extend(b.iter().cloned()),
                None => return Requirement::none(),
            }
        }
        if c.is_empty() {
            return Requirement::none();
        }
        c.sort();
        c.dedup();
        Requirement { clauses: vec![c] }
    }

    /// True when nothing is required.
    pub fn is_none(&self) -> bool {
        self.clauses.is_empty()
    }

    /// The clause most likely to rule a record out: few literals, none of them the
    /// ubiquitous `*.amazonaws.com` service names or JSON's `true`, `false` and `null` (every
    /// record holds them), long literals first.
    pub fn best(&self) -> Option<&Clause> {
        self.clauses.iter().min_by_key(|c| {
            let common = c.iter().filter(|l| l.is_common()).count();
            let shortest = c.iter().map(|l| l.text.len()).min().unwrap_or(0);
            (common, c.len(), usize::MAX - shortest)
        })
    }
}

impl Literal {
    /// True for a literal nearly every CloudTrail record holds.
    fn is_common(&self) -> bool {
        self.text.ends_with(".amazonaws.com")
            || (self.encoding == Encoding::Raw
                && matches!(self.text.as_str(), "true" | "false" | "null"))
    }
}

/// What every value a regular expression (`regex` crate syntax, flags inline) finds in holds:
/// one of its literal prefixes, and one of its suffixes, as regex-syntax extracts them (either
/// clause dropped when it has no usable literal). Where it lists a text's case variants
/// (`(?i)`), its ASCII ones are one literal searched ignoring case (weaker than the variants,
/// so still sound). A literal made only of a number's characters is not used: a number's text
/// in the record (`1e2`) may differ from the text the expression is tested against (`100`);
/// nor is one with JSON's punctuation (`may_span_members`).
pub fn of_regex(src: &str) -> Requirement {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let Ok(hir) = regex_syntax::Parser::new().parse(src) else {
        return Requirement::none();
    };
    let numeric = |t: &str| t.chars().all(|c| c.is_ascii_digit() || ".eE+-".contains(c));
    let unusable = |t: &str| numeric(t) || may_span_members(t);
    let found = |kind: ExtractKind| -> Requirement {
        let mut seq = Extractor::new().kind(kind.clone()).extract(&hir);
        match kind {
            ExtractKind::Prefix => seq.optimize_for_prefix_by_preference(),
            _ => seq.optimize_for_suffix_by_preference(),
        }
        let Some(lits) = seq.literals() else {
            return Requirement::none();
        };
        let mut texts = Vec::new();
        for l in lits {
            match std::str::from_utf8(l.as_bytes()) {
                Ok(t) if !unusable(t) => texts.push(t),
                _ => return Requirement::none(),
            }
        }
        // Case variants of one text (`(?i)`) are one literal searched ignoring case.
        let folded: std::collections::HashSet<String> =
            texts.iter().map(|t| t.to_ascii_lowercase()).collect();
        let fold = folded.len() < texts.len();
        Requirement::any_of(texts.into_iter().map(|t| match fold && t.is_ascii() {
            true => (t.to_ascii_lowercase(), Encoding::JsonStringFolded),
            false => (t.to_string(), Encoding::JsonString),
        }))
    };
    Requirement::all([found(ExtractKind::Prefix), found(ExtractKind::Suffix)])
}

/// True when a literal may only occur in a value's text across JSON's punctuation (`,`, `:`,
/// brackets): Sigma tests an object's value as its compact JSON, which need not be the text
/// the record holds (`[1, 2]` is tested as `[1,2]`).
pub fn may_span_members(text: &str) -> bool {
    text.contains([',', ':', '[', ']', '{', '}'])
}

/// A literal is usable when it is long enough and would appear unescaped in JSON text.
fn usable(text: &str, encoding: &Encoding) -> bool {
    text.len() >= MIN_LITERAL_LEN
        && match encoding {
            Encoding::Raw => true,
            Encoding::JsonString => !text
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control()),
            Encoding::JsonStringFolded => {
                text.is_ascii()
                    && !text
                        .chars()
                        .any(|c| c == '"' || c == '\\' || c.is_control())
            }
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Requirement {
        Requirement::literal(s, Encoding::JsonString)
    }

    #[test]
    fn and_keeps_both_or_unions_best() {
        let r = lit("Root").and(lit("ConsoleLogin"));
        assert_eq!(r.clauses.len(), 2);
        let o = lit("CreateUser").or(lit("DeleteUser"));
        assert_eq!(o.clauses.len(), 1);
        assert_eq!(o.clauses[0].len(), 2);
        assert!(lit("CreateUser").or(Requirement::none()).is_none());
    }

    #[test]
    fn unusable_literals_are_dropped() {
        assert!(lit("ab").is_none());
        assert!(lit("a\"bc").is_none());
        assert!(Requirement::literal("ab\"c", Encoding::Raw).clauses.len() == 1);
    }

    #[test]
    fn joining_many_at_once_is_the_same_as_one_by_one() {
        // (bench/sigma-load.py times it: linear in the number of values.)
        let many: Vec<Requirement> = (0..40_000).map(|i| lit(&format!("value{i:06}"))).collect();
        let either = Requirement::either(many.clone());
        let all = Requirement::all(many.clone());
        assert_eq!(either.clauses.len(), 1);
        assert_eq!(either.clauses[0].len(), 40_000);
        assert_eq!(all.clauses.len(), 40_000);
        let pairwise = many[..50].iter().cloned().reduce(Requirement::or).unwrap();
        assert_eq!(Requirement::either(many[..50].to_vec()), pairwise);
        assert!(Requirement::either(vec![lit("Root"), Requirement::none()]).is_none());
        assert!(Requirement::either(Vec::new()).is_none());
        assert_eq!(
            Requirement::all(vec![lit("Root"), lit("Root")])
                .clauses
                .len(),
            1
        );
    }

    #[test]
    fn a_long_literal_is_kept_as_its_first_bytes() {
        let long = "가".repeat(1000);
        let r = lit(&long);
        let kept = &r.clauses[0][0].text;
        assert!(
            kept.len() <= MAX_LITERAL_LEN && long.starts_with(kept.as_str()),
            "{kept}"
        );
    }

    #[test]
    fn best_avoids_service_names() {
        let r = lit("iam.amazonaws.com").and(lit("CreateUser").or(lit("DeleteUser")));
        assert_eq!(r.best().unwrap()[0].text, "CreateUser");
    }

    #[test]
    fn best_avoids_json_keywords() {
        // Every record holds `true` (readOnly, managementEvent): one such clause made a rule's
        // best clause match every record.
        let keyword = Requirement::literal("true", Encoding::Raw);
        let r = keyword.and(lit("GetParameter").or(lit("GetParametersByPath")));
        assert_eq!(r.best().unwrap()[0].text, "GetParameter");
    }

    fn texts(r: &Requirement) -> Vec<Vec<(&str, &Encoding)>> {
        let c = r.clauses.iter();
        c.map(|c| c.iter().map(|l| (l.text.as_str(), &l.encoding)).collect())
            .collect()
    }

    #[test]
    fn a_regular_expression_requires_its_literals() {
        use Encoding::{JsonString, JsonStringFolded as Folded};
        // ASCII case variants become one literal searched ignoring case; the variants with a
        // Kelvin sign (Unicode folds `k` to it) stay as they are.
        let kali = of_regex("(?i)kali|parrot");
        let (ascii, other): (Vec<_>, Vec<_>) =
            kali.clauses[0].iter().partition(|l| l.text.is_ascii());
        let ascii: Vec<_> = ascii
            .iter()
            .map(|l| (l.text.as_str(), &l.encoding))
            .collect();
        assert_eq!(ascii, [("kali", &Folded), ("parr", &Folded)]);
        assert!(other
            .iter()
            .all(|l| l.text.starts_with('\u{212A}') && l.encoding == JsonString));
        assert_eq!(
            texts(&of_regex("^aws-cli/[0-9]+")),
            [[("aws-cli/", &JsonString)]]
        );
        // A suffix when the prefix is not usable, and both when both are.
        assert_eq!(texts(&of_regex(".*Secret$")), [[("Secret", &JsonString)]]);
        assert_eq!(
            texts(&of_regex("^AKIA[A-Z0-9]+EXAMPLE$")),
            [[("AKIA", &JsonString)], [("EXAMPLE", &JsonString)]]
        );
        assert_eq!(texts(&of_regex("passé")), [[("passé", &JsonString)]]);
        for none in [
            "a.*b",
            ".*",
            "x?",
            "[a-z]+",
            "(",
            "12[0-9]",
            "1e2|3e4",
            "true,false",
        ] {
            assert!(of_regex(none).is_none(), "{none}");
        }
        // Every value the expression finds holds its literals, ignoring case.
        let r = regex::Regex::new("(?i)ka(li|ll)|parrot").unwrap();
        let req = of_regex(r.as_str());
        for v in [
            "Kali Linux",
            "xxKALL",
            "PARROT os",
            "\u{212A}ali",
            "kal",
            "parot",
        ] {
            let hit = req.clauses.iter().all(|c| {
                c.iter().any(|l| match l.encoding {
                    Folded => v.to_ascii_lowercase().contains(&l.text),
                    _ => v.contains(&l.text),
                })
            });
            assert_eq!(r.is_match(v), hit, "{v}");
        }
    }
}
