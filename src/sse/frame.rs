//! Encoding of SSE frames (the `text/event-stream` format from the HTML standard).
//!
//! Field values that cannot hold a line break (event name, id) are checked; data is split into
//! one `data:` line per line, so no text can end an event early or add a field. The format
//! cannot carry a carriage return inside data: `\r\n` and `\r` arrive as `\n` (the JSON data
//! jobcast sends escapes them, so it always arrives exactly).

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

/// What a frame built here carries, for counting: its event name, `"heartbeat"` for a comment
/// (the only comments sent are heartbeats), `"retry"` or `"message"` for an unnamed event.
pub fn kind(frame: &[u8]) -> &str {
    if let Some(rest) = frame.strip_prefix(b"event: ") {
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        return std::str::from_utf8(&rest[..end]).unwrap_or("message");
    }
    if frame.starts_with(b":") {
        "heartbeat"
    } else if frame.starts_with(b"retry:") {
        "retry"
    } else {
        "message"
    }
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

    /// What a client following the HTML standard's event-stream rules (section 9.2.6) makes
    /// of some bytes.
    #[derive(Debug, Default, PartialEq)]
    struct Parsed {
        /// Dispatched events: name (`message` when unnamed), last event id, data.
        events: Vec<(String, String, String)>,
        /// The reconnection time from the last valid `retry:` field.
        retry: Option<u64>,
        /// Text after the last line end, not yet a line.
        rest: String,
    }

    /// The standard's parser: lines end at CR LF, LF or CR; a leading BOM is dropped; a blank
    /// line dispatches the event if it has data; `id` persists from event to event and is
    /// ignored if it holds a NUL; unknown fields and comments are ignored.
    fn parse(bytes: &[u8]) -> Parsed {
        let text = std::str::from_utf8(bytes).expect("frames are UTF-8");
        let mut rest = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut parsed = Parsed::default();
        let (mut name, mut data, mut last_id) = (String::new(), String::new(), String::new());
        while let Some(end) = rest.find(['\r', '\n']) {
            let line = &rest[..end];
            rest = &rest[end
                + if rest[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                }..];
            if line.is_empty() {
                if !data.is_empty() {
                    if data.ends_with('\n') {
                        data.pop();
                    }
                    let name = if name.is_empty() { "message" } else { &name };
                    parsed
                        .events
                        .push((name.to_owned(), last_id.clone(), data.clone()));
                }
                data.clear();
                name.clear();
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match field {
                "event" => name = value.to_owned(),
                "data" => {
                    data.push_str(value);
                    data.push('\n');
                }
                "id" if !value.contains('\0') => last_id = value.to_owned(),
                "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                    parsed.retry = value.parse().ok();
                }
                _ => {}
            }
        }
        parsed.rest = rest.to_owned();
        parsed
    }

    #[test]
    fn the_test_parser_follows_the_standard() {
        let parsed = parse(
            "\u{feff}event:a\rid: 1\r\ndata\ndata:  x\n\n: c\nretry: 7\nretry: x\nid: 2\0\n\
             data: y\r\nfoo: z\r\n\r\nevent: b\n\ndata: cut"
                .as_bytes(),
        );
        assert_eq!(
            parsed.events,
            [
                ("a".to_owned(), "1".to_owned(), "\n x".to_owned()),
                ("message".to_owned(), "1".to_owned(), "y".to_owned()),
            ]
        );
        assert_eq!(parsed.retry, Some(7));
        assert_eq!(parsed.rest, "data: cut");
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use super::parse;

        /// Text built from SSE's own syntax, line ends of every kind, characters other
        /// formats treat as line ends, and anything else.
        fn tricky() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("\r"),
                Just("\n"),
                Just("\r\n"),
                Just("\n\n"),
                Just("event:"),
                Just("event: completed"),
                Just("data:"),
                Just("data: "),
                Just("id:"),
                Just("id: 999"),
                Just("retry:"),
                Just("retry: 1"),
                Just(":"),
                Just(" "),
                Just("\u{2028}"),
                Just("\u{2029}"),
                Just("\u{85}"),
                Just("\u{feff}"),
                Just("\0"),
                Just("{}"),
            ]
            .prop_map(str::to_owned);
            prop::collection::vec(prop_oneof![3 => piece, 1 => any::<String>()], 0..12)
                .prop_map(|pieces| pieces.concat())
        }

        /// A name or id that may be sent: no CR or LF (an id no NUL either). Names are not
        /// empty: `event:` with nothing after it means `message`.
        fn field(allow_nul: bool) -> impl Strategy<Value = String> {
            tricky().prop_map(move |text| {
                text.chars()
                    .filter(|c| !matches!(c, '\r' | '\n') && (allow_nul || *c != '\0'))
                    .collect()
            })
        }

        fn name() -> impl Strategy<Value = String> {
            field(true).prop_filter("names are not empty", |name| !name.is_empty())
        }

        /// What a client reads back for `data`: SSE has no way to carry a CR in data, so every
        /// line end arrives as LF.
        fn as_read(data: &str) -> String {
            data.replace("\r\n", "\n").replace('\r', "\n")
        }

        /// Text with one line end in it somewhere.
        fn broken() -> impl Strategy<Value = String> {
            (
                tricky(),
                prop_oneof![Just("\r"), Just("\n"), Just("\r\n")],
                tricky(),
            )
                .prop_map(|(before, end, after)| format!("{before}{end}{after}"))
        }

        proptest! {
            #[test]
            fn one_event_comes_back_with_its_name_id_and_data(
                data in tricky(),
                name in proptest::option::of(name()),
                id in proptest::option::of(field(false)),
            ) {
                let mut event = Event::new(data.clone());
                if let Some(name) = &name {
                    event = event.name(name).unwrap();
                }
                if let Some(id) = &id {
                    event = event.id(id).unwrap();
                }
                let parsed = parse(&event.encode());
                let expected = (
                    name.unwrap_or_else(|| "message".to_owned()),
                    id.unwrap_or_default(),
                    as_read(&data),
                );
                prop_assert_eq!(parsed.events, vec![expected]);
                prop_assert_eq!(parsed.retry, None);
                prop_assert_eq!(parsed.rest, "");
            }

            #[test]
            fn json_data_comes_back_exactly(text in tricky()) {
                let event = Event::json(&serde_json::json!({"message": text}))
                    .name("progress")
                    .unwrap()
                    .id("7")
                    .unwrap();
                let parsed = parse(&event.encode());
                prop_assert_eq!(parsed.events.len(), 1);
                let data: serde_json::Value = serde_json::from_str(&parsed.events[0].2).unwrap();
                prop_assert_eq!(&data["message"], &serde_json::Value::String(text));
            }

            #[test]
            fn a_run_of_frames_comes_back_event_by_event(
                frames in prop::collection::vec(
                    (tricky(), proptest::option::of(name()), proptest::option::of(field(false)), tricky()),
                    1..6,
                ),
                wait in 0u64..100_000,
            ) {
                let mut bytes = retry(Duration::from_millis(wait)).to_vec();
                let mut expected = Vec::new();
                let mut last_id = String::new();
                for (data, name, id, remark) in frames {
                    bytes.extend_from_slice(&comment(&remark));
                    let mut event = Event::new(data.clone());
                    if let Some(name) = &name {
                        event = event.name(name).unwrap();
                    }
                    if let Some(id) = id {
                        event = event.id(&id).unwrap();
                        last_id = id;
                    }
                    bytes.extend_from_slice(&event.encode());
                    expected.push((
                        name.unwrap_or_else(|| "message".to_owned()),
                        last_id.clone(),
                        as_read(&data),
                    ));
                }
                let parsed = parse(&bytes);
                prop_assert_eq!(parsed.events, expected);
                prop_assert_eq!(parsed.retry, Some(wait));
                prop_assert_eq!(parsed.rest, "");
            }

            #[test]
            fn a_comment_is_never_an_event(text in tricky()) {
                let parsed = parse(&comment(&text));
                prop_assert!(parsed.events.is_empty());
                prop_assert_eq!(parsed.retry, None);
                prop_assert_eq!(parsed.rest, "");
            }

            #[test]
            fn names_and_ids_with_a_line_end_are_refused(text in broken()) {
                prop_assert_eq!(
                    Event::new("x").name(&text).unwrap_err(),
                    InvalidField { field: "event name" }
                );
                prop_assert_eq!(
                    Event::new("x").id(&text).unwrap_err(),
                    InvalidField { field: "id" }
                );
            }
        }
    }
}
