//! The events a watch reads: one SSE event as the client sees it, the blocks of a stream body
//! (parsed by the `sse-stream` crate), and the terminal event a finished job stands for.
//!
//! Reading connections and reconnecting is [`super::watch`]'s; printing is
//! [`super::render`]'s.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};

/// One SSE event.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SseEvent {
    pub(super) name: String,
    pub(super) id: Option<String>,
    pub(super) data: Value,
}

impl SseEvent {
    pub(super) fn is_terminal(&self) -> bool {
        matches!(self.name.as_str(), "completed" | "failed")
    }
}

/// One block of an event stream, as a watch uses it.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Block {
    /// The `retry:` field: the reconnection delay from now on.
    pub(super) retry: Option<Duration>,
    /// The event, if the block carries data (a block of only `id:` or `retry:` dispatches
    /// none, as in `EventSource`).
    pub(super) event: Option<SseEvent>,
}

impl From<sse_stream::Sse> for Block {
    fn from(sse: sse_stream::Sse) -> Self {
        Block {
            retry: sse.retry.map(Duration::from_millis),
            event: sse.data.map(|data| SseEvent {
                name: sse
                    .event
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| "message".to_owned()),
                id: sse.id,
                data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
            }),
        }
    }
}

/// The blocks of an event-stream body, parsed by `sse-stream` (CR, LF or CRLF line ends,
/// UTF-8 characters split across chunks, comments skipped). Ends at the body's end; a broken
/// body is one error, then the end.
pub(super) fn blocks<S, E>(body: S) -> impl Stream<Item = Result<Block, sse_stream::Error>>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    sse_stream::SseByteStream::new(body).map(|block| block.map(Block::from))
}

/// The terminal event the stream would have sent for `job`, if it has ended.
pub(super) fn terminal_event(job: &Value) -> Option<SseEvent> {
    let status = job["status"].as_str()?;
    let id = job["version"].as_i64().map(|v| v.to_string());
    let (name, data) = match status {
        "completed" => (
            "completed",
            json!({"status": status, "progress": 100.0, "result": job["result"]}),
        ),
        "failed" | "cancelled" => {
            let mut data = json!({
                "status": status,
                "error": job["error"].as_str().unwrap_or(status),
            });
            if !job["details"].is_null() {
                data["details"] = job["details"].clone();
            }
            ("failed", data)
        }
        _ => return None,
    };
    Some(SseEvent {
        name: name.to_owned(),
        id,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `chunks` through the stream adapter.
    async fn read_blocks(chunks: &[&[u8]]) -> Vec<Block> {
        let chunks: Vec<Result<Bytes, std::convert::Infallible>> = chunks
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        blocks(futures_util::stream::iter(chunks))
            .map(|block| block.unwrap())
            .collect()
            .await
    }

    #[tokio::test]
    async fn the_stream_adapter_reads_crlf_and_a_character_split_across_chunks() {
        let text = "retry: 150\r\n\r\n: heartbeat\r\n\r\nevent: log\r\nid: 7\r\n\
                    data: {\"message\":\"caf\u{e9} \u{2713}\"}\r\n\r\nevent: progress\rid: 8\r\
                    data: {\"progress\":5}\r\r";
        let bytes = text.as_bytes();
        // Cut inside the two bytes of "é" and between a CR and its LF.
        let e_acute = text.find('\u{e9}').unwrap() + 1;
        let crlf = text.find("\r\n\r\nevent: log").unwrap() + 1;
        let got = read_blocks(&[&bytes[..crlf], &bytes[crlf..e_acute], &bytes[e_acute..]]).await;
        assert_eq!(
            got,
            [
                Block {
                    retry: Some(Duration::from_millis(150)),
                    event: None
                },
                Block {
                    retry: None,
                    event: Some(SseEvent {
                        name: "log".into(),
                        id: Some("7".into()),
                        data: json!({"message": "caf\u{e9} \u{2713}"}),
                    })
                },
                Block {
                    retry: None,
                    event: Some(SseEvent {
                        name: "progress".into(),
                        id: Some("8".into()),
                        data: json!({"progress": 5}),
                    })
                },
            ]
        );
    }

    #[test]
    fn the_end_of_a_job_read_after_a_204_is_its_terminal_event() {
        let completed = terminal_event(&json!({"status": "completed", "result": 1, "version": 9}));
        assert_eq!(
            completed,
            Some(SseEvent {
                name: "completed".into(),
                id: Some("9".into()),
                data: json!({"status": "completed", "progress": 100.0, "result": 1}),
            })
        );
        let cancelled = terminal_event(&json!({"status": "cancelled", "version": 3})).unwrap();
        assert_eq!(
            (cancelled.name.as_str(), &cancelled.data["error"]),
            ("failed", &json!("cancelled"))
        );
        assert_eq!(terminal_event(&json!({"status": "running"})), None);
    }
}
