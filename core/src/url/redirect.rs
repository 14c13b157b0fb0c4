//! The redirect URI of a native app's loopback listener (RFC 8252 §7.3): the project's one
//! default, the "no port means 8000" rule, the loopback check and the addresses it implies.
//!
//! The rule: an `http` redirect URI on a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`)
//! that names no port means port [`DEFAULT_LOOPBACK_PORT`], because a browser would otherwise
//! go to port 80 where nothing listens. An explicit port is kept as written, even `:80`; port 0
//! asks the listener for any free port, and [`RedirectUri::with_port`] then gives the concrete
//! URI to register. `https` URIs and other hosts are served by someone else: no listen address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{RedirectUri, Url};

/// The port a loopback `http` redirect URI without a port listens on.
pub const DEFAULT_LOOPBACK_PORT: u16 = 8000;

/// The default redirect URI of native hosts (a loopback listener on [`DEFAULT_LOOPBACK_PORT`]).
pub const DEFAULT_REDIRECT_URI: &str = "http://localhost:8000/auth/redirect";

impl RedirectUri {
    /// True when the URI points at this machine (a native app's loopback listener).
    pub fn is_loopback(&self) -> bool {
        self.url.is_loopback()
    }

    /// True for plain `http` on a loopback host: the URIs a loopback listener serves
    /// (RFC 8252 §7.3).
    pub fn is_loopback_http(&self) -> bool {
        !self.url.is_https() && self.url.is_loopback()
    }

