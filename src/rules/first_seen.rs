//! First-seen rules: a rule with `first_seen` alerts only on what is new for an account. Among
//! the records it matches, the values at its `fields` (record paths, `enrich.*` included: the
//! evaluator's view of the record, never a member the record carries) make a combination; the
//! rule alerts when that combination has not been seen within `window` (by eventTime), and
//! every sighting refreshes it. During `learn` from the first record the rule judges in an
//! account (by eventTime), sightings are recorded and nothing alerts. A missing field is
//! `(missing)`. The alert says why it is new, and what the same first value (the principal,
//! usually) was last seen with. A sighting refreshes its combination to the hour (a busy
//! principal's combination is written once an hour, not at every call).
//!
//! Pure logic; the store is the caller's (`Sightings`: memory for `scan`, the state for the
//! daemon, where a sighting is durable with the alerts of its batch).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::Value;

use super::rule::FirstSeen;
use super::RuleSet;
use crate::alert::{Alert, Kind, SeenKey};
use crate::enrich::Enricher;
use crate::state::Sighting;

/// What a combination with no value at a field holds there.
pub(crate) const MISSING: &str = "(missing)";
/// A combination's last sighting moves only when a sighting is this much later (ms).
const REFRESH_MS: i64 = 3_600_000;
/// The longest value of one field kept in a combination (a crafted record's long value is cut).
const MOST_BYTES: usize = 256;

/// Where sightings are kept.
pub(crate) trait Sightings {
    type Error;
    /// Since when rule `rule` judges account `account` (the first record's eventTime).
    fn learning_since(&mut self, rule: &str, account: &str) -> Result<Option<i64>, Self::Error>;
    fn set_learning_since(&mut self, rule: &str, account: &str, ms: i64)
        -> Result<(), Self::Error>;
    /// The sighting of a combination (borrowed from the store when it holds it: judging reads
    /// one per match, and most change nothing).
    fn get(
        &mut self,
        rule: &str,
        combo: &[String],
    ) -> Result<Option<Cow<'_, Sighting>>, Self::Error>;
    fn put(&mut self, rule: &str, combo: &[String], s: &Sighting) -> Result<(), Self::Error>;
    /// The combinations of `rule` whose first value is `first`, with their sightings.
    fn with_first(
        &mut self,
        rule: &str,
        first: &str,
    ) -> Result<Vec<(Vec<String>, Sighting)>, Self::Error>;
}

/// `rule`'s entry of a map by rule, made when missing (the name copied only then).
pub(crate) fn of_rule<'m, V: Default, S: std::hash::BuildHasher>(
    map: &'m mut HashMap<String, V, S>,
    rule: &str,
) -> &'m mut V {
    if !map.contains_key(rule) {
        map.insert(rule.to_string(), V::default());
    }
    map.get_mut(rule).expect("inserted above")
}

/// Sightings in memory (`scan`, `backfill` and `rules replay` without `--learn`), by rule,
/// then by a combination's first value (a principal, usually: its other combinations are what
/// a new one is said to differ from), then by the combination: looked up without copying one.
#[derive(Debug, Default)]
pub(crate) struct InMemory {
    learning: Fast<String, Fast<String, i64>>,
    seen: Fast<String, Fast<String, BTreeMap<Vec<String>, Sighting>>>,
}

/// A map with a fast hash (seeded at random, as the standard one): judging looks up a rule, an
/// account and a first value per match.
pub(crate) type Fast<K, V> = HashMap<K, V, hashbrown::DefaultHashBuilder>;

impl Sightings for InMemory {
    type Error = std::convert::Infallible;
    fn learning_since(&mut self, rule: &str, account: &str) -> Result<Option<i64>, Self::Error> {
        Ok(self
            .learning
            .get(rule)
            .and_then(|a| a.get(account))
            .copied())
    }
    fn set_learning_since(
        &mut self,
        rule: &str,
        account: &str,
        ms: i64,
    ) -> Result<(), Self::Error> {
        of_rule(&mut self.learning, rule).insert(account.to_string(), ms);
        Ok(())
    }
    fn get(
        &mut self,
        rule: &str,
        combo: &[String],
    ) -> Result<Option<Cow<'_, Sighting>>, Self::Error> {
        let first = combo.first().map_or("", String::as_str);
        Ok((self.seen.get(rule))
            .and_then(|f| f.get(first))
            .and_then(|c| c.get(combo))
            .map(Cow::Borrowed))
    }
    fn put(&mut self, rule: &str, combo: &[String], s: &Sighting) -> Result<(), Self::Error> {
        let first = combo.first().map_or("", String::as_str);
        let combos = of_rule(of_rule(&mut self.seen, rule), first);
        match combos.get_mut(combo) {
            Some(old) => *old = s.clone(),
            None => {
                combos.insert(combo.to_vec(), s.clone());
            }
        }
        Ok(())
    }
    fn with_first(
        &mut self,
        rule: &str,
        first: &str,
    ) -> Result<Vec<(Vec<String>, Sighting)>, Self::Error> {
        let combos = self.seen.get(rule).and_then(|f| f.get(first));
        Ok((combos.into_iter().flatten())
            .map(|(c, s)| (c.clone(), s.clone()))
            .collect())
    }
}

