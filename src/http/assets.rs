//! The dashboard and the browser client, compiled into the binary: no CDN, no build step.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};

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
}

/// Every served file.
pub fn all() -> &'static [Asset] {
    ASSETS
}

/// The asset served at `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

pub fn response(asset: &Asset) -> Response<Body> {
    let mut response =
        Response::new(Full::new(Bytes::from_static(asset.body.as_bytes())).boxed_unsync());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // Small and versioned with the binary: revalidate rather than cache stale code.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}
