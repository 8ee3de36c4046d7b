//! Request bodies in, response bodies out: size limits, JSON parsing with field-naming errors,
//! and the one boxed body type every response uses.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;

/// The body of every response: a full JSON body or an SSE stream.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

pub fn empty() -> Body {
    Empty::new().boxed_unsync()
}

/// A JSON response.
pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The JSON answer for an error.
pub fn error(error: &ApiError) -> Response<Body> {
    let mut response = json(error.status(), &error.body());
    if let ApiError::MethodNotAllowed { allow, .. } = error {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if let Some(wait) = error.retry_after() {
        // Whole seconds, rounded up: "0" would invite an immediate retry.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    if let ApiError::Unauthorized(_) = error {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"jobcast\""),
        );
    }
    response
}

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read(
    body: Incoming,
    headers: &http::HeaderMap,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::PayloadTooLarge { limit })
        }
        Err(_) => Err(ApiError::BadRequest(
            "could not read the request body".to_owned(),
        )),
    }
}

/// How deeply arrays and objects nest in `bytes`, read as JSON text: brackets inside strings do
/// not count. Stops early once past `limit`, so a hostile body costs one pass at most.
pub fn json_depth(bytes: &[u8], limit: usize) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > limit {
                    break;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// [`parse`], after refusing JSON nested deeper than `max_depth` (400 `json_too_deep`).
pub fn parse_limited<T: DeserializeOwned>(bytes: &[u8], max_depth: usize) -> Result<T, ApiError> {
    if json_depth(bytes, max_depth) > max_depth {
        return Err(ApiError::JsonTooDeep { limit: max_depth });
    }
    parse(bytes)
}

/// Parses a JSON object body into `T`. Malformed JSON is 400; valid JSON of the wrong shape is
/// 422 naming the field. An empty body counts as `{}`.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::MalformedJson(format!("request body is not valid JSON: {e}")))?
    };
    from_value(value)
}

/// Reads a JSON object, already parsed, into `T`: valid JSON of the wrong shape is 422 naming
/// the field (`body` for what is not an object at all).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid("body", "expected a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = if path == "." {
            // Missing or unknown fields are reported at the top; the message names them.
            field_from_message(&message).unwrap_or_else(|| "body".to_owned())
        } else {
            path
        };
        ApiError::invalid(field, message)
    })
}

/// Pulls the field name out of serde's "missing field `x`" / "unknown field `x`" messages.
fn field_from_message(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        count: Option<i64>,
    }

    fn field(bytes: &str) -> String {
        match parse::<Sample>(bytes.as_bytes()).unwrap_err() {
            ApiError::InvalidField { field, .. } => field,
            other => panic!("expected invalid field, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field(r#"{"name": 1}"#), "name");
        assert_eq!(field(r#"{"name": "a", "count": "x"}"#), "count");
        assert_eq!(field(r#"{"count": 1}"#), "name");
        assert_eq!(field(r#"{"name": "a", "cuont": 1}"#), "cuont");
        assert_eq!(field("[1, 2]"), "body");
    }

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert_eq!(json_depth(b"{}", 10), 1);
        assert_eq!(json_depth(br#"{"a": [1, {"b": []}]}"#, 10), 4);
        assert_eq!(json_depth(br#"{"a": "[[[[[[{{{{"}"#, 10), 1);
        assert_eq!(json_depth(br#"{"a": "\"[[[["}"#, 10), 1);
        assert_eq!(json_depth(br#"["\\", [[]]]"#, 10), 3);
        assert_eq!(json_depth("[".repeat(1_000_000).as_bytes(), 32), 33);
        assert!(matches!(
            parse_limited::<Sample>(
                format!("{{\"name\": {}1{}}}", "[".repeat(40), "]".repeat(40)).as_bytes(),
                32
            ),
            Err(ApiError::JsonTooDeep { limit: 32 })
        ));
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        assert!(matches!(
            parse::<Sample>(b"{\"name\":"),
            Err(ApiError::MalformedJson(_))
        ));
        let deep = "[".repeat(10_000);
        assert!(matches!(
            parse::<Sample>(deep.as_bytes()),
            Err(ApiError::MalformedJson(_))
        ));
    }
}
