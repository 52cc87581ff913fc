//! The `cidr` operator: IPv4 and IPv6 prefixes matched against IP-literal strings.

use std::net::IpAddr;

/// An address block; host bits of the pattern address are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn new(s: &str) -> Result<Cidr, String> {
        let mut it = s.split('/');
        let (Some(addr), Some(bits), None) = (it.next(), it.next(), it.next()) else {
            return Err("Malformed CIDR, one '/' required".into());
        };
        let bits: u8 = bits
            .parse()
            .map_err(|_| "Malformed CIDR, mask bits must be an integer".to_string())?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("Nonstandard IP address: {addr}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if bits > max {
            return Err(format!("Malformed CIDR, mask bits must be <= {max}"));
        }
        Ok(Cidr { addr, bits })
    }

    /// True when `s` is an IP literal of the same family inside the block.
    pub fn contains(&self, s: &str) -> bool {
        match (self.addr, s.parse::<IpAddr>()) {
            (IpAddr::V4(net), Ok(IpAddr::V4(a))) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), Ok(IpAddr::V6(a))) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks() {
        let c = Cidr::new("2001:db8::/32").unwrap();
        assert!(c.contains("2001:db8:abcd::1"));
        assert!(!c.contains("10.1.2.3"));
        let c = Cidr::new("10.0.0.7/8").unwrap();
        assert!(c.contains("10.200.1.1"));
        assert!(!c.contains("11.0.0.1"));
        assert!(!c.contains("not-an-ip"));
        assert!(Cidr::new("0.0.0.0/0").unwrap().contains("8.8.8.8"));
        assert!(Cidr::new("1.2.3.4/32").unwrap().contains("1.2.3.4"));
        assert!(!Cidr::new("1.2.3.4/32").unwrap().contains("1.2.3.5"));
    }

    #[test]
    fn malformed() {
        assert_eq!(
            Cidr::new("10.0.0.0").unwrap_err(),
            "Malformed CIDR, one '/' required"
        );
        assert_eq!(
            Cidr::new("10.0.0.0/x").unwrap_err(),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(
            Cidr::new("10.0.0/8").unwrap_err(),
            "Nonstandard IP address: 10.0.0"
        );
        assert!(Cidr::new("10.0.0.0/33").is_err());
        assert!(Cidr::new("1/2/3").is_err());
    }
}
