//! Encoding of SSE frames (the `text/event-stream` format from the HTML standard).
//!
//! Field values that cannot hold a line break (event name, id) are checked; data is split into
//! one `data:` line per line so any text survives the trip.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

/// An event name or id contained a line break, which would end the field early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SSE {field} must not contain CR or LF")]
pub struct InvalidField {
    pub field: &'static str,
}

/// One SSE event: optional name and id, then data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    name: Option<String>,
    id: Option<String>,
    data: String,
}

fn check(field: &'static str, value: &str) -> Result<(), InvalidField> {
    if value.contains(['\r', '\n']) {
        Err(InvalidField { field })
    } else {
        Ok(())
    }
}

impl Event {
    /// An event carrying `data` as is.
    pub fn new(data: impl Into<String>) -> Self {
        Event {
            name: None,
            id: None,
            data: data.into(),
        }
    }

    /// An event whose data is `value` as JSON on one line.
    pub fn json(value: &impl Serialize) -> Self {
        // Serializing our own plain structs cannot fail.
        Self::new(serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
    }

    /// Sets the `event:` field, which `EventSource.addEventListener(name, ...)` listens for.
    pub fn name(mut self, name: &str) -> Result<Self, InvalidField> {
        check("event name", name)?;
        self.name = Some(name.to_owned());
        Ok(self)
    }

    /// Sets the `id:` field, which a reconnecting `EventSource` sends back as `Last-Event-ID`.
    pub fn id(mut self, id: &str) -> Result<Self, InvalidField> {
        check("id", id)?;
        if id.contains('\0') {
            return Err(InvalidField { field: "id" });
        }
        self.id = Some(id.to_owned());
        Ok(self)
    }

    /// The frame as sent: fields, one `data:` line per line of data, a blank line.
    pub fn encode(&self) -> Bytes {
        let mut out = String::with_capacity(self.data.len() + 32);
        if let Some(name) = &self.name {
            out.push_str("event: ");
            out.push_str(name);
            out.push('\n');
        }
        if let Some(id) = &self.id {
            out.push_str("id: ");
            out.push_str(id);
            out.push('\n');
        }
        // "\r\n", "\r" and "\n" all end a line in SSE; normalise so each line gets its field.
        let data = self.data.replace("\r\n", "\n").replace('\r', "\n");
        for line in data.split('\n') {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        Bytes::from(out)
    }
}

/// A comment frame such as `: heartbeat`; clients ignore it, proxies see traffic.
pub fn comment(text: &str) -> Bytes {
    let mut out = String::with_capacity(text.len() + 4);
    for line in text.replace("\r\n", "\n").replace('\r', "\n").split('\n') {
        out.push_str(": ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// The `retry:` field: how long a client waits before reconnecting.
pub fn retry(after: Duration) -> Bytes {
    Bytes::from(format!("retry: {}\n\n", after.as_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_has_its_name_id_and_data_then_a_blank_line() {
        let frame = Event::new("{\"a\":1}")
            .name("progress")
            .unwrap()
            .id("7")
            .unwrap()
            .encode();
        assert_eq!(frame, "event: progress\nid: 7\ndata: {\"a\":1}\n\n");
    }

    #[test]
    fn data_with_line_breaks_becomes_one_data_line_each() {
        let frame = Event::new("one\ntwo\r\nthree\rfour").encode();
        assert_eq!(frame, "data: one\ndata: two\ndata: three\ndata: four\n\n");
    }

    #[test]
    fn empty_data_is_still_a_data_line() {
        assert_eq!(Event::new("").encode(), "data: \n\n");
    }

    #[test]
    fn names_and_ids_with_line_breaks_are_refused() {
        assert_eq!(
            Event::new("x").name("a\nb").unwrap_err(),
            InvalidField {
                field: "event name"
            }
        );
        assert_eq!(
            Event::new("x").id("1\r").unwrap_err(),
            InvalidField { field: "id" }
        );
        assert!(Event::new("x").id("1\0").is_err());
    }

    #[test]
    fn json_data_stays_on_one_line() {
        let frame = Event::json(&serde_json::json!({"message": "line\nbreak"})).encode();
        assert_eq!(frame, "data: {\"message\":\"line\\nbreak\"}\n\n");
    }

    #[test]
    fn comments_and_retry_have_their_own_frames() {
        assert_eq!(comment("heartbeat"), ": heartbeat\n\n");
        assert_eq!(comment("a\nb"), ": a\n: b\n\n");
        assert_eq!(retry(Duration::from_secs(2)), "retry: 2000\n\n");
    }
}