/// The text of the value at a dotted path (`(missing)` when absent or null), cut to a bound;
/// borrowed from the record when it can be (a string short enough).
fn value_in<'v>(v: &'v Value, path: &str) -> Cow<'v, str> {
    let mut cur = v;
    for p in path.split('.') {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return MISSING.into(),
        }
    }
    match cur {
        Value::String(s) if s.len() <= MOST_BYTES => Cow::Borrowed(s),
        Value::String(s) => crate::text::truncate(s, MOST_BYTES).into(),
        Value::Null => MISSING.into(),
        other => crate::text::truncate(&other.to_string(), MOST_BYTES).into(),
    }
}

/// The account a record is about.
fn account_of(v: &Value) -> Cow<'_, str> {
    ["recipientAccountId", "userIdentity.accountId"]
        .iter()
        .map(|p| value_in(v, p))
        .find(|a| a != MISSING)
        .unwrap_or_else(|| MISSING.into())
}

/// How first-seen rules' matches are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judging {
    /// New combinations alert (after learning).
    Alert,
    /// Every sighting is recorded and nothing alerts (`backfill --learn`).
    LearnOnly,
}

/// One match of a first-seen rule, read: its rule, its eventTime (ms) and what it judges.
pub(crate) struct Seen<'a> {
    pub rule: &'a str,
    pub fs: &'a FirstSeen,
    pub ms: i64,
    pub key: &'a SeenKey,
}

