//! Running one client command to its end: `submit` (and `submit --watch`), `watch`, `jobs`,
//! `cancel`, `types`, `pause`, `resume` and `schedules`, from the parsed arguments to an
//! [`Outcome`].

use serde_json::{json, Value};

use super::args::ClientCommand;
use super::client::Client;
use super::outcome::{ClientError, Outcome};
use super::render;

impl Client {
    /// Runs one client command to its end.
    pub async fn run(&self, command: ClientCommand) -> Result<Outcome, ClientError> {
        match command {
            ClientCommand::Submit {
                job_type,
                payload,
                payload_file,
                watch,
                json,
            } => {
                let payload = read_payload(payload.as_deref(), payload_file.as_deref())?;
                let job = self.submit(&job_type, payload).await?;
                let id = job["id"].as_str().unwrap_or_default().to_owned();
                if !watch {
                    println!("{id}");
                    return Ok(Outcome::Ok);
                }
                if !json {
                    eprintln!("job {id}");
                }
                self.watch(&id, json).await
            }
            ClientCommand::Watch { id, json } => self.watch(&id, json).await,
            ClientCommand::Jobs {
                status,
                job_type,
                limit,
            } => {
                let page = self
                    .jobs(status.as_deref(), job_type.as_deref(), limit)
                    .await?;
                render::print_jobs(&page);
                Ok(Outcome::Ok)
            }
            ClientCommand::Cancel { id } => {
                let job = self.cancel(&id).await?;
                render::print_status(&job);
                Ok(Outcome::Ok)
            }
            ClientCommand::Types => {
                render::print_types(&self.get("/api/types").await?);
                Ok(Outcome::Ok)
            }
            ClientCommand::Pause { job_type } => {
                let path = format!("/api/types/{}/pause", segment(&job_type));
                render::print_type_state(&self.post(&path).await?);
                Ok(Outcome::Ok)
            }
            ClientCommand::Resume { job_type } => {
                let path = format!("/api/types/{}/resume", segment(&job_type));
                render::print_type_state(&self.post(&path).await?);
                Ok(Outcome::Ok)
            }
            ClientCommand::Schedules => {
                render::print_schedules(&self.get("/api/schedules").await?);
                Ok(Outcome::Ok)
            }
        }
    }
}

/// `text` as one path segment: every byte but unreserved characters percent-encoded.
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads `--payload` or `--payload-file` (neither: `{}`).
fn read_payload(
    inline: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Value, ClientError> {
    let text = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(ClientError::Usage(
                "give --payload or --payload-file, not both".into(),
            ))
        }
        (Some(text), None) => text.to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| ClientError::Usage(format!("cannot read {}: {e}", path.display())))?,
        (None, None) => return Ok(json!({})),
    };
    serde_json::from_str(&text)
        .map_err(|e| ClientError::Usage(format!("the payload is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_come_from_one_place_and_must_be_json() {
        assert_eq!(read_payload(None, None).unwrap(), json!({}));
        assert_eq!(
            read_payload(Some("{\"a\":1}"), None).unwrap(),
            json!({"a": 1})
        );
        assert!(read_payload(Some("{"), None).is_err());
    }
}
