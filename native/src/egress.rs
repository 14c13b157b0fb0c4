//! The egress policy: which addresses the HTTP client may connect to.
//!
//! A host that fetches URLs it was told about — the `resource_metadata` URL of a 401
//! (RFC 9728 §5.1), the `authorization_servers` of resource metadata (RFC 9728 §3), every
//! endpoint of authorization server metadata (RFC 8414 §2) — lets whoever controls those
//! documents choose where it sends requests. On a server that is a way into the internal network
//! (RFC 9728 §7.7 and RFC 8414 §6 leave the check to the client). With the policy on,
//! [`crate::http::HttpClient`]:
//!
//! - resolves host names itself and connects only to the addresses that passed the policy (the
//!   connection uses exactly those addresses: there is no second lookup, so no DNS-rebinding gap);
//! - checks a literal IP host before sending, since no lookup happens for it;
//! - refuses with [`EgressError::Denied`] before anything is sent: its message names the host but
//!   is the same whether or not anything listens there, so refusals are no port-scan oracle.
//!
//! Denied: loopback, private, shared (CGNAT), link-local, benchmarking, multicast, reserved and
//! unspecified IPv4 ranges; `::`, `::1`, unique-local, link-local and multicast IPv6; IPv4-mapped
//! (`::ffff:0:0/96`) and NAT64 (`64:ff9b::/96`) addresses are judged as the IPv4 address they
//! carry. An allow-list of origins (`https://as.corp.example:8443`, for on-premise authorization
//! servers: that origin is then fetched without the address check) and CIDRs (`10.1.0.0/16`)
//! makes exceptions.
//!
//! The multi-user server enables the policy by default (`ServerConfig::egress`, feature `server`);
//! the CLI and [`crate::OAuthClient`] keep it off, so local development on loopback works.
//! With the policy on, proxies from the environment are not used (a proxy would resolve names
//! where the policy cannot see them).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why the policy refused a request or an allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EgressError {
    /// The URL's host is, or resolves only to, an internal address. Nothing was sent.
    #[error(
        "egress policy refused {host}: it is or resolves to a loopback, private, link-local or \
         otherwise internal address (nothing was sent); add its origin or network to the egress \
         allow-list if it is an on-premise server"
    )]
    Denied {
        /// The URL's host, as written in the URL.
        host: String,
    },
    /// An allow-list entry is neither an origin nor a CIDR.
    #[error(
        "egress allow-list entry {entry:?}: {reason} (expected an origin such as \
         `https://as.example:8443` or a network such as `10.0.0.0/8`)"
    )]
    InvalidAllowEntry {
        /// The entry.
        entry: String,
        /// What is wrong.
        reason: String,
    },
}

impl EgressError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            EgressError::Denied { .. } => "egress_denied",
            EgressError::InvalidAllowEntry { .. } => "egress_allow_invalid",
        }
    }
}

/// One allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EgressAllow {
    /// `scheme://host:port`, lower-case, port explicit.
    Origin(String),
    /// A network: addresses whose first `prefix` bits equal `addr`'s.
    Cidr {
        /// The network address.
        addr: IpAddr,
        /// The prefix length.
        prefix: u8,
    },
}

impl EgressAllow {
    /// Parses `https://host[:port]` (an origin: no path, query or credentials) or
    /// `ADDRESS[/PREFIX]` (a network; a bare address is a single host).
    pub fn parse(entry: &str) -> Result<EgressAllow, EgressError> {
        let bad = |reason: &str| EgressError::InvalidAllowEntry {
            entry: entry.to_owned(),
            reason: reason.to_owned(),
        };
        let text = entry.trim();
        if text.contains("://") {
            let url = reqwest::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(bad("the scheme must be http or https"));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(bad("an origin has no credentials"));
            }
            if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
                return Err(bad("an origin has no path, query or fragment"));
            }
            return origin(&url).map(EgressAllow::Origin).ok_or_else(|| bad("no host"));
        }
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP address or origin"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                bad(&format!("the prefix length must be a number from 0 to {max}"))
            })?,
        };
        Ok(EgressAllow::Cidr { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let EgressAllow::Cidr { addr, prefix } = self else { return false };
        match (addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), usize::from(*prefix))
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), usize::from(*prefix))
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: usize) -> bool {
    let (whole, rest) = (bits / 8, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[whole] & mask == b[whole] & mask
}

/// `scheme://host:port` of a URL, lower-case with the port explicit.
fn origin(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    let port = url.port_or_known_default()?;
    Some(format!("{}://{host}:{port}", url.scheme()))
}

/// Which addresses the HTTP client may reach. [`EgressPolicy::default`] is off (everything
/// allowed); [`EgressPolicy::deny_internal`] is the server's default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EgressPolicy {
    /// Refuse internal addresses (see the module docs).
    pub deny_internal: bool,
    /// Exceptions: origins and networks that may be reached anyway.
    pub allow: Vec<EgressAllow>,
}

/// What [`EgressPolicy::check_url`] decided for a URL that may be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Send without address checks (policy off, or an allowed origin).
    Open,
    /// Send through the filtering resolver (the host is a name).
    Filtered,
}

impl EgressPolicy {
    /// Everything allowed (the CLI's and the single-user client's default).
    pub fn allow_all() -> EgressPolicy {
        EgressPolicy::default()
    }

    /// Internal addresses refused, no exceptions (the multi-user server's default).
    pub fn deny_internal() -> EgressPolicy {
        EgressPolicy { deny_internal: true, allow: Vec::new() }
    }

    /// Adds an allow-list entry ([`EgressAllow::parse`]).
    pub fn allowing(mut self, entry: &str) -> Result<EgressPolicy, EgressError> {
        self.allow.push(EgressAllow::parse(entry)?);
        Ok(self)
    }