/// Judges the matches of first-seen rules, in eventTime order: each sighting is recorded, and
/// only the new ones (after learning) stay, saying why they are new; every other alert passes
/// as it is.
pub(crate) fn apply<S: Sightings>(
    rules: &RuleSet,
    alerts: Vec<Alert>,
    enricher: &Enricher,
    store: &mut S,
    judging: Judging,
) -> Result<Vec<Alert>, S::Error> {
    let mut found = Vec::new();
    let mut out: Vec<Option<Alert>> = Vec::with_capacity(alerts.len());
    for (i, mut a) in alerts.into_iter().enumerate() {
        let rule = rules.get(&a.rule);
        let first_seen = rule.and_then(|r| Some((r.name.as_str(), r.first_seen.as_ref()?)));
        if let Some((rule, fs)) = first_seen.filter(|_| a.kind == Kind::Match) {
            let key = match a.seen_key.take() {
                Some(k) => k,
                None => {
                    let mut v = crate::record::parse_value(&a.record).unwrap_or(Value::Null);
                    enricher.apply(&mut v, None);
                    key_of(fs, &v, enricher)
                }
            };
            found.push((i, rule, fs, crate::when::event_millis(&a.event_time), key));
        }
        out.push(Some(a));
    }
    let seen: Vec<Seen> = (found.iter())
        .map(|(_, rule, fs, ms, key)| Seen {
            rule,
            fs,
            ms: *ms,
            key,
        })
        .collect();
    let at = found.iter().map(|f| f.0);
    for (i, why) in at.zip(judge_all(&seen, store, judging)?) {
        match why {
            Some(why) => out[i].as_mut().expect("each alert is judged once").novelty = why,
            None => out[i] = None,
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// Judges first-seen matches in eventTime order (ties in the order given): each sighting is
/// recorded; for each match, in the order given, why it is new (`None` when it is not, while
/// its account learns, and for every match with `LearnOnly`).
pub(crate) fn judge_all<S: Sightings>(
    seen: &[Seen<'_>],
    store: &mut S,
    judging: Judging,
) -> Result<Vec<Option<String>>, S::Error> {
    let mut order: Vec<(i64, usize)> = seen.iter().enumerate().map(|(i, s)| (s.ms, i)).collect();
    order.sort();
    let mut why = vec![None; seen.len()];
    for (_, i) in order {
        why[i] = judge(&seen[i], store)?.filter(|_| judging == Judging::Alert);
    }
    Ok(why)
}

/// What a first-seen rule judges of a record as the rules see it (`enrich` computed, never
/// the record's own): its account, its combination, and its source's network in words when
/// the combination holds the network (what a new one is said to differ from).
pub(crate) fn key_of(fs: &FirstSeen, v: &Value, enricher: &Enricher) -> SeenKey {
    RecordKeys::new(v, enricher).view(fs).into_owned()
}

/// A [`SeenKey`] as read from a record, borrowing what it can: `scan` looks up, for each
/// match, a key it holds already (the same few principals and networks again and again).
pub(crate) struct KeyView<'v> {
    pub account: Cow<'v, str>,
    pub combo: Vec<Cow<'v, str>>,
    pub said: Cow<'v, str>,
}

impl<'v> KeyView<'v> {
    pub(crate) fn into_owned(self) -> SeenKey {
        SeenKey {
            account: self.account.into_owned(),
            combo: self.combo.into_iter().map(Cow::into_owned).collect(),
            said: self.said.into_owned(),
        }
    }

    /// True when `k` is this key.
    pub(crate) fn is(&self, k: &SeenKey) -> bool {
        self.account == k.account.as_str()
            && self.said == k.said.as_str()
            && self.combo.len() == k.combo.len()
            && self
                .combo
                .iter()
                .zip(&k.combo)
                .all(|(a, b)| a == b.as_str())
    }

    /// The key's hash: the same as `hash_key`'s of the `SeenKey` it is.
    pub(crate) fn hash_with(&self, b: &impl std::hash::BuildHasher) -> u64 {
        hash_parts(
            b,
            &self.account,
            self.combo.iter().map(|c| &**c),
            &self.said,
        )
    }
}

/// A [`SeenKey`]'s hash, as [`KeyView::hash_with`] makes it.
pub(crate) fn hash_key(b: &impl std::hash::BuildHasher, k: &SeenKey) -> u64 {
    hash_parts(b, &k.account, k.combo.iter().map(String::as_str), &k.said)
}

fn hash_parts<'a>(
    b: &impl std::hash::BuildHasher,
    account: &str,
    combo: impl ExactSizeIterator<Item = &'a str>,
    said: &str,
) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = b.build_hasher();
    account.hash(&mut h);
    combo.len().hash(&mut h);
    combo.for_each(|c| c.hash(&mut h));
    said.hash(&mut h);
    h.finish()
}

/// The keys of one record for each first-seen rule it matches: its network in words worked out
/// once, for all the rules keyed on the network.
pub(crate) struct RecordKeys<'v, 'e> {
    v: &'v Value,
    enricher: &'e Enricher,
    said: Option<String>,
}

impl<'v, 'e> RecordKeys<'v, 'e> {
    pub(crate) fn new(v: &'v Value, enricher: &'e Enricher) -> Self {
        RecordKeys {
            v,
            enricher,
            said: None,
        }
    }

    /// The record's key for rule `fs` (`key_of`, borrowed).
    pub(crate) fn view(&mut self, fs: &FirstSeen) -> KeyView<'_> {
        let (v, enricher) = (self.v, self.enricher);
        let said = match keys_network(fs) {
            true => self.said.get_or_insert_with(|| network_said(v, enricher)),
            false => "",
        };
        KeyView {
            account: account_of(v),
            combo: fs.fields.iter().map(|f| value_in(v, f)).collect(),
            said: said.into(),
        }
    }
}

/// True when a combination of `fs` holds the record's network (its key then says it).
fn keys_network(fs: &FirstSeen) -> bool {
    fs.fields.iter().any(|f| names_network(f))
}

/// A record's source network in words, as a key that holds the network says it.
fn network_said(v: &Value, enricher: &Enricher) -> String {
    let n = enricher.network(v["sourceIPAddress"].as_str().unwrap_or(""));
    Some(n.describe())
        .filter(|d| !d.is_empty())
        .unwrap_or(n.network)
}