    /// The port as written in the URI, including the scheme's default (`:80`), which the
    /// parsed [`Url`] drops (RFC 3986 §6.2.3) but which overrides the default loopback port.
    pub fn explicit_port(&self) -> Option<u16> {
        let rest = self.original.split_once("://").map_or("", |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        // RFC 3986 §3.2.3: the port follows the last `:` after the host (an IPv6 literal is
        // bracketed).
        let after_host = authority.rsplit_once(']').map_or(authority, |(_, tail)| tail);
        let (_, port) = after_host.rsplit_once(':')?;
        port.parse().ok()
    }

    /// The port a loopback listener takes for this URI: the explicit port, or
    /// [`DEFAULT_LOOPBACK_PORT`] when none is written; `None` unless [`is_loopback_http`].
    ///
    /// [`is_loopback_http`]: RedirectUri::is_loopback_http
    pub fn listen_port(&self) -> Option<u16> {
        if !self.is_loopback_http() {
            return None;
        }
        Some(self.explicit_port().unwrap_or(DEFAULT_LOOPBACK_PORT))
    }

    /// The socket addresses a loopback listener binds for this URI: `127.0.0.1` then `[::1]`
    /// for `localhost` (a browser may resolve it to either), the address itself for an IP
    /// literal, and nothing for `https` or a host that is not loopback.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        let Some(port) = self.listen_port() else {
            return Vec::new();
        };
        let host = self.url.host();
        if host == "localhost" {
            return vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
            ];
        }
        let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        match literal.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => vec![SocketAddr::new(ip, port)],
            _ => Vec::new(),
        }
    }

    /// The same URI with `port` written explicitly, keeping scheme, host, path and query: the
    /// concrete URI a listener that bound port 0 (or took the default) registers.
    pub fn with_port(&self, port: u16) -> RedirectUri {
        let mut original =
            format!("{}://{}:{port}{}", self.url.scheme(), self.url.host(), self.url.path);
        if let Some(q) = &self.url.query {
            original.push('?');
            original.push_str(q);
        }
        // RFC 3986 §6.2.3: the parsed form drops the scheme's default port.
        let default = if self.url.https { 443 } else { 80 };
        let url =
            Url { port: (port != default).then_some(port), fragment: None, ..self.url.clone() };
        RedirectUri { original, url }
    }

    /// The URI a loopback listener serves: a loopback `http` URI without a port gets
    /// [`DEFAULT_LOOPBACK_PORT`]; every other URI is returned unchanged.
    pub fn with_default_port(&self) -> RedirectUri {
        match self.listen_port() {
            Some(port) if self.explicit_port().is_none() => self.with_port(port),
            _ => self.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> RedirectUri {
        RedirectUri::parse(s).unwrap()
    }

    fn addrs(s: &str) -> Vec<String> {
        uri(s).listen_addrs().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_default_is_a_loopback_uri_on_the_default_port() {
        let d = uri(DEFAULT_REDIRECT_URI);
        assert!(d.is_loopback_http());
        assert_eq!(d.listen_port(), Some(DEFAULT_LOOPBACK_PORT));
        assert_eq!(d.with_default_port(), d);
    }

    #[test]
    fn no_port_means_the_default_loopback_port() {
        let u = uri("http://localhost/auth/redirect");
        assert_eq!(u.explicit_port(), None);
        assert_eq!(u.listen_port(), Some(8000));
        assert_eq!(u.with_default_port().as_str(), "http://localhost:8000/auth/redirect");
        assert_eq!(addrs("http://localhost/cb"), ["127.0.0.1:8000", "[::1]:8000"]);
        // An explicit port is kept as written, even the scheme's default.
        let u = uri("http://127.0.0.1:80/cb");
        assert_eq!((u.explicit_port(), u.listen_port()), (Some(80), Some(80)));
        assert_eq!(u.with_default_port().as_str(), "http://127.0.0.1:80/cb");
        assert_eq!(uri("http://localhost:0/cb").listen_port(), Some(0));
        let written = |s: &str| uri(s).explicit_port();
        assert_eq!(written("http://localhost:0"), Some(0));
        assert_eq!(written("http://[::1]:8080/x"), Some(8080));
        assert_eq!(written("https://app.example:443/cb"), Some(443));
        assert_eq!(written("http://[::1]/cb"), None);
        assert_eq!(written("http://localhost/cb?x=a:b"), None);
        assert_eq!(written("http://localhost?x=a:b"), None);
    }

    #[test]
    fn with_port_keeps_path_and_query() {
        let u = uri("http://localhost:0/auth/redirect?tenant=a&x=%2F");
        let concrete = u.with_port(49152);
        assert_eq!(concrete.as_str(), "http://localhost:49152/auth/redirect?tenant=a&x=%2F");
        assert_eq!(concrete, uri(concrete.as_str()));
        assert_eq!(
            uri("http://localhost/cb?q=1").with_default_port().as_str(),
            "http://localhost:8000/cb?q=1"
        );
        // Port 80 stays written, so the URI does not fall back to the default.
        let eighty = u.with_port(80);
        assert_eq!(eighty.as_str(), "http://localhost:80/auth/redirect?tenant=a&x=%2F");
        assert_eq!(eighty, uri(eighty.as_str()));
        assert_eq!(eighty.listen_port(), Some(80));
    }

    #[test]
    fn ip_literals_listen_on_themselves() {
        assert_eq!(addrs("http://[::1]/cb"), ["[::1]:8000"]);
        assert_eq!(addrs("http://[::1]:9000/cb"), ["[::1]:9000"]);
        assert_eq!(addrs("http://127.0.0.2:9000/cb"), ["127.0.0.2:9000"]);
        assert_eq!(uri("http://[::1]/cb").with_default_port().as_str(), "http://[::1]:8000/cb");
        assert_eq!(uri("http://[::1]:0/cb").with_port(5).as_str(), "http://[::1]:5/cb");
    }

    #[test]
    fn https_and_other_hosts_have_no_listen_address() {
        for s in ["https://app.example/cb", "https://localhost/cb", "https://127.0.0.1:8443/cb"] {
            let u = uri(s);
            assert!(!u.is_loopback_http(), "{s}");
            assert_eq!((u.listen_port(), u.listen_addrs()), (None, vec![]), "{s}");
            assert_eq!(u.with_default_port(), u, "{s}");
        }
    }

    #[test]
    fn plain_http_off_loopback_is_refused() {
        for s in ["http://example.com/cb", "http://0.0.0.0:8000/cb", "http://localhost.example/cb"]
        {
            let e = RedirectUri::parse(s).unwrap_err();
            assert_eq!(e.problem, crate::url::UrlProblem::InsecureScheme, "{s}");
        }
        assert_eq!(
            RedirectUri::parse("http://localhost/cb#f").unwrap_err().problem,
            crate::url::UrlProblem::Fragment
        );
    }
}
