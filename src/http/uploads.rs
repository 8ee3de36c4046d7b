//! `POST /api/uploads`: a file for a job to work on, sent as the raw body (its `Content-Type`
//! kept) or as the first file of a `multipart/form-data` form (a plain `<input type="file">`).
//! The bytes stream to disk, never held in memory; a job names the upload in its payload's
//! `upload_id`.

use futures_util::{StreamExt, TryStreamExt};
use http::header::{self, HeaderMap};
use http::{Request, Response, StatusCode};
use http_body_util::BodyStream;
use hyper::body::Incoming;

use super::body::{self, Body};
use super::error::ApiError;
use super::AppState;
use crate::job::Timestamp;
use crate::store::Upload;
use crate::uploads::UploadError;

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn upload_error(error: UploadError) -> ApiError {
    match error {
        UploadError::TooLarge { limit } => ApiError::PayloadTooLarge {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        },
        UploadError::Body(message) => ApiError::BadRequest(message),
        UploadError::Io(error) => ApiError::Internal(Box::new(error)),
    }
}

/// `POST /api/uploads`
pub async fn create(state: &AppState, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, incoming) = req.into_parts();
    let limit = state.uploads.max_bytes();
    let declared =
        header_text(&parts.headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        });
    }
    let content_type = header_text(&parts.headers, header::CONTENT_TYPE);
    let bytes = BodyStream::new(incoming)
        .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
        .boxed();
    let boundary = content_type
        .as_deref()
        .and_then(|ct| multer::parse_boundary(ct).ok());
    let (received, content_type, filename) = match boundary {
        Some(boundary) => {
            let mut form = multer::Multipart::new(bytes, boundary);
            let field = loop {
                match form.next_field().await {
                    Ok(Some(field))
                        if field.file_name().is_some() || field.name() == Some("file") =>
                    {
                        break field
                    }
                    Ok(Some(_)) => continue,
                    Ok(None) => {
                        return Err(ApiError::invalid("file", "the form has no file field"))
                    }
                    Err(error) => {
                        return Err(ApiError::BadRequest(format!("bad multipart body: {error}")))
                    }
                }
            };
            let content_type = field.content_type().map(|m| m.to_string());
            let filename = field.file_name().map(str::to_owned);
            let received = state.uploads.receive(field).await.map_err(upload_error)?;
            (received, content_type, filename)
        }
        None => {
            let received = state.uploads.receive(bytes).await.map_err(upload_error)?;
            (received, content_type, None)
        }
    };
    let upload = Upload {
        id: received.id,
        size: i64::try_from(received.size).unwrap_or(i64::MAX),
        sha256: received.sha256,
        content_type,
        filename,
        created_at: Timestamp::now(),
    };
    if let Err(error) = state.store.insert_upload(&upload).await {
        state.uploads.remove(std::slice::from_ref(&upload.id));
        return Err(error.into());
    }
    Ok(body::json(StatusCode::CREATED, &upload))
}
