//! Which URLs a backend may be: http or https, and plain http only to a loopback or private
//! address unless the user says otherwise, because the prompt carries the user's source code.

use std::net::IpAddr;

use url::{Host, Url};

use crate::RemoteError;

/// Where a host sits, as far as the URL alone tells (no DNS lookup is made to find out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    Loopback,
    /// RFC 1918, link-local and IPv6 unique-local addresses.
    Private,
    /// A public address, or a name other than `localhost`.
    Network,
}

/// A checked backend URL.
#[derive(Clone, Debug)]
pub struct Endpoint {
    base: Url,
    /// `HOST:PORT`, as status messages show it.
    pub host: String,
    pub reach: Reach,
}

impl Endpoint {
    /// Checks `url`. Plain `http://` to a host that is not loopback or private is refused unless
    /// `allow_insecure_http`.
    pub fn parse(url: &str, allow_insecure_http: bool) -> Result<Endpoint, RemoteError> {
        let bad = |why: String| RemoteError::Url { url: url.to_string(), why };
        let base = Url::parse(url.trim()).map_err(|e| bad(e.to_string()))?;
        let secure = match base.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(bad(format!("the scheme is `{other}`; a backend is http:// or https://"))),
        };
        if !base.username().is_empty() || base.password().is_some() {
            return Err(bad("credentials in the URL would end up in logs; set apiKeyEnv instead".into()));
        }
        let reach = match base.host() {
            None => return Err(bad("the URL has no host".into())),
            Some(Host::Domain(name)) => {
                let name = name.to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    Reach::Loopback
                } else {
                    Reach::Network
                }
            }
            Some(Host::Ipv4(ip)) => reach_of(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => reach_of(IpAddr::V6(ip)),
        };
        let host = match base.port_or_known_default() {
            Some(port) => format!("{}:{port}", base.host_str().unwrap_or_default()),
            None => base.host_str().unwrap_or_default().to_string(),
        };
        if !secure && reach == Reach::Network && !allow_insecure_http {
            return Err(bad(format!(
                "plain http:// to {host} would send your source code over the network unencrypted; \
                 use https://, a loopback or private address, or set allowInsecureHttp = true"
            )));
        }
        Ok(Endpoint { base, host, reach })
    }

    /// `path` (e.g. `/v1/completions`) under the URL's own path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }
}

fn reach_of(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Reach::Loopback,
        IpAddr::V4(v4) if v4.is_private() || v4.is_link_local() => Reach::Private,
        IpAddr::V6(v6) if v6.is_loopback() => Reach::Loopback,
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()) => Reach::Loopback,
        // fc00::/7 (unique local) and fe80::/10 (link-local).
        IpAddr::V6(v6) if (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80 => Reach::Private,
        _ => Reach::Network,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(url: &str) -> Result<(Reach, String), String> {
        Endpoint::parse(url, false).map(|e| (e.reach, e.host)).map_err(|e| e.to_string())
    }

    #[test]
    fn plain_http_goes_only_to_loopback_and_private_addresses() {
        assert_eq!(reach("http://127.0.0.1:8080"), Ok((Reach::Loopback, "127.0.0.1:8080".into())));
        assert_eq!(reach("http://localhost:11434/"), Ok((Reach::Loopback, "localhost:11434".into())));
        assert_eq!(reach("http://[::1]:9000"), Ok((Reach::Loopback, "[::1]:9000".into())));
        assert_eq!(reach("http://10.1.2.3:8000"), Ok((Reach::Private, "10.1.2.3:8000".into())));
        assert_eq!(reach("http://192.168.0.7"), Ok((Reach::Private, "192.168.0.7:80".into())));
        assert_eq!(reach("http://[fd00::5]:8000"), Ok((Reach::Private, "[fd00::5]:8000".into())));
        assert_eq!(reach("https://gpu.example.com"), Ok((Reach::Network, "gpu.example.com:443".into())));
        let refused = reach("http://gpu.example.com:8000").unwrap_err();
        assert!(refused.contains("unencrypted") && refused.contains("allowInsecureHttp"), "{refused}");
        assert!(reach("http://8.8.8.8").is_err());
        assert!(Endpoint::parse("http://gpu.example.com:8000", true).is_ok());
    }

    #[test]
    fn other_schemes_and_credentials_are_refused() {
        assert!(reach("ftp://127.0.0.1").unwrap_err().contains("scheme"));
        assert!(reach("127.0.0.1:8080").is_err());
        assert!(reach("http://user:secret@127.0.0.1:8080").unwrap_err().contains("apiKeyEnv"));
    }

    #[test]
    fn paths_join_under_the_base() {
        let e = Endpoint::parse("http://127.0.0.1:8080/", false).unwrap();
        assert_eq!(e.url("/completion"), "http://127.0.0.1:8080/completion");
        let e = Endpoint::parse("https://gpu.example.com/team/", false).unwrap();
        assert_eq!(e.url("/v1/models"), "https://gpu.example.com/team/v1/models");
    }
}
