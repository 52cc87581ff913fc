//! `[state] backend = "dynamodb"`: the table several instances of one configuration share,
//! validated (the file's keys are `config::file::StateTable`).

use std::time::Duration;

use crate::config::file::StateTable;
use crate::when;

/// The shortest lease accepted: renewals go every third of it.
const MIN_LEASE: Duration = Duration::from_secs(2);
/// The default lease: an instance that dies is replaced within it and one poll.
const LEASE: Duration = Duration::from_secs(30);

/// A shared state, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancesConfig {
    pub table: String,
    pub region: String,
    pub endpoint_url: Option<String>,
    /// This instance's name, in the lease and in health alerts.
    pub instance: String,
    pub lease: Duration,
}

/// The shared state `[state]` asks for (`None`: sled, one host), or what is wrong with it as
/// (key, message).
pub(crate) fn parse(
    t: Option<&StateTable>,
) -> Result<Option<InstancesConfig>, (&'static str, String)> {
    let Some(t) = t else { return Ok(None) };
    match t.backend.as_deref().unwrap_or("sled") {
        "sled" => {
            let set = [&t.table, &t.region, &t.endpoint_url, &t.instance, &t.lease];
            if set.iter().any(|v| v.is_some()) {
                return Err((
                    "backend",
                    "table, region, endpoint_url, instance and lease are for backend = \"dynamodb\"; the sled backend keeps the state in state_dir".into(),
                ));
            }
            return Ok(None);
        }
        "dynamodb" => {}
        other => {
            return Err((
                "backend",
                format!("unknown backend '{other}': use \"sled\" (one host) or \"dynamodb\" (several instances share a table)"),
            ))
        }
    }
    let region = t.region.clone().filter(|r| !r.is_empty()).ok_or((
        "backend",
        "backend = \"dynamodb\" needs region = \"…\" (the table's region)".to_string(),
    ))?;
    let table = t.table.clone().unwrap_or_else(|| "trailwatch".into());
    if table.len() < 3
        || table.len() > 255
        || !table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err((
            "table",
            format!("'{table}' is not a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, _, -, .)"),
        ));
    }
    let lease = match &t.lease {
        None => LEASE,
        Some(s) => when::duration(s).map_err(|e| ("lease", e))?,
    };
    if lease < MIN_LEASE {
        return Err((
            "lease",
            format!("must be at least {}s", MIN_LEASE.as_secs()),
        ));
    }
    let instance = match t.instance.clone().filter(|i| !i.is_empty()) {
        Some(i) => i,
        None => host_name().ok_or((
            "instance",
            "the host name cannot be read: give instance = \"…\"".to_string(),
        ))?,
    };
    Ok(Some(InstancesConfig {
        table,
        region,
        endpoint_url: t.endpoint_url.clone().filter(|u| !u.is_empty()),
        instance,
        lease,
    }))
}

/// This host's name (Linux).
fn host_name() -> Option<String> {
    let n = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(n.trim().to_string()).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(backend: &str) -> StateTable {
        StateTable {
            backend: Some(backend.into()),
            region: Some("us-east-1".into()),
            ..StateTable::default()
        }
    }

    #[test]
    fn defaults_and_refusals() {
        assert_eq!(parse(None), Ok(None));
        let s = parse(Some(&table("dynamodb"))).unwrap().unwrap();
        assert_eq!((s.table.as_str(), s.lease), ("trailwatch", LEASE));
        assert!(!s.instance.is_empty(), "the host name");
        assert_eq!(parse(Some(&table("etcd"))).unwrap_err().0, "backend");
        assert_eq!(
            parse(Some(&table("sled"))).unwrap_err().0,
            "backend",
            "region is for dynamodb"
        );
        let mut t = table("dynamodb");
        t.lease = Some("1s".into());
        assert_eq!(parse(Some(&t)).unwrap_err().0, "lease");
        t.lease = None;
        t.region = None;
        assert_eq!(parse(Some(&t)).unwrap_err().0, "backend");
        let mut t = table("dynamodb");
        t.table = Some("a b".into());
        assert_eq!(parse(Some(&t)).unwrap_err().0, "table");
    }
}
