//! `sse_frame`: arbitrary strings through jobcast's SSE encoder (`jobcast::sse::frame`), the
//! output parsed by the event-stream rules of the HTML standard (§9.2.6 "Interpreting an
//! event stream"), as a browser's `EventSource` would.
//!
//! Checked for every input:
//! - `Event::name` / `Event::id` refuse exactly the values the format cannot carry (CR or LF;
//!   for an id also NUL, which the standard says to ignore) and accept everything else;
//! - the frame is UTF-8 and dispatches exactly one event, with nothing left pending;
//! - that event's data, type and last event id are the ones given. Data is compared after
//!   jobcast's documented line-break normalisation ("\r\n" and "\r" become "\n"): the format
//!   has no way to carry a CR inside data, so this is the best any encoder can do;
//! - the same holds with a `comment()` frame and a `retry()` frame in front, and a comment
//!   frame on its own dispatches nothing.

#![no_main]

use std::time::Duration;

use jobcast::sse::frame::{comment, retry, Event};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    data: String,
    name: Option<String>,
    id: Option<String>,
    comment: String,
    retry_ms: u32,
}

/// One dispatched event, as `EventSource` would fire it.
#[derive(Debug, PartialEq, Eq)]
struct Dispatched {
    /// The event type buffer; empty means the default type, `message`.
    event_type: String,
    data: String,
    last_event_id: String,
}

#[derive(Debug, Default)]
struct Parsed {
    events: Vec<Dispatched>,
    /// The last `retry:` value that was all ASCII digits.
    retry: Option<String>,
    /// Data or an event type left in the buffers when the stream ended (the standard
    /// discards it).
    pending: bool,
}

/// The standard's parser: lines end at CRLF, LF or CR; a blank line dispatches.
fn parse(stream: &str) -> Parsed {
    let stream = stream.strip_prefix('\u{FEFF}').unwrap_or(stream);
    let mut parsed = Parsed::default();
    let mut data = String::new();
    let mut event_type = String::new();
    let mut last_event_id_buffer = String::new();

    let mut rest = stream;
    let mut lines = Vec::new();
    while let Some(end) = rest.find(['\r', '\n']) {
        lines.push(&rest[..end]);
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
    }
    // `rest` is an unterminated last line: the standard only processes complete lines.
    let trailing = rest;

    for line in lines {
        if line.is_empty() {
            // Dispatch.
            let last_event_id = last_event_id_buffer.clone();
            if data.is_empty() {
                event_type.clear();
                continue;
            }
            if data.ends_with('\n') {
                data.pop();
            }
            parsed.events.push(Dispatched {
                event_type: std::mem::take(&mut event_type),
                data: std::mem::take(&mut data),
                last_event_id,
            });
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.find(':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line, ""),
        };
        match field {
            "event" => event_type = value.to_owned(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => last_event_id_buffer = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                parsed.retry = Some(value.to_owned());
            }
            _ => {}
        }
    }
    parsed.pending = !data.is_empty() || !event_type.is_empty() || !trailing.is_empty();
    parsed
}

fn utf8(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("an SSE frame built from Rust strings is UTF-8")
}

fuzz_target!(|input: Input| {
    let mut event = Event::new(input.data.clone());
    let mut expected_type = String::new();
    let mut expected_id = String::new();

    if let Some(name) = &input.name {
        let refuse = name.contains(['\r', '\n']);
        match event.clone().name(name) {
            Ok(named) => {
                assert!(
                    !refuse,
                    "Event::name accepted {name:?}, which holds a line break"
                );
                event = named;
                expected_type = name.clone();
            }
            Err(error) => assert!(refuse, "Event::name refused {name:?}: {error}"),
        }
    }
    if let Some(id) = &input.id {
        let refuse = id.contains(['\r', '\n', '\0']);
        match event.clone().id(id) {
            Ok(with_id) => {
                assert!(
                    !refuse,
                    "Event::id accepted {id:?}, which an EventSource cannot keep"
                );
                event = with_id;
                expected_id = id.clone();
            }
            Err(error) => assert!(refuse, "Event::id refused {id:?}: {error}"),
        }
    }
    let expected = Dispatched {
        event_type: expected_type,
        data: input.data.replace("\r\n", "\n").replace('\r', "\n"),
        last_event_id: expected_id,
    };

    // The frame alone.
    let frame = event.encode();
    let parsed = parse(utf8(&frame));
    assert_eq!(
        parsed.events,
        [expected],
        "frame {frame:?} from {input:?} did not parse back to exactly one identical event"
    );
    assert!(!parsed.pending, "frame {frame:?} left data pending");

    // A comment dispatches nothing and leaves nothing behind.
    let note = comment(&input.comment);
    let parsed_note = parse(utf8(&note));
    assert!(
        parsed_note.events.is_empty() && !parsed_note.pending && parsed_note.retry.is_none(),
        "comment {note:?} from {:?} was not a pure comment: {parsed_note:?}",
        input.comment
    );

    // Comment, retry and event back to back, as a stream sends them.
    let after = Duration::from_millis(u64::from(input.retry_ms));
    let mut stream = Vec::new();
    stream.extend_from_slice(&note);
    stream.extend_from_slice(&retry(after));
    stream.extend_from_slice(&frame);
    let parsed_stream = parse(utf8(&stream));
    assert_eq!(parsed_stream.events, parsed.events, "stream {stream:?}");
    assert_eq!(
        parsed_stream.retry,
        Some(after.as_millis().to_string()),
        "retry frame not understood in {stream:?}"
    );
    assert!(!parsed_stream.pending);
});
