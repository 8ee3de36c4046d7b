//! The dashboard and the browser client, compiled into the binary: no CDN, no build step.
//!
//! Each file is served with a strong `ETag` (a hash of its bytes, computed once) and
//! `Cache-Control: no-cache`: a browser keeps it but asks again each time, and a request whose
//! `If-None-Match` names the file's tag gets `304 Not Modified` without the bytes. A new binary
//! with changed files has new tags, so nobody runs stale code.

use std::sync::OnceLock;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use sha2::{Digest, Sha256};

use super::body::Body;

/// One served file.
#[derive(Debug, PartialEq, Eq)]
pub struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("assets/index.html"),
    },
    Asset {
        path: "/dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/dashboard.js"),
    },
    Asset {
        path: "/dashboard-lib.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/dashboard-lib.js"),
    },
    Asset {
        path: "/dashboard-job.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/dashboard-job.js"),
    },
    Asset {
        path: "/dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("assets/dashboard.css"),
    },
    Asset {
        path: "/jobcast.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/jobcast.js"),
    },
    Asset {
        path: "/jobcast.d.ts",
        content_type: "application/typescript; charset=utf-8",
        body: include_str!("assets/jobcast.d.ts"),
    },
];

impl Asset {
    /// Where it is served.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// Its `Content-Type`.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// Its strong entity tag, quoted: the first 128 bits of the SHA-256 of its bytes, in hex.
    pub fn etag(&self) -> &'static str {
        static TAGS: OnceLock<Vec<String>> = OnceLock::new();
        let tags = TAGS.get_or_init(|| {
            ASSETS
                .iter()
                .map(|asset| {
                    let digest = Sha256::digest(asset.body.as_bytes());
                    format!("\"{}\"", hex::encode(&digest[..16]))
                })
                .collect()
        });
        let index = ASSETS
            .iter()
            .position(|asset| asset == self)
            .expect("an asset of the table");
        &tags[index]
    }
}

/// Whether `If-None-Match` in `headers` names `etag` (or is `*`): the weak comparison RFC 9110
/// asks for here, so `W/"tag"` matches too. A header that is not text matches nothing.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Every served file.
pub fn all() -> &'static [Asset] {
    ASSETS
}

/// The asset served at `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

/// The file, or `304 Not Modified` when the request's `If-None-Match` names its tag.
pub fn response(asset: &Asset, request: &HeaderMap) -> Response<Body> {
    let etag = asset.etag();
    let mut response = if none_match(request, etag) {
        let mut response = Response::new(Empty::new().boxed_unsync());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response =
            Response::new(Full::new(Bytes::from_static(asset.body.as_bytes())).boxed_unsync());
        *response.status_mut() = StatusCode::OK;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_static(etag));
    // Small and versioned with the binary: kept, but revalidated on every use.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_file_has_its_own_strong_tag() {
        let tags: std::collections::HashSet<&str> = all().iter().map(Asset::etag).collect();
        assert_eq!(tags.len(), all().len());
        for tag in tags {
            assert!(
                tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34,
                "{tag}"
            );
        }
    }

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let tag = "\"abc\"";
        let headers = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
            headers
        };
        assert!(none_match(&headers("\"x\", \"abc\""), tag));
        assert!(none_match(&headers("W/\"abc\""), tag));
        assert!(none_match(&headers("*"), tag));
        assert!(!none_match(&headers("\"abcd\""), tag));
        assert!(!none_match(&headers("abc"), tag));
        assert!(!none_match(&HeaderMap::new(), tag));
    }
}
