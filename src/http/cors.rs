//! CORS: which browser origins may call the API, and the headers that say so.
//!
//! Allowed origins come from config: exact origins (`https://app.example`), any port of a host
//! (`http://localhost:*`), or `*`. Every route answers preflight `OPTIONS`.

use http::header::{self, HeaderMap, HeaderValue};

/// Methods, headers and the preflight cache time announced to browsers.
const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
const ALLOW_HEADERS: &str = "Content-Type, Authorization, Last-Event-ID, Jobcast-Lease";
const EXPOSE_HEADERS: &str = "Location";
const MAX_AGE_SECONDS: &str = "600";

/// One allowed-origin rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Any,
    Exact(String),
    /// `scheme://host:` followed by any port (or none).
    AnyPort(String),
}

/// The configured origins.
#[derive(Debug, Clone)]
pub struct Cors {
    rules: Vec<Rule>,
}

impl Cors {
    pub fn new(origins: &[String]) -> Self {
        let rules = origins
            .iter()
            .map(|o| {
                let o = o.trim().trim_end_matches('/');
                if o == "*" {
                    Rule::Any
                } else if let Some(prefix) = o.strip_suffix(":*") {
                    Rule::AnyPort(prefix.to_ascii_lowercase())
                } else {
                    Rule::Exact(o.to_ascii_lowercase())
                }
            })
            .collect();
        Cors { rules }
    }

    fn allows(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.rules.iter().any(|rule| match rule {
            Rule::Any => true,
            Rule::Exact(exact) => *exact == origin,
            Rule::AnyPort(prefix) => match origin.strip_prefix(prefix.as_str()) {
                Some("") => true,
                Some(rest) => rest.strip_prefix(':').is_some_and(|port| {
                    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
                }),
                None => false,
            },
        })
    }

    /// Adds the CORS headers for a response to a request from `origin`.
    pub fn apply(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = origin else { return };
        let Ok(text) = origin.to_str() else { return };
        if !self.allows(text) {
            return;
        }
        let value = if self.rules.contains(&Rule::Any) {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }

    /// Adds the preflight headers (to a 204 answer to `OPTIONS`).
    pub fn apply_preflight(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        self.apply(origin, headers);
        if headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE_SECONDS),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Cors {
        Cors::new(&["http://localhost:*".into(), "http://127.0.0.1:*".into()])
    }

    #[test]
    fn the_default_allows_local_dev_servers_on_any_port_only() {
        let cors = defaults();
        assert!(cors.allows("http://localhost:5173"));
        assert!(cors.allows("http://localhost"));
        assert!(cors.allows("http://127.0.0.1:3000"));
        assert!(!cors.allows("http://localhost.evil.example"));
        assert!(!cors.allows("http://localhost:80x"));
        assert!(!cors.allows("https://localhost:5173"));
        assert!(!cors.allows("http://example.com"));
        assert!(!cors.allows("null"));
    }

    #[test]
    fn exact_origins_and_star() {
        let cors = Cors::new(&["https://app.example".into()]);
        assert!(cors.allows("https://app.example"));
        assert!(!cors.allows("https://app.example:8443"));
        assert!(Cors::new(&["*".into()]).allows("https://anything.example"));
    }

    #[test]
    fn allowed_origins_are_echoed_and_vary_is_always_set() {
        let cors = defaults();
        let mut headers = HeaderMap::new();
        cors.apply(
            Some(&HeaderValue::from_static("http://localhost:5173")),
            &mut headers,
        );
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://localhost:5173"
        );
        assert_eq!(headers[header::VARY], "Origin");

        let mut headers = HeaderMap::new();
        cors.apply(
            Some(&HeaderValue::from_static("http://evil.example")),
            &mut headers,
        );
        assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
        assert_eq!(headers[header::VARY], "Origin");
    }
}
