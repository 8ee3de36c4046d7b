//! The API's error type and its one mapping to a status code and a JSON body
//! `{"error": code, "message": text}`.

use http::StatusCode;

use crate::runner::external::UpdateRefused;
use crate::store::StoreError;

/// How long a client should wait after a 503 for want of the database: about as long as a
/// database restart or a failover takes to begin answering again.
const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("method {method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    BadRequest(String),
    /// A field has the wrong type or an out-of-range value; `field` names it. In a bulk
    /// create, `index` is the place in `jobs` of the job at fault (see [`ApiError::in_job`]).
    #[error("{field}: {message}")]
    InvalidField {
        field: String,
        message: String,
        index: Option<usize>,
    },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Conflict(String),
    /// JSON nested deeper than the configured limit.
    #[error("the JSON body is nested deeper than {limit} levels")]
    JsonTooDeep { limit: usize },
    #[error("the request headers are larger than {limit} bytes")]
    HeadersTooLarge { limit: usize },
    /// A rate or concurrency limit; the client may try again after `retry_after`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    /// A type's queue is at its limit.
    #[error("{message}")]
    QueueFull {
        message: String,
        retry_after: std::time::Duration,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// Something broke inside (a failed query, a corrupt row); the cause is logged, never
    /// sent. Trying again will not help, so it is not a 503.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database could not be reached, or this node is shutting down: worth trying again
    /// shortly (here or on another node), as `Retry-After` says.
    #[error("the database is not available")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database went away while committing the request's write and never said whether
    /// it did: a 503 like [`ApiError::Unavailable`], whose message says the write may stand.
    #[error("the database went away while committing, and whether the request was applied is unknown: read the job, or send it again with the same Idempotency-Key")]
    Unconfirmed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidField {
            field: field.into(),
            message: message.into(),
            index: None,
        }
    }

    /// This error, about the job at `index` of a bulk create: an invalid field is named from
    /// the request's top (`type` becomes `jobs[3].type`, the whole job `jobs[3]`) and carries
    /// the index. Other errors are not about one job and stay as they are.
    pub fn in_job(self, index: usize) -> Self {
        match self {
            ApiError::InvalidField { field, message, .. } => {
                let field = match field.as_str() {
                    // What `body::parse` calls the whole of what it read.
                    "body" | "" => format!("jobs[{index}]"),
                    field => format!("jobs[{index}].{field}"),
                };
                ApiError::InvalidField {
                    field,
                    message,
                    index: Some(index),
                }
            }
            other => other,
        }
    }

    pub fn job_not_found() -> Self {
        ApiError::NotFound("job not found".to_owned())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::MalformedJson(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::JsonTooDeep { .. } => StatusCode::BAD_REQUEST,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::QueueFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) | ApiError::Unconfirmed(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The machine-readable `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Conflict(_) => "conflict",
            ApiError::JsonTooDeep { .. } => "json_too_deep",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::QueueFull { .. } => "queue_full",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Internal(_) => "internal",
            ApiError::Unavailable(_) | ApiError::Unconfirmed(_) => "unavailable",
        }
    }

    /// How long the client should wait before trying again, for the limits where waiting helps.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ApiError::TooManyRequests { retry_after, .. }
            | ApiError::QueueFull { retry_after, .. } => Some(*retry_after),
            ApiError::Unavailable(_) | ApiError::Unconfirmed(_) => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        }
    }

    /// The JSON body; for `invalid_field` it names the field too, and in a bulk create the
    /// `index` of the job at fault.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({"error": self.code(), "message": self.to_string()});
        if let ApiError::InvalidField { field, index, .. } = self {
            body["field"] = serde_json::Value::String(field.clone());
            if let Some(index) = index {
                body["index"] = serde_json::Value::from(*index);
            }
        }
        body
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::job_not_found(),
            StoreError::Conflict { status, .. } => {
                ApiError::Conflict(format!("the job is {status}"))
            }
            StoreError::Family(message) => ApiError::Conflict(message),
            // Only a database that is away (or a node going away) is worth a retry; any other
            // failure would fail again, and a client told 503 would retry it forever.
            error if error.is_transient() => ApiError::Unavailable(Box::new(error)),
            StoreError::Closed => ApiError::Unavailable(Box::new(StoreError::Closed)),
            error @ StoreError::Unconfirmed(_) => ApiError::Unconfirmed(Box::new(error)),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<UpdateRefused> for ApiError {
    fn from(error: UpdateRefused) -> Self {
        match error {
            UpdateRefused::Store(error) => error.into(),
            refused => ApiError::Conflict(refused.to_string()),
        }
    }
}
