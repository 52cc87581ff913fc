//! A source address and its network. CloudTrail's `sourceIPAddress` is an IP address, an AWS
//! service's name (`ec2.amazonaws.com`, when a service acted for the caller), `AWS Internal`,
//! or, in a crafted record, anything: each is said for what it is. The network a first-seen
//! rule keys on (`enrich.network`) is the autonomous system when a database knows it, else the
//! address's /24 (IPv4) or /48 (IPv6), so that it works with no database installed.

use std::net::IpAddr;

use serde_json::{json, Map, Value};

/// Autonomous systems of AWS itself (Amazon's public ranges: EC2, the services' endpoints).
const AWS_ASNS: &[u32] = &[
    16509, 14618, 8987, 7224, 10124, 17493, 38895, 39111, 58588, 62785, 135630, 399991,
];

/// What a `sourceIPAddress` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Address(IpAddr),
    /// An AWS service acting for the caller (`…amazonaws.com`).
    Service(String),
    /// `AWS Internal`.
    Internal,
    /// Anything else (a crafted record, a host name).
    Other(String),
}

impl Source {
    pub(crate) fn of(s: &str) -> Source {
        let s = s.trim();
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Source::Address(ip);
        }
        if s.eq_ignore_ascii_case("AWS Internal") {
            return Source::Internal;
        }
        let lower = s.to_ascii_lowercase();
        if lower.ends_with(".amazonaws.com") && !lower.contains(char::is_whitespace) {
            return Source::Service(lower);
        }
        Source::Other(s.chars().take(64).collect())
    }
}

/// A source address's network, as far as it is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    pub asn: Option<u32>,
    pub as_org: Option<String>,
    pub country: Option<String>,
    /// True for AWS's own addresses and services, false for an address known to be another's;
    /// unknown for an address no ASN database places.
    pub aws: Option<bool>,
    /// A private, loopback or link-local address (inside a VPC: through an endpoint).
    pub private: bool,
    /// What a first-seen rule keys on: `AS64500`, `198.51.100.0/24`, `aws-service`…
    pub network: String,
    /// How it is said in messages when no database speaks for it.
    said: String,
}

/// The network prefix of an address: its /24 (IPv4) or /48 (IPv6).
fn prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v) => {
            let o = v.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || v.octets()[0] == 100 && (v.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v) => {
            v.is_loopback()
                || (v.segments()[0] & 0xfe00) == 0xfc00
                || (v.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

impl Network {
    /// What is known without a database.
    pub(crate) fn of(src: &Source) -> Network {
        match src {
            Source::Address(ip) if is_private(*ip) => Network {
                private: true,
                network: prefix(*ip),
                said: "private address".into(),
                ..Network::default()
            },
            Source::Address(ip) => Network {
                network: prefix(*ip),
                ..Network::default()
            },
            Source::Service(name) => Network {
                aws: Some(true),
                network: "aws-service".into(),
                said: format!("AWS service {name}"),
                ..Network::default()
            },
            Source::Internal => Network {
                aws: Some(true),
                network: "aws-internal".into(),
                said: "AWS's own network".into(),
                ..Network::default()
            },
            Source::Other(_) => Network {
                network: "other".into(),
                said: "not an address".into(),
                ..Network::default()
            },
        }
    }

    /// What an ASN database says of a public address (`None`: it does not know it).
    pub(crate) fn set_asn(&mut self, asn: Option<u32>, org: Option<String>) {
        if self.private {
            return;
        }
        if let Some(a) = asn {
            self.asn = Some(a);
            self.aws = Some(AWS_ASNS.contains(&a));
            self.network = format!("AS{a}");
        }
        self.as_org = org;
    }

    /// The `enrich` member the rules see (unknown parts absent).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(a) = self.asn {
            m.insert("asn".into(), json!(a));
        }
        if let Some(o) = &self.as_org {
            m.insert("as_org".into(), json!(o));
        }
        if let Some(c) = &self.country {
            m.insert("country".into(), json!(c));
        }
        if let Some(a) = self.aws {
            m.insert("aws".into(), json!(a));
        }
        m.insert("private".into(), json!(self.private));
        m.insert("network".into(), json!(self.network));
        Value::Object(m)
    }

    /// The network in words, beside the address in messages: `AS64500 Example VPS, NL`,
    /// `AWS service ec2.amazonaws.com`, `private address`; empty when nothing is known.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (self.asn, &self.as_org) {
            (Some(a), Some(o)) => parts.push(format!("AS{a} {o}")),
            (Some(a), None) => parts.push(format!("AS{a}")),
            (None, Some(o)) => parts.push(o.clone()),
            (None, None) if !self.said.is_empty() => parts.push(self.said.clone()),
            (None, None) => {}
        }
        if self.aws == Some(true) && self.asn.is_some() {
            parts.push("AWS".into());
        }
        if let Some(c) = &self.country {
            parts.push(c.clone());
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_told_apart() {
        assert_eq!(
            Source::of("ec2.amazonaws.com"),
            Source::Service("ec2.amazonaws.com".into())
        );
        assert_eq!(Source::of("AWS Internal"), Source::Internal);
        assert!(matches!(Source::of("198.51.100.7"), Source::Address(_)));
        assert!(matches!(Source::of("2001:db8::1"), Source::Address(_)));
        assert!(matches!(
            Source::of("evil.amazonaws.com <script>"),
            Source::Other(_)
        ));
    }

    #[test]
    fn the_network_without_a_database_is_the_prefix() {
        let n = Network::of(&Source::of("198.51.100.7"));
        assert_eq!((n.network.as_str(), n.aws), ("198.51.100.0/24", None));
        assert_eq!(n.describe(), "");
        let n = Network::of(&Source::of("2001:db8:abcd:12::1"));
        assert_eq!(n.network, "2001:db8:abcd::/48");
        let n = Network::of(&Source::of("10.1.2.3"));
        assert!(n.private);
        assert_eq!(n.describe(), "private address");
        let n = Network::of(&Source::of("ec2.amazonaws.com"));
        assert_eq!(
            (n.aws, n.describe().as_str()),
            (Some(true), "AWS service ec2.amazonaws.com")
        );
    }

    #[test]
    fn an_asn_names_the_network_and_whether_it_is_aws() {
        let mut n = Network::of(&Source::of("198.51.100.7"));
        n.set_asn(Some(64500), Some("Example VPS".into()));
        n.country = Some("NL".into());
        assert_eq!(n.describe(), "AS64500 Example VPS, NL");
        assert_eq!((n.network.as_str(), n.aws), ("AS64500", Some(false)));
        let mut a = Network::of(&Source::of("3.5.140.2"));
        a.set_asn(Some(16509), Some("AMAZON-02".into()));
        assert_eq!(
            (a.aws, a.describe().as_str()),
            (Some(true), "AS16509 AMAZON-02, AWS")
        );
    }
}
