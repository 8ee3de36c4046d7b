//! The registry of declared job types ([`JobTypes`]): each type's settings from the config and,
//! for the kinds this process runs, its handler (the built-in [`Demo`], a [`CommandHandler`]
//! per `command` type, or a `rust` handler registered in code). The runner claims the types
//! that have a handler; outside code drives the rest (`external`).
//!
//! The handler trait itself is [`super::handler`]'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::command::CommandHandler;
use super::demo::Demo;
use super::handler::{ChildTypes, JobError, JobHandler};
use crate::config::{JobKind, JobTypeConfig};

/// One declared job type: its settings and, for in-process kinds, its handler.
#[derive(Clone)]
pub struct JobType {
    pub config: JobTypeConfig,
    /// `None` for `external` types, which outside code drives.
    pub handler: Option<Arc<dyn JobHandler>>,
}

impl std::fmt::Debug for JobType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobType")
            .field("config", &self.config)
            .field("in_process", &self.handler.is_some())
            .finish()
    }
}

/// The declared job types by name.
#[derive(Debug, Clone, Default)]
pub struct JobTypes(BTreeMap<String, JobType>);

impl JobTypes {
    /// The types declared in config, with built-in handlers for built-in kinds and `handlers`
    /// (registered in code) for `rust` types. A handler whose type is not declared gets a type
    /// with default settings.
    pub fn new(
        types: &BTreeMap<String, JobTypeConfig>,
        mut handlers: BTreeMap<String, Arc<dyn JobHandler>>,
    ) -> Result<Self, String> {
        let mut registry = JobTypes::default();
        for (name, config) in types {
            let handler: Option<Arc<dyn JobHandler>> = match config.kind {
                JobKind::Demo => Some(Arc::new(Demo)),
                JobKind::External => None,
                JobKind::Command => Some(Arc::new(CommandHandler::new(config))),
                JobKind::Rust => Some(handlers.remove(name).ok_or_else(|| {
                    format!(
                        "job type {name:?} is declared with kind = \"rust\" but no handler \
                         was registered for it (ApplicationBuilder::handler)"
                    )
                })?),
            };
            if config.kind != JobKind::Rust && handlers.contains_key(name) {
                return Err(format!(
                    "a handler was registered for job type {name:?}, which is declared with \
                     kind = {:?}; declare it with kind = \"rust\"",
                    config.kind
                ));
            }
            registry.0.insert(
                name.clone(),
                JobType {
                    config: config.clone(),
                    handler,
                },
            );
        }
        for (name, handler) in handlers {
            registry.0.insert(
                name,
                JobType {
                    config: JobTypeConfig::new(JobKind::Rust),
                    handler: Some(handler),
                },
            );
        }
        Ok(registry)
    }

    /// The types declared in config, with the built-in handlers.
    pub fn from_config(types: &BTreeMap<String, JobTypeConfig>) -> Result<Self, String> {
        Self::new(types, BTreeMap::new())
    }

    pub fn get(&self, name: &str) -> Option<&JobType> {
        self.0.get(name)
    }

    /// Whether `name` is a declared type that outside code runs (`external`, no handler here).
    pub fn is_external(&self, name: &str) -> bool {
        self.get(name).is_some_and(|t| t.handler.is_none())
    }

    /// Names of the types this process runs itself.
    pub fn in_process(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, t)| t.handler.is_some())
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl ChildTypes for JobTypes {
    fn child_attempts(&self, job_type: &str, payload: &serde_json::Value) -> Result<i64, JobError> {
        let declared = self
            .get(job_type)
            .ok_or_else(|| JobError::permanent(format!("unknown child job type {job_type:?}")))?;
        if let Some(handler) = &declared.handler {
            handler
                .validate(payload)
                .map_err(|e| JobError::permanent(format!("child {}: {}", e.field, e.message)))?;
        }
        Ok(declared.config.max_attempts)
    }
}
