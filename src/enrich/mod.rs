//! What a record cannot say for itself about where a call came from: the network of its source
//! address (its autonomous system, the organisation that holds it, its country) from
//! MaxMind-format databases the operator installs (`database`), and whether the address is
//! AWS's own, a private one or an AWS service's name (`network`), and who acted as one name
//! across sessions (`principal`). The rules see it as the
//! record's `enrich` member, always computed here, never read from the record: a record that
//! carries a top-level `enrich` is judged as if it had none (`Enricher::view`).

mod database;
mod network;
mod principal;

use std::sync::Arc;

use serde_json::Value;

pub(crate) use self::database::{Database, DatabaseError};
pub(crate) use self::network::{Network, Source};

/// The enrichment of one configuration: its databases (none is a valid choice: AWS's service
/// names, private addresses and network prefixes are known without them).
#[derive(Default)]
pub struct Enricher {
    pub(crate) asn: Option<Arc<Database>>,
    pub(crate) country: Option<Arc<Database>>,
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = |d: &Option<Arc<Database>>| d.as_ref().map(|d| d.path.display().to_string());
        f.debug_struct("Enricher")
            .field("asn", &path(&self.asn))
            .field("country", &path(&self.country))
            .finish()
    }
}

impl Enricher {
    /// Opens the databases `[enrich]` names (each read whole into memory, checked to be a
    /// MaxMind-format database of the kind asked for).
    pub(crate) fn open(
        asn_db: Option<&std::path::Path>,
        country_db: Option<&std::path::Path>,
    ) -> Result<Enricher, DatabaseError> {
        let open = |p: Option<&std::path::Path>, kind| {
            p.map(|p| Database::open(p, kind).map(Arc::new)).transpose()
        };
        Ok(Enricher {
            asn: open(asn_db, database::Kind::Asn)?,
            country: open(country_db, database::Kind::Country)?,
        })
    }

    /// The network of a record's source (`sourceIPAddress`, as written).
    pub fn network(&self, source: &str) -> Network {
        let src = Source::of(source);
        let mut n = Network::of(&src);
        if let Source::Address(ip) = src {
            if let Some(db) = &self.asn {
                let (asn, org) = db.asn(ip);
                n.set_asn(asn, org);
            }
            if let Some(db) = &self.country {
                n.country = db.country(ip);
            }
        }
        n
    }

    /// The `enrich` member the rules see for `record`: its source address's network, and its
    /// principal's stable name (`principal`: the role behind a session).
    pub fn view(&self, record: &Value) -> Value {
        let mut v = match record.get("sourceIPAddress").and_then(Value::as_str) {
            Some(s) => self.network(s).to_json(),
            None => Value::Object(Default::default()),
        };
        if let (Some(p), Some(o)) = (principal::of(record), v.as_object_mut()) {
            o.insert("principal".into(), Value::String(p));
        }
        v
    }

    /// Puts the `enrich` member into a parsed record (and the EventBridge event around it),
    /// in place of any the record carried.
    pub fn apply(&self, record: &mut Value, event: Option<&mut Value>) {
        let view = self.view(record);
        if let Some(detail) = event
            .and_then(|e| e.get_mut("detail"))
            .and_then(Value::as_object_mut)
        {
            detail.insert("enrich".to_string(), view.clone());
        }
        if let Some(o) = record.as_object_mut() {
            o.insert("enrich".to_string(), view);
        }
    }

    /// The databases, for `check`.
    pub(crate) fn databases(&self) -> impl Iterator<Item = &Database> {
        self.asn.iter().chain(self.country.iter()).map(|d| &**d)
    }
}
