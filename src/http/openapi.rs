//! The API's OpenAPI 3.2 document: `openapi.json`, kept by hand beside this file, and served at
//! `GET /openapi.json` with this server's own job types, log line limit and most jobs per bulk
//! create filled in.
//!
//! It documents exactly the routes of [`super::routes::ROUTES`] (`tests/api/openapi.rs` checks
//! it).

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::Response;
use http_body_util::{BodyExt, Full};

use super::body::Body;
use super::AppState;

/// The OpenAPI 3.2 document of this API, kept by hand next to this file. It describes a server
/// with the built-in job types and default limits; [`openapi_document`] fills in a server's own.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Which of a server's declared job types a list in the document names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeList {
    /// Every declared type: what `POST /api/jobs` takes.
    All,
    /// Types of the `demo` kind, whose payload is a `DemoPayload`.
    Demo,
    /// Types of the other kinds.
    NotDemo,
    /// Types outside code runs (`external`): what a worker may claim.
    External,
}

/// The `enum`s in the document that list job types.
pub const DOCUMENT_TYPE_LISTS: &[(&str, TypeList)] = &[
    (
        "/components/schemas/CreateJob/properties/type/enum",
        TypeList::All,
    ),
    (
        "/components/schemas/CreateJob/anyOf/0/properties/type/enum",
        TypeList::Demo,
    ),
    (
        "/components/schemas/CreateJob/anyOf/1/properties/type/enum",
        TypeList::NotDemo,
    ),
    (
        "/components/schemas/ClaimBody/properties/types/items/enum",
        TypeList::External,
    ),
    (
        "/components/schemas/BulkCancel/properties/type/enum",
        TypeList::All,
    ),
    (
        "/components/schemas/BulkRetry/properties/type/enum",
        TypeList::All,
    ),
];

/// The `maxLength`s in the document that are `limits.max_log_line_bytes`.
pub const DOCUMENT_LOG_LINE_LIMITS: &[&str] = &[
    "/components/schemas/ProgressBody/properties/message/maxLength",
    "/components/schemas/LogBody/properties/message/maxLength",
    "/components/schemas/FailBody/properties/error/maxLength",
];

/// The `maxItems` in the document that are the most jobs one bulk create may hold
/// ([`super::jobs::max_bulk_jobs`]).
pub const DOCUMENT_BULK_LIMITS: &[&str] = &[
    "/components/schemas/BulkCreate/properties/jobs/maxItems",
    "/components/schemas/SpawnChildren/properties/children/maxItems",
];

/// The names of the declared types in `list`.
pub fn type_list(types: &crate::runner::JobTypes, list: TypeList) -> Vec<&str> {
    types
        .names()
        .filter(|name| {
            let Some(t) = types.get(name) else {
                return false;
            };
            let demo = t.config.kind == crate::config::JobKind::Demo;
            match list {
                TypeList::All => true,
                TypeList::Demo => demo,
                TypeList::NotDemo => !demo,
                TypeList::External => t.handler.is_none(),
            }
        })
        .collect()
}

/// The document as this server serves it: [`OPENAPI_JSON`] with the job types it declares, its
/// log line limit and the most jobs it takes in one bulk create, so that a request the
/// document allows is one the server takes.
pub fn openapi_document(
    types: &crate::runner::JobTypes,
    max_log_line_bytes: usize,
    max_bulk_jobs: usize,
) -> Vec<u8> {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(OPENAPI_JSON) else {
        return OPENAPI_JSON.as_bytes().to_vec();
    };
    for (pointer, list) in DOCUMENT_TYPE_LISTS {
        if let Some(slot) = doc.pointer_mut(pointer) {
            *slot = serde_json::json!(type_list(types, *list));
        }
    }
    for pointer in DOCUMENT_LOG_LINE_LIMITS {
        if let Some(slot) = doc.pointer_mut(pointer) {
            *slot = serde_json::json!(max_log_line_bytes);
        }
    }
    for pointer in DOCUMENT_BULK_LIMITS {
        if let Some(slot) = doc.pointer_mut(pointer) {
            *slot = serde_json::json!(max_bulk_jobs);
        }
    }
    serde_json::to_vec(&doc).unwrap_or_else(|_| OPENAPI_JSON.as_bytes().to_vec())
}

/// `GET /openapi.json`: the API document, public like `/healthz`.
pub fn openapi(state: &AppState) -> Response<Body> {
    let (max_bulk_jobs, _) = super::jobs::max_bulk_jobs(state);
    let document = openapi_document(
        &state.types,
        state.limits.config.max_log_line_bytes,
        max_bulk_jobs,
    );
    let mut response = Response::new(Full::new(Bytes::from(document)).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
