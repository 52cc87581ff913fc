//! The built-in rule packs, written in the same TOML form as users' `[[rules]]`.

/// `(name, TOML text)` of every built-in pack.
pub(crate) const PACKS: &[(&str, &str)] = &[
    ("default", include_str!("packs/default.toml")),
    ("cis", include_str!("packs/cis.toml")),
    ("threats", include_str!("packs/threats.toml")),
];

/// A built-in pack's TOML text, by name.
pub(crate) fn pack(name: &str) -> Option<&'static str> {
    PACKS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The names of the built-in packs, for messages.
pub(crate) fn names() -> String {
    PACKS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::Language;
    use crate::rules::{attack, testing, RuleSet};

    fn rules_of(name: &str) -> RuleSet {
        let mut set = RuleSet::default();
        set.add_spec(name).unwrap();
        set
    }

    #[test]
    fn every_built_in_rule_has_a_match_and_a_near_miss_and_passes() {
        for (pack, _) in PACKS {
            let set = rules_of(pack);
            assert!(!set.all().is_empty(), "{pack}");
            for r in set.all() {
                let wants = |m: bool| r.tests.iter().filter(|t| t.matches == m).count();
                assert!(wants(true) >= 1, "{pack}/{}: no test it must match", r.name);
                assert!(wants(false) >= 1, "{pack}/{}: no near miss", r.name);
            }
            let failed: Vec<_> = testing::run_all(&set)
                .into_iter()
                .filter(|o| !o.passed)
                .collect();
            assert!(failed.is_empty(), "{pack}: {failed:?}");
        }
    }

    #[test]
    fn every_built_in_rule_is_described_in_both_languages_with_known_techniques() {
        for (pack, _) in PACKS {
            for r in rules_of(pack).all() {
                let n = &r.name;
                for (en, ko) in [
                    (r.subject_in(Language::En), r.subject_in(Language::Ko)),
                    (r.title_in(Language::En), r.title_in(Language::Ko)),
                ] {
                    assert!(!en.is_empty() && en != ko, "{n}: one language only: {en}");
                }
                assert!(!r.tags.is_empty(), "{n}: no ATT&CK technique");
                for t in &r.tags {
                    assert!(attack::name(t).is_some(), "{n}: unknown technique {t}");
                }
                if *pack != "cis" {
                    assert!(r.runbook.is_some() && r.runbook_ko.is_some(), "{n}");
                    assert!(r.does_not_cover.is_some(), "{n}: limits unsaid");
                }
            }
        }
    }

    #[test]
    fn the_threats_pack_has_at_least_thirty_detections() {
        assert!(rules_of("threats").all().len() >= 30);
    }
}
