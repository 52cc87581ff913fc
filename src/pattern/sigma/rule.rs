//! A Sigma rule read from its YAML (`SigmaRule::parse`: the document, its `logsource`, its
//! searches and its condition) and judged as a whole: the condition over the searches' verdicts
//! (`is_match`), what every matching record's text must contain (`requirement`, for the
//! prefilter), and the values a member is pinned to (`pinned_strings`, for pushdown).

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::condition::{self, Expr};
use super::error::{err, shorten, SigmaError};
use super::search::{or_all, search, union, Search};
use crate::pattern::literals::Requirement;
use crate::pattern::reads::Reads;

/// The levels the specification names.
const LEVELS: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

/// A Sigma rule, compiled.
#[derive(Debug, Clone)]
pub struct SigmaRule {
    pub title: String,
    pub id: Option<String>,
    pub description: Option<String>,
    /// informational, low, medium, high, critical.
    pub level: Option<String>,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub falsepositives: Vec<String>,
    pub references: Vec<String>,
    searches: BTreeMap<String, Search>,
    condition: Expr,
    /// The YAML as written.
    source: String,
}

impl SigmaRule {
    /// Reads a rule from its YAML. The errors name what is wrong and where (never repeating
    /// more of the rule than a reader needs).
    pub fn parse(yaml: &str) -> Result<SigmaRule, SigmaError> {
        Self::read(yaml).map_err(|e| SigmaError(shorten(&e.0)))
    }

    fn read(yaml: &str) -> Result<SigmaRule, SigmaError> {
        let doc: Json =
            yaml_serde::from_str(yaml).map_err(|e| SigmaError(format!("not a Sigma rule: {e}")))?;
        let Json::Object(top) = &doc else {
            return err("not a Sigma rule: the document is not a map");
        };
        if top.contains_key("correlation") || top.get("type").is_some() {
            return err("correlation and filter documents are not rules trailwatch runs");
        }
        check_logsource(top.get("logsource"))?;
        let title = top
            .get("title")
            .and_then(Json::as_str)
            .ok_or_else(|| SigmaError("a Sigma rule needs a title".into()))?
            .to_string();
        let Some(Json::Object(det)) = top.get("detection") else {
            return err("a Sigma rule needs a detection map");
        };
        let mut searches = BTreeMap::new();
        for (name, def) in det {
            if name == "condition" || name == "timeframe" {
                continue;
            }
            let s = search(def).map_err(|e| SigmaError(format!("detection `{name}`: {}", e.0)))?;
            searches.insert(name.clone(), s);
        }
        let names: Vec<String> = searches.keys().cloned().collect();
        let condition = match det.get("condition") {
            Some(Json::String(c)) => condition::parse(c, &names),
            Some(Json::Array(cs)) => cs
                .iter()
                .map(|c| match c {
                    Json::String(c) => condition::parse(c, &names),
                    _ => Err("a condition is text".to_string()),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Expr::Or),
            _ => Err("the detection needs a condition".to_string()),
        }
        .map_err(SigmaError)?;
        let strings = |k: &str| -> Vec<String> {
            match top.get(k) {
                Some(Json::Array(a)) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                Some(Json::String(s)) => vec![s.clone()],
                _ => Vec::new(),
            }
        };
        let text = |k: &str| top.get(k).and_then(Json::as_str).map(str::to_string);
        let level = text("level");
        if let Some(l) = level.as_deref().filter(|l| !LEVELS.contains(l)) {
            return err(format!("level `{l}`: say {}", LEVELS.join(", ")));
        }
        Ok(SigmaRule {
            title,
            id: text("id"),
            description: text("description"),
            level,
            status: text("status"),
            tags: strings("tags"),
            falsepositives: strings("falsepositives"),
            references: strings("references"),
            searches,
            condition,
            source: yaml.to_string(),
        })
    }

    /// The YAML as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The rule's verdict on a CloudTrail record.
    pub fn is_match(&self, record: &Json) -> bool {
        self.eval(&self.condition, record)
    }

    fn eval(&self, e: &Expr, r: &Json) -> bool {
        match e {
            Expr::Search(n) => self.searches.get(n).is_some_and(|s| s.holds(r)),
            Expr::And(v) => v.iter().all(|x| self.eval(x, r)),
            Expr::Or(v) => v.iter().any(|x| self.eval(x, r)),
            Expr::Not(x) => !self.eval(x, r),
            Expr::Of(n, names) => {
                names
                    .iter()
                    .filter(|x| self.searches.get(*x).is_some_and(|s| s.holds(r)))
                    .take(*n)
                    .count()
                    >= *n
            }
        }
    }

    /// ATT&CK techniques of its tags (`attack.t1078.004` → `T1078.004`).
    pub fn techniques(&self) -> Vec<String> {
        self.tags
            .iter()
            .filter_map(|t| t.strip_prefix("attack.t"))
            .map(|t| format!("T{}", t.to_uppercase()))
            .collect()
    }

    /// The top-level members of a record the rule reads (every search's, named in its
    /// condition or not).
    pub fn reads(&self) -> Reads {
        Reads::all(self.searches.values().map(Search::reads))
    }

    /// Literals every matching record's text contains (for the prefilter).
    pub fn requirement(&self) -> Requirement {
        self.need(&self.condition)
    }

    fn need(&self, e: &Expr) -> Requirement {
        let of = |n: &String| {
            self.searches
                .get(n)
                .map_or(Requirement::none(), Search::need)
        };
        match e {
            Expr::Search(n) => of(n),
            Expr::And(v) => Requirement::all(v.iter().map(|x| self.need(x))),
            Expr::Or(v) => or_all(v.iter().map(|x| self.need(x))),
            Expr::Not(_) => Requirement::none(),
            Expr::Of(n, names) if *n == names.len() => Requirement::all(names.iter().map(of)),
            Expr::Of(_, names) => or_all(names.iter().map(of)),
        }
    }

    /// The exact strings the member at `path` must equal (ignoring case) for a record to match,
    /// when the rule pins it to a finite set (for pushdown); `None` otherwise.
    pub fn pinned_strings(&self, path: &[&str]) -> Option<Vec<String>> {
        self.pinned(&self.condition, path)
    }

    fn pinned(&self, e: &Expr, path: &[&str]) -> Option<Vec<String>> {
        let of = |n: &String| self.searches.get(n).and_then(|s| s.pinned(path));
        match e {
            Expr::Search(n) => of(n),
            Expr::And(v) => v.iter().find_map(|x| self.pinned(x, path)),
            Expr::Or(v) => union(v.iter().map(|x| self.pinned(x, path))),
            Expr::Not(_) => None,
            Expr::Of(n, names) if *n == names.len() => names.iter().find_map(of),
            Expr::Of(_, names) => union(names.iter().map(of)),
        }
    }
}

/// `logsource` must say AWS CloudTrail.
fn check_logsource(ls: Option<&Json>) -> Result<(), SigmaError> {
    let get = |k: &str| {
        ls.and_then(|l| l.get(k))
            .and_then(Json::as_str)
            .map(str::to_lowercase)
    };
    match (get("product").as_deref(), get("service").as_deref()) {
        (Some("aws"), Some("cloudtrail")) => Ok(()),
        (p, s) => err(format!(
            "logsource is product {}, service {}: trailwatch reads AWS CloudTrail (product: aws, service: cloudtrail)",
            p.unwrap_or("(none)"),
            s.unwrap_or("(none)")
        )),
    }
}