    /// Whether a connection to `ip` is allowed (after resolution).
    pub fn permits_ip(&self, ip: IpAddr) -> bool {
        !self.deny_internal || !is_internal(ip) || self.allow.iter().any(|a| a.contains(ip))
    }

    /// Checks a URL before sending: refuses a literal internal IP host; tells whether the
    /// request needs the filtering resolver.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<Verdict, EgressError> {
        if !self.deny_internal {
            return Ok(Verdict::Open);
        }
        let denied = || EgressError::Denied { host: url.host_str().unwrap_or("").to_owned() };
        if let Some(o) = origin(url) {
            if self.allow.iter().any(|a| matches!(a, EgressAllow::Origin(x) if *x == o)) {
                return Ok(Verdict::Open);
            }
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.literal(IpAddr::V4(ip)).ok_or_else(denied),
            Some(url::Host::Ipv6(ip)) => self.literal(IpAddr::V6(ip)).ok_or_else(denied),
            Some(url::Host::Domain(_)) => Ok(Verdict::Filtered),
            None => Err(denied()),
        }
    }

    fn literal(&self, ip: IpAddr) -> Option<Verdict> {
        self.permits_ip(ip).then_some(Verdict::Open)
    }
}

/// Whether `ip` is in a range that a server must not be made to reach (see the module docs).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    a == 0 // 0.0.0.0/8 "this network" (RFC 791, RFC 6890)
        || a == 10 // 10/8 private (RFC 1918)
        || (a == 100 && (64..128).contains(&b)) // 100.64/10 shared address space (RFC 6598)
        || a == 127 // 127/8 loopback (RFC 1122 §3.2.1.3)
        || (a == 169 && b == 254) // 169.254/16 link-local (RFC 3927), cloud metadata
        || (a == 172 && (16..32).contains(&b)) // 172.16/12 private (RFC 1918)
        || (a == 192 && b == 168) // 192.168/16 private (RFC 1918)
        || (a == 198 && (18..20).contains(&b)) // 198.18/15 benchmarking (RFC 2544)
        || a >= 224 // 224/4 multicast (RFC 5771), 240/4 reserved and 255.255.255.255 (RFC 1112)
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // ::ffff:0:0/96 IPv4-mapped (RFC 4291 §2.5.5.2): judged as the IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    // 64:ff9b::/96 NAT64 well-known prefix (RFC 6052 §2.1): judged as the embedded IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return internal_v4(Ipv4Addr::new(a, b, c, d));
    }
    ip.is_unspecified() // :: (RFC 4291 §2.5.2)
        || ip.is_loopback() // ::1 (RFC 4291 §2.5.3)
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local (RFC 4193)
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local (RFC 4291 §2.5.6)
        || (s[0] & 0xff00) == 0xff00 // ff00::/8 multicast (RFC 4291 §2.7)
}

/// A reqwest resolver that keeps only the addresses the policy permits; reqwest connects to
/// exactly the addresses returned, so the check and the connection use the same addresses.
#[derive(Debug)]
pub(crate) struct PolicyResolver {
    pub(crate) policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept: Vec<SocketAddr> = found.filter(|a| policy.permits_ip(a.ip())).collect();
            if kept.is_empty() {
                let denied: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(EgressError::Denied { host });
                return Err(denied);
            }
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_ranges() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(is_internal(ip(s)), "{s} is internal");
        }
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "fec0::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!is_internal(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn allow_entries() {
        assert_eq!(
            EgressAllow::parse("HTTPS://AS.Example").unwrap(),
            EgressAllow::Origin("https://as.example:443".into())
        );
        assert_eq!(
            EgressAllow::parse("http://127.0.0.1:8080").unwrap(),
            EgressAllow::Origin("http://127.0.0.1:8080".into())
        );
        assert_eq!(
            EgressAllow::parse("10.1.0.0/16").unwrap(),
            EgressAllow::Cidr { addr: ip("10.1.0.0"), prefix: 16 }
        );
        assert_eq!(
            EgressAllow::parse("::1").unwrap(),
            EgressAllow::Cidr { addr: ip("::1"), prefix: 128 }
        );
        for bad in ["10.0.0.0/33", "::/129", "nonsense", "ftp://x", "https://a/b", "https://u@a"] {
            let e = EgressAllow::parse(bad).unwrap_err();
            assert_eq!(e.code(), "egress_allow_invalid", "{bad}");
        }
    }

    #[test]
    fn cidr_and_origin_exceptions() {
        let p = EgressPolicy::deny_internal().allowing("10.1.0.0/16").unwrap();
        assert!(p.permits_ip(ip("10.1.2.3")));
        assert!(!p.permits_ip(ip("10.2.0.1")));
        assert!(!p.permits_ip(ip("127.0.0.1")));
        assert!(p.permits_ip(ip("8.8.8.8")));
        let p = EgressPolicy::deny_internal().allowing("http://127.0.0.1:8080").unwrap();
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert_eq!(p.check_url(&url("http://127.0.0.1:8080/x")), Ok(Verdict::Open));
        assert_eq!(
            p.check_url(&url("http://127.0.0.1:8081/x")),
            Err(EgressError::Denied { host: "127.0.0.1".into() })
        );
        assert_eq!(p.check_url(&url("https://as.example/x")), Ok(Verdict::Filtered));
        // Alternative spellings of loopback parse to the same address.
        for s in ["http://0x7f.1/", "http://2130706433/", "http://[::ffff:7f00:1]/", "http://0/"] {
            assert_eq!(p.check_url(&url(s)).unwrap_err().code(), "egress_denied", "{s}");
        }
        assert_eq!(
            EgressPolicy::allow_all().check_url(&url("http://10.0.0.1/")),
            Ok(Verdict::Open)
        );
    }
}
