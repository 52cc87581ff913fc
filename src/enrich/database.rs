//! A MaxMind-format database (the `.mmdb` format GeoLite2, DB-IP Lite and iptoasn files share),
//! read whole into memory when the configuration is loaded: what an address's autonomous
//! system or country is, and how old the database is (`check` warns past 60 days).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Deserialize;

/// Which database a file is meant to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Asn,
    Country,
}

impl Kind {
    pub(crate) fn key(self) -> &'static str {
        match self {
            Kind::Asn => "asn_db",
            Kind::Country => "country_db",
        }
    }
}

/// A database that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DatabaseError {
    #[error("[enrich] {key} = \"{}\": {why}", path.display())]
    Unusable {
        key: &'static str,
        path: PathBuf,
        why: String,
    },
}

/// One open database.
pub(crate) struct Database {
    pub(crate) path: PathBuf,
    pub(crate) kind: Kind,
    reader: maxminddb::Reader<Vec<u8>>,
}

/// The fields of the ASN databases (GeoLite2-ASN, DB-IP ASN Lite and iptoasn name them alike).
#[derive(Deserialize)]
struct AsnRecord {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
}

/// The fields of the country databases: GeoLite2 and DB-IP nest `country.iso_code`; the
/// ip-location-db files say `country_code`.
#[derive(Deserialize)]
struct CountryRecord {
    country: Option<IsoCode>,
    registered_country: Option<IsoCode>,
    country_code: Option<String>,
}

#[derive(Deserialize)]
struct IsoCode {
    iso_code: Option<String>,
}

impl Database {
    /// Opens `path` as a database of `kind`: it must be a MaxMind-format file whose records
    /// hold what that kind needs.
    pub(crate) fn open(path: &Path, kind: Kind) -> Result<Database, DatabaseError> {
        let unusable = |why: String| DatabaseError::Unusable {
            key: kind.key(),
            path: path.to_path_buf(),
            why,
        };
        let reader = maxminddb::Reader::open_readfile(path)
            .map_err(|e| unusable(format!("not a MaxMind-format database ({e})")))?;
        let ty = reader.metadata().database_type.to_ascii_lowercase();
        let wrong = match kind {
            Kind::Asn => ty.contains("country") || ty.contains("city"),
            Kind::Country => ty.contains("asn"),
        };
        if wrong {
            return Err(unusable(format!(
                "its type is '{}', not an {} database",
                reader.metadata().database_type,
                if kind == Kind::Asn { "ASN" } else { "country" }
            )));
        }
        Ok(Database {
            path: path.to_path_buf(),
            kind,
            reader,
        })
    }

    /// The key that names it in `[enrich]`.
    pub(crate) fn key(&self) -> &'static str {
        self.kind.key()
    }

    /// When the database was built.
    pub(crate) fn built(&self) -> Timestamp {
        let secs = i64::try_from(self.reader.metadata().build_epoch).unwrap_or(0);
        Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// Its type, as it says it (`GeoLite2-ASN`, `DBIP-ASN-Lite`…).
    pub(crate) fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// The autonomous system of `ip` and the organisation that holds it, when the database
    /// knows them.
    pub(crate) fn asn(&self, ip: IpAddr) -> (Option<u32>, Option<String>) {
        let found = self.reader.lookup(ip).and_then(|r| r.decode::<AsnRecord>());
        match found {
            Ok(Some(r)) => (
                r.autonomous_system_number.filter(|n| *n > 0),
                r.autonomous_system_organization.filter(|o| !o.is_empty()),
            ),
            _ => (None, None),
        }
    }

    /// The country of `ip` (ISO 3166 code), when the database knows it.
    pub(crate) fn country(&self, ip: IpAddr) -> Option<String> {
        let r = self
            .reader
            .lookup(ip)
            .and_then(|r| r.decode::<CountryRecord>());
        let r = r.ok().flatten()?;
        let iso = |c: Option<IsoCode>| c.and_then(|c| c.iso_code);
        r.country_code
            .or_else(|| iso(r.country))
            .or_else(|| iso(r.registered_country))
            .filter(|c| !c.is_empty() && c.len() <= 3)
    }
}
