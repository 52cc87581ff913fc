//! Routing: which sinks an alert goes to, decided once when it is raised — the sinks its rule
//! names (every sink when it names none), less those whose `min_severity` it does not reach.
//! Built once from the rules and the sinks; the outbox keeps the answer.

use std::collections::HashMap;

use crate::severity::Severity;

/// Where each rule's alerts go.
#[derive(Debug, Clone, Default)]
pub struct Router {
    /// Every sink, in configuration order.
    all: Vec<String>,
    /// The rules that name their sinks.
    named: HashMap<String, Vec<String>>,
    /// Each sink's `min_severity`.
    floors: HashMap<String, Severity>,
}

impl Router {
    /// `sinks`: every sink with its floor; `rules`: each rule that names its sinks.
    pub fn new(
        sinks: impl IntoIterator<Item = (String, Severity)>,
        rules: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> Router {
        let sinks: Vec<(String, Severity)> = sinks.into_iter().collect();
        Router {
            all: sinks.iter().map(|(n, _)| n.clone()).collect(),
            floors: sinks.into_iter().collect(),
            named: rules.into_iter().collect(),
        }
    }

    /// Every sink: where alerts of trailwatch itself go.
    pub fn all(&self) -> &[String] {
        &self.all
    }

    /// The sinks an alert of `rule` at `severity` goes to. Empty: it has nowhere to go.
    pub fn route(&self, rule: &str, severity: Severity) -> Vec<String> {
        let mut sinks = self.named.get(rule).unwrap_or(&self.all).clone();
        sinks.retain(|s| self.floors.get(s).is_none_or(|f| severity >= *f));
        sinks
    }
}

impl Router {
    /// Where one event's alert goes when it stands for several rules: every sink any of them
    /// goes to, in configuration order.
    pub fn route_all(&self, parts: &[&crate::alert::Alert]) -> Vec<String> {
        let wanted: Vec<Vec<String>> = parts
            .iter()
            .map(|a| self.route(&a.rule, a.severity))
            .collect();
        self.all
            .iter()
            .filter(|s| wanted.iter().any(|w| w.contains(s)))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_goes_to_its_sinks_at_or_above_their_floor() {
        let r = Router::new(
            [
                ("chat".to_string(), Severity::Info),
                ("pager".to_string(), Severity::Critical),
            ],
            [("quiet".to_string(), vec!["chat".to_string()])],
        );
        assert_eq!(r.route("any", Severity::High), ["chat"]);
        assert_eq!(r.route("any", Severity::Critical), ["chat", "pager"]);
        assert_eq!(r.route("quiet", Severity::Critical), ["chat"]);
        assert!(Router::new([], [])
            .route("any", Severity::Critical)
            .is_empty());
    }
}