/// True for a field of the source's network (`enrich.network`, `enrich.asn`, `enrich.country`…),
/// not the principal's stable name (`enrich.principal`).
fn names_network(field: &str) -> bool {
    field
        .strip_prefix("enrich.")
        .is_some_and(|m| m != "principal")
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Records one sighting; `Some(why it is new)` when it alerts.
fn judge<S: Sightings>(s: &Seen<'_>, store: &mut S) -> Result<Option<String>, S::Error> {
    let (window, learn) = (millis(s.fs.window), millis(s.fs.learn));
    let since = match store.learning_since(s.rule, &s.key.account)? {
        Some(t) if t <= s.ms => t,
        _ => {
            store.set_learning_since(s.rule, &s.key.account, s.ms)?;
            s.ms
        }
    };
    let before = store.get(s.rule, &s.key.combo)?;
    // Seen within the window before this event, or after it (records read out of order).
    let known = before.as_ref().is_some_and(|b| {
        b.last_ms.abs_diff(s.ms) < window.unsigned_abs() || (b.first_ms..=b.last_ms).contains(&s.ms)
    });
    // Within an hour of its last sighting, a sighting changes nothing worth a write (a busy
    // principal writes its combination once an hour, not at every call).
    let unchanged = before
        .as_ref()
        .is_some_and(|b| b.first_ms <= s.ms && s.ms < b.last_ms.saturating_add(REFRESH_MS));
    let now = (!unchanged).then(|| {
        let (first, last) = match &before {
            Some(b) => (b.first_ms.min(s.ms), b.last_ms.max(s.ms)),
            None => (s.ms, s.ms),
        };
        let said = match &before {
            Some(b) if last != s.ms => b.said.clone(),
            _ => s.key.said.clone(),
        };
        Sighting {
            first_ms: first,
            last_ms: last,
            until_ms: last.saturating_add(window),
            said,
        }
    });
    // Before the store changes: what else the first value was last seen with.
    let other = if known { None } else { latest_other(s, store)? };
    if let Some(now) = now {
        store.put(s.rule, &s.key.combo, &now)?;
    }
    if known || s.ms < since.saturating_add(learn) {
        return Ok(None);
    }
    Ok(Some(why_new(s, other)))
}

/// The most recent other combination with the same first value, seen before this event.
fn latest_other<S: Sightings>(
    s: &Seen<'_>,
    store: &mut S,
) -> Result<Option<(Vec<String>, Sighting)>, S::Error> {
    if s.key.combo.len() < 2 {
        return Ok(None);
    }
    let all = store.with_first(s.rule, &s.key.combo[0])?;
    Ok(all
        .into_iter()
        .filter(|(c, b)| *c != s.key.combo && b.first_ms <= s.ms)
        .max_by_key(|(_, b)| b.last_ms))
}

/// "first time in 30 days: arn:…:user/alice on AS64500; last seen with AS64501 Acme Corp 2
/// days before".
fn why_new(s: &Seen<'_>, other: Option<(Vec<String>, Sighting)>) -> String {
    let mut why = format!(
        "first time in {}: {}",
        crate::when::span(s.fs.window),
        s.key.combo.join(" on ")
    );
    if let Some((c, b)) = other {
        let with = if b.said.is_empty() {
            c[1..].join(" on ")
        } else {
            b.said.clone()
        };
        let ago = Duration::from_millis(s.ms.saturating_sub(b.last_ms).max(0) as u64);
        why.push_str(&format!(
            "; last seen with {with} {} before",
            crate::when::span(ago)
        ));
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Event, RuleFacts};

    const DAY: i64 = 86_400_000;
    const T0: i64 = 1_795_305_600_000;

    fn rules() -> RuleSet {
        let src = crate::config::SourceText {
            name: "x.toml".into(),
            text: "rule_packs = []\n[[rules]]\nname = \"new-network\"\nfilter = '{ $.eventName = \"GetSecretValue\" }'\nfirst_seen = { fields = [\"userIdentity.arn\", \"enrich.network\"], window = \"30d\", learn = \"7d\" }\n".into(),
        };
        let cfg = crate::config::Config::parse(&src).unwrap();
        let mut set = RuleSet::default();
        set.add_config(&cfg, &src).unwrap();
        set
    }

    fn alert(id: &str, ms: i64, arn: &str, ip: &str, forged: bool) -> Alert {
        let time = jiff::Timestamp::from_millisecond(ms).unwrap().to_string();
        let enrich = if forged {
            r#","enrich":{"network":"AS1"}"#
        } else {
            ""
        };
        let record = format!(
            r#"{{"eventID":"{id}","eventTime":"{time}","eventName":"GetSecretValue","recipientAccountId":"111122223333","sourceIPAddress":"{ip}","userIdentity":{{"arn":"{arn}"}}{enrich}}}"#
        );
        let facts = RuleFacts {
            name: "new-network",
            title: "t",
            subject: "s",
            severity: crate::severity::Severity::High,
        };
        let event = Event {
            id: id.into(),
            time,
            source: "x".into(),
            record,
            principal: arn.into(),
        };
        Alert::new(facts, event, Kind::Match)
    }

    fn run(store: &mut InMemory, alerts: Vec<Alert>) -> Vec<(String, String)> {
        let out = apply(
            &rules(),
            alerts,
            &Enricher::default(),
            store,
            Judging::Alert,
        )
        .unwrap();
        out.into_iter().map(|a| (a.event_id, a.novelty)).collect()
    }

    #[test]
    fn a_combination_without_the_network_says_what_else_it_was_seen_with() {
        // (principal, event name): a new call is said to differ from the last other call,
        // not from a network the combination does not hold.
        let (e, day) = (Enricher::default(), Duration::from_secs(86_400));
        let fs = |fields: &[&str]| FirstSeen {
            fields: fields.iter().map(|f| f.to_string()).collect(),
            window: 30 * day,
            learn: Duration::ZERO,
        };
        let record = |name: &str| {
            let mut v = serde_json::json!({"eventName": name, "sourceIPAddress": "203.0.113.7",
                "recipientAccountId": "111122223333",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"}});
            e.apply(&mut v, None);
            v
        };
        let calls = fs(&["enrich.principal", "eventName"]);
        let keys = [
            key_of(&calls, &record("ListUsers"), &e),
            key_of(&calls, &record("GetUser"), &e),
        ];
        assert!(keys[0].said.is_empty(), "{:?}", keys[0]);
        let seen: Vec<Seen> = (keys.iter().enumerate())
            .map(|(i, key)| Seen {
                rule: "r",
                fs: &calls,
                ms: T0 + i as i64 * DAY,
                key,
            })
            .collect();
        let Ok(why) = judge_all(&seen, &mut InMemory::default(), Judging::Alert);
        let why = why[1].as_deref().unwrap();
        assert!(
            why.ends_with("on GetUser; last seen with ListUsers 1 day before"),
            "{why}"
        );
        // A combination that holds the network says the network in words.
        for net in ["enrich.network", "enrich.asn"] {
            let k = key_of(&fs(&["userIdentity.arn", net]), &record("GetUser"), &e);
            assert_eq!(k.said, "203.0.113.0/24", "{net}");
        }
    }

    #[test]
    fn a_key_read_from_a_record_is_the_key_it_makes() {
        // `scan` finds a match's key among those it holds by a view of the record: the view
        // must hash and compare as the key it would make, long and non-string values included.
        let e = Enricher::default();
        let fs = |fields: &[&str]| FirstSeen {
            fields: fields.iter().map(|f| f.to_string()).collect(),
            window: Duration::from_secs(86_400),
            learn: Duration::ZERO,
        };
        let long = "x".repeat(MOST_BYTES + 10);
        let mut v = serde_json::json!({"eventName": "GetUser", "sourceIPAddress": "203.0.113.7",
            "recipientAccountId": "111122223333", "readOnly": true, "requestParameters": {"n": long},
            "userIdentity": {"arn": "arn:aws:iam::111122223333:user/alice"}});
        e.apply(&mut v, None);
        let b = hashbrown::DefaultHashBuilder::default();
        let sets: [&[&str]; 4] = [
            &["userIdentity.arn", "enrich.network"],
            &["readOnly", "requestParameters.n", "nowhere"],
            &["enrich.principal", "eventName"],
            &["userIdentity"],
        ];
        let keys: Vec<SeenKey> = sets.iter().map(|f| key_of(&fs(f), &v, &e)).collect();
        assert!(keys[1].combo[1].ends_with('…') && keys[1].combo[1].len() < long.len());
        assert_eq!(keys[1].combo[2], MISSING);
        // One record's keys, read one after the other (its network worked out once).
        let mut record = RecordKeys::new(&v, &e);
        for (i, f) in sets.iter().enumerate() {
            let view = record.view(&fs(f));
            assert_eq!(view.hash_with(&b), hash_key(&b, &keys[i]), "{f:?}");
            for (j, k) in keys.iter().enumerate() {
                assert_eq!(view.is(k), i == j, "{f:?} against {k:?}");
            }
        }
        // Another account, another said: another key.
        let mut other = keys[0].clone();
        other.account = "444455556666".into();
        assert!(!record.view(&fs(sets[0])).is(&other));
        other = keys[0].clone();
        other.said.push('!');
        assert!(!record.view(&fs(sets[0])).is(&other));
    }

    #[test]
    fn learns_then_alerts_on_what_is_new_and_refreshes_on_each_sighting() {
        let mut s = InMemory::default();
        let alice = "arn:aws:iam::111122223333:user/alice";
        // Learning: the first week records, alerts nothing.
        let learned = run(
            &mut s,
            vec![
                alert("l1", T0, alice, "198.51.100.7", false),
                alert("l2", T0 + 6 * DAY, alice, "203.0.113.9", false),
            ],
        );
        assert!(learned.is_empty(), "{learned:?}");
        // Seen in the learning time: not new.
        assert!(run(
            &mut s,
            vec![alert("k", T0 + 8 * DAY, alice, "198.51.100.99", false)]
        )
        .is_empty());
        // A new network after learning: new, saying what alice was last seen with.
        let new = run(
            &mut s,
            vec![alert("n", T0 + 9 * DAY, alice, "192.0.2.1", false)],
        );
        assert_eq!(new.len(), 1);
        assert!(
            new[0].1.starts_with(
                "first time in 30 days: arn:aws:iam::111122223333:user/alice on 192.0.2.0/24"
            ),
            "{}",
            new[0].1
        );
        assert!(
            new[0]
                .1
                .contains("last seen with 198.51.100.0/24 1 day before"),
            "{}",
            new[0].1
        );
        // Refreshed at day 8 and day 37: still known at day 60, 23 days after the last.
        assert!(run(
            &mut s,
            vec![alert("r1", T0 + 37 * DAY, alice, "198.51.100.1", false)]
        )
        .is_empty());
        assert!(run(
            &mut s,
            vec![alert("r2", T0 + 60 * DAY, alice, "198.51.100.2", false)]
        )
        .is_empty());
        // 40 days after its last sighting: outside the window, new again.
        let again = run(
            &mut s,
            vec![alert("o", T0 + 100 * DAY, alice, "198.51.100.3", false)],
        );
        assert_eq!(again.len(), 1, "{again:?}");
    }

    #[test]
    fn a_forged_enrich_member_and_a_missing_field_are_read_as_they_are() {
        let mut s = InMemory::default();
        let bob = "arn:aws:iam::111122223333:user/bob";
        run(&mut s, vec![alert("l", T0, bob, "198.51.100.7", false)]);
        // The record says its network is AS1; it is judged by its address.
        let a = run(
            &mut s,
            vec![alert("f", T0 + 10 * DAY, bob, "192.0.2.8", true)],
        );
        assert!(a[0].1.contains("on 192.0.2.0/24"), "{a:?}");
        // No principal at all: a combination of its own, not a crash, not skipped.
        let m = run(
            &mut s,
            vec![alert("m", T0 + 11 * DAY, "", "192.0.2.8", false)],
        );
        assert_eq!(m.len(), 1);
        let mut v: Value =
            serde_json::from_str(&alert("x", 0, "", "1.2.3.4", false).record).unwrap();
        v["userIdentity"] = Value::Null;
        assert_eq!(value_in(&v, "userIdentity.arn"), MISSING);
    }

    #[test]
    fn learning_is_per_account_and_learn_only_alerts_nothing() {
        let mut s = InMemory::default();
        let carol = "arn:aws:iam::111122223333:user/carol";
        run(&mut s, vec![alert("a", T0, carol, "198.51.100.7", false)]);
        let mut other = alert(
            "b",
            T0 + 20 * DAY,
            "arn:aws:iam::444455556666:user/dan",
            "192.0.2.1",
            false,
        );
        other.record = other.record.replace("111122223333", "444455556666");
        assert!(
            run(&mut s, vec![other]).is_empty(),
            "an account joining later learns first"
        );
        let out = apply(
            &rules(),
            vec![alert("c", T0 + 20 * DAY, carol, "192.0.2.1", false)],
            &Enricher::default(),
            &mut s,
            Judging::LearnOnly,
        )
        .unwrap();
        assert!(out.is_empty());
        assert!(
            run(
                &mut s,
                vec![alert("d", T0 + 21 * DAY, carol, "192.0.2.9", false)]
            )
            .is_empty(),
            "learned"
        );
    }
}
