//! The route table: which paths exist and which methods each answers. Unknown paths are 404,
//! known paths with the wrong method 405 (with `Allow`), and every known path answers a CORS
//! preflight.
//!
//! [`ROUTES`] lists every route; `Route::parse`, `Route::allow` and
//! [`super::dispatch`] agree with it (the tests below check it), and `openapi.json`
//! ([`super::openapi`]) documents exactly these routes (`tests/api/openapi.rs` checks it).

use super::assets;

/// Every route the router knows: its path template (`{id}`, `{type}`, `{name}` each stand for
/// one non-empty path segment: a job id, a job type, a schedule's name) and the methods it
/// answers besides `OPTIONS`, which every route answers (the CORS preflight, with `Allow`). The
/// dashboard's files are routes too. Paths not listed here are 404; a listed path with another
/// method is 405. Where a row of literal segments and a template both match (`/api/jobs/bulk`,
/// `/api/jobs/{id}`), the literal one is the route, as OpenAPI has it.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/healthz", &["GET"]),
    ("/readyz", &["GET"]),
    ("/metrics", &["GET"]),
    ("/openapi.json", &["GET"]),
    ("/api/types", &["GET"]),
    ("/api/types/{type}/pause", &["POST"]),
    ("/api/types/{type}/resume", &["POST"]),
    ("/api/schedules", &["GET"]),
    ("/api/schedules/{name}/pause", &["POST"]),
    ("/api/schedules/{name}/resume", &["POST"]),
    ("/api/schedules/{name}/trigger", &["POST"]),
    ("/api/jobs", &["GET", "POST"]),
    ("/api/jobs/bulk", &["POST"]),
    ("/api/jobs/cancel", &["POST"]),
    ("/api/jobs/retry", &["POST"]),
    ("/api/jobs/{id}", &["GET"]),
    ("/api/jobs/{id}/stream", &["GET"]),
    ("/api/jobs/{id}/logs", &["GET", "POST"]),
    ("/api/jobs/{id}/attempts", &["GET"]),
    ("/api/jobs/{id}/children", &["GET", "POST"]),
    ("/api/jobs/{id}/cancel", &["POST"]),
    ("/api/jobs/{id}/retry", &["POST"]),
    ("/api/jobs/{id}/progress", &["POST"]),
    ("/api/jobs/{id}/complete", &["POST"]),
    ("/api/jobs/{id}/fail", &["POST"]),
    ("/api/events", &["GET"]),
    ("/api/events/token", &["GET"]),
    ("/api/workers/claim", &["POST"]),
    ("/api/uploads", &["POST"]),
    // The dashboard and the browser client (`assets`).
    ("/", &["GET"]),
    ("/dashboard.js", &["GET"]),
    ("/dashboard-lib.js", &["GET"]),
    ("/dashboard-job.js", &["GET"]),
    ("/dashboard.css", &["GET"]),
    ("/jobcast.js", &["GET"]),
    ("/jobcast.d.ts", &["GET"]),
];

/// A matched path, before the method is checked.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route<'a> {
    /// Liveness: the process answers.
    Health,
    /// Readiness: database writable and migrated, runner started, not shutting down.
    Ready,
    /// Prometheus metrics.
    Metrics,
    /// This API's OpenAPI document.
    OpenApi,
    Jobs,
    /// `POST /api/jobs/bulk`: a literal segment where a job id could be, and it wins.
    JobsBulk,
    /// `POST /api/jobs/cancel` or `/retry`: every job matching a filter (literal, like bulk).
    JobsControl(Control),
    /// `POST /api/types/{type}/pause` or `/resume`.
    TypeControl(&'a str, Control),
    /// `GET /api/schedules`.
    Schedules,
    /// `POST /api/schedules/{name}/pause`, `/resume` or `/trigger`.
    ScheduleControl(&'a str, Control),
    Events,
    /// A signed `/api/events` URL for a browser.
    EventsToken,
    Types,
    /// A file of the dashboard or the browser client.
    Asset(&'static assets::Asset),
    Job(&'a str),
    JobStream(&'a str),
    JobLogs(&'a str),
    /// `GET` a job's ended attempts.
    JobAttempts(&'a str),
    /// `GET` lists a job's children, `POST` makes some.
    JobChildren(&'a str),
    /// `POST /api/jobs/{id}/{action}`.
    JobAction(&'a str, JobAction),
    WorkerClaim,
    Uploads,
}

impl<'a> Route<'a> {
    pub(super) fn parse(path: &'a str) -> Option<Self> {
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        match segments.as_slice() {
            ["healthz"] => Some(Route::Health),
            ["readyz"] => Some(Route::Ready),
            ["metrics"] => Some(Route::Metrics),
            ["openapi.json"] => Some(Route::OpenApi),
            ["api", "types"] => Some(Route::Types),
            ["api", "types", name, action] if !name.is_empty() => {
                Control::of_types(action).map(|action| Route::TypeControl(name, action))
            }
            ["api", "schedules"] => Some(Route::Schedules),
            ["api", "schedules", name, action] if !name.is_empty() => {
                Control::of_schedules(action).map(|action| Route::ScheduleControl(name, action))
            }
            ["api", "jobs"] => Some(Route::Jobs),
            // Before `{id}`: a literal path wins over a template, as in OpenAPI.
            ["api", "jobs", "bulk"] => Some(Route::JobsBulk),
            ["api", "jobs", action] if Control::of_jobs(action).is_some() => {
                Control::of_jobs(action).map(Route::JobsControl)
            }
            ["api", "events"] => Some(Route::Events),
            ["api", "events", "token"] => Some(Route::EventsToken),
            ["api", "jobs", id] if !id.is_empty() => Some(Route::Job(id)),
            ["api", "jobs", id, "stream"] if !id.is_empty() => Some(Route::JobStream(id)),
            ["api", "jobs", id, "logs"] if !id.is_empty() => Some(Route::JobLogs(id)),
            ["api", "jobs", id, "attempts"] if !id.is_empty() => Some(Route::JobAttempts(id)),
            ["api", "jobs", id, "children"] if !id.is_empty() => Some(Route::JobChildren(id)),
            ["api", "jobs", id, action] if !id.is_empty() => {
                JobAction::from_segment(action).map(|action| Route::JobAction(id, action))
            }
            ["api", "workers", "claim"] => Some(Route::WorkerClaim),
            ["api", "uploads"] => Some(Route::Uploads),
            _ => assets::find(path).map(Route::Asset),
        }
    }

    /// The route's row in [`ROUTES`]: its path template, which metrics use instead of the raw
    /// path. One arm per variant, so a new variant does not compile until it names its row.
    fn template(&self) -> &'static str {
        match self {
            Route::Health => "/healthz",
            Route::Ready => "/readyz",
            Route::Metrics => "/metrics",
            Route::OpenApi => "/openapi.json",
            Route::Types => "/api/types",
            Route::Jobs => "/api/jobs",
            Route::JobsBulk => "/api/jobs/bulk",
            Route::JobsControl(Control::Retry) => "/api/jobs/retry",
            Route::JobsControl(_) => "/api/jobs/cancel",
            Route::TypeControl(_, Control::Resume) => "/api/types/{type}/resume",
            Route::TypeControl(..) => "/api/types/{type}/pause",
            Route::Schedules => "/api/schedules",
            Route::ScheduleControl(_, Control::Resume) => "/api/schedules/{name}/resume",
            Route::ScheduleControl(_, Control::Trigger) => "/api/schedules/{name}/trigger",
            Route::ScheduleControl(..) => "/api/schedules/{name}/pause",
            Route::Events => "/api/events",
            Route::EventsToken => "/api/events/token",
            Route::Asset(asset) => asset.path(),
            Route::Job(_) => "/api/jobs/{id}",
            Route::JobStream(_) => "/api/jobs/{id}/stream",
            Route::JobLogs(_) => "/api/jobs/{id}/logs",
            Route::JobAttempts(_) => "/api/jobs/{id}/attempts",
            Route::JobChildren(_) => "/api/jobs/{id}/children",
            Route::JobAction(_, action) => action.template(),
            Route::WorkerClaim => "/api/workers/claim",
            Route::Uploads => "/api/uploads",
        }
    }

    /// The `Allow` header for this route.
    pub(super) fn allow(&self) -> &'static str {
        match self {
            Route::Health
            | Route::Ready
            | Route::Metrics
            | Route::OpenApi
            | Route::Events
            | Route::EventsToken
            | Route::Types
            | Route::Schedules
            | Route::Asset(_)
            | Route::Job(_)
            | Route::JobStream(_)
            | Route::JobAttempts(_) => "GET, OPTIONS",
            Route::Jobs | Route::JobLogs(_) | Route::JobChildren(_) => "GET, POST, OPTIONS",
            Route::JobsBulk
            | Route::JobsControl(_)
            | Route::TypeControl(..)
            | Route::ScheduleControl(..)
            | Route::JobAction(..)
            | Route::WorkerClaim
            | Route::Uploads => "POST, OPTIONS",
        }
    }
}

/// What `POST /api/jobs/{id}/{action}` does to a job: the client's cancel and retry, and the
/// reports of outside code and workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    Cancel,
    Retry,
    Progress,
    Complete,
    Fail,
}

impl JobAction {
    /// Every action, for matching a path segment (a test checks each has its row in
    /// [`ROUTES`]).
    const ALL: [JobAction; 5] = [
        JobAction::Cancel,
        JobAction::Retry,
        JobAction::Progress,
        JobAction::Complete,
        JobAction::Fail,
    ];

    /// The action's row in [`ROUTES`]. Its last segment is the action's name in the path:
    /// the one place each name is spelled.
    fn template(self) -> &'static str {
        match self {
            JobAction::Cancel => "/api/jobs/{id}/cancel",
            JobAction::Retry => "/api/jobs/{id}/retry",
            JobAction::Progress => "/api/jobs/{id}/progress",
            JobAction::Complete => "/api/jobs/{id}/complete",
            JobAction::Fail => "/api/jobs/{id}/fail",
        }
    }

    /// The action's name in the path, such as `cancel`.
    fn segment(self) -> &'static str {
        let template = self.template();
        template.rsplit_once('/').map_or(template, |(_, last)| last)
    }

    /// The action `segment` names, if any.
    fn from_segment(segment: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|action| action.segment() == segment)
    }
}

/// What the control routes do: to a type (pause, resume), to a schedule (pause, resume,
/// trigger), or to every job matching a filter (cancel, retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Trigger,
    Cancel,
    Retry,
}

impl Control {
    /// The last segment of `/api/types/{type}/...`.
    fn of_types(segment: &str) -> Option<Self> {
        match segment {
            "pause" => Some(Control::Pause),
            "resume" => Some(Control::Resume),
            _ => None,
        }
    }

    /// The last segment of `/api/schedules/{name}/...`.
    fn of_schedules(segment: &str) -> Option<Self> {
        match segment {
            "trigger" => Some(Control::Trigger),
            other => Self::of_types(other),
        }
    }

    /// The last segment of `/api/jobs/...` that is not a job id.
    fn of_jobs(segment: &str) -> Option<Self> {
        match segment {
            "cancel" => Some(Control::Cancel),
            "retry" => Some(Control::Retry),
            _ => None,
        }
    }
}

/// The template of the route `path` matches, or `"unmatched"` (for metrics labels).
pub fn template(path: &str) -> &'static str {
    Route::parse(path).map_or("unmatched", |route| route.template())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::openapi::OPENAPI_JSON;

    #[test]
    fn paths_match_their_routes() {
        assert_eq!(Route::parse("/healthz"), Some(Route::Health));
        assert_eq!(Route::parse("/api/jobs"), Some(Route::Jobs));
        assert_eq!(Route::parse("/api/jobs/abc"), Some(Route::Job("abc")));
        assert_eq!(Route::parse("/api/jobs/bulk"), Some(Route::JobsBulk));
        assert_eq!(
            Route::parse("/api/jobs/bulk/stream"),
            Some(Route::JobStream("bulk"))
        );
        assert_eq!(
            Route::parse("/api/jobs/abc/stream"),
            Some(Route::JobStream("abc"))
        );
        assert_eq!(
            Route::parse("/api/jobs/abc/cancel"),
            Some(Route::JobAction("abc", JobAction::Cancel))
        );
        assert_eq!(Route::parse("/api/jobs/abc/explode"), None);
        assert_eq!(Route::parse("/api/jobs/"), None);
        assert_eq!(Route::parse("/api/jobs/abc/stream/more"), None);
        assert_eq!(Route::parse("/api/jobs//stream"), None);
        assert_eq!(Route::parse("api/jobs"), None);
        assert_eq!(Route::parse("/openapi.json"), Some(Route::OpenApi));
    }

    /// A value for every placeholder of the templates (`{id}`, `{type}`, `{name}`).
    const ID: &str = "0190f5a2-7c1e-7d3a-9b4e-2f6a8c0d1e2f";

    /// Whether a template's segment is a placeholder.
    fn is_placeholder(part: &str) -> bool {
        part.starts_with('{') && part.ends_with('}')
    }

    /// A template with every placeholder filled with [`ID`].
    fn filled(template: &str) -> String {
        template
            .split('/')
            .map(|part| if is_placeholder(part) { ID } else { part })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The placeholder's value a parsed route carries, if its template has one.
    fn id_of<'a>(route: &Route<'a>) -> Option<&'a str> {
        match route {
            Route::Job(id)
            | Route::JobStream(id)
            | Route::JobLogs(id)
            | Route::JobAttempts(id)
            | Route::JobChildren(id)
            | Route::JobAction(id, _)
            | Route::TypeControl(id, _)
            | Route::ScheduleControl(id, _) => Some(id),
            _ => None,
        }
    }

    /// The table's rows whose template matches `path` (a placeholder: any one non-empty
    /// segment), those with the fewest placeholders only: a literal row wins over a template.
    fn table_rows(path: &str) -> Vec<&'static str> {
        let Some(rest) = path.strip_prefix('/') else {
            return Vec::new();
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let matching: Vec<&'static str> = ROUTES
            .iter()
            .map(|(template, _)| *template)
            .filter(|template| {
                let parts: Vec<&str> = template[1..].split('/').collect();
                parts.len() == segments.len()
                    && parts.iter().zip(&segments).all(|(part, segment)| {
                        if is_placeholder(part) {
                            !segment.is_empty()
                        } else {
                            part == segment
                        }
                    })
            })
            .collect();
        let ids = |template: &str| template.split('/').filter(|p| is_placeholder(p)).count();
        let fewest = matching.iter().map(|t| ids(t)).min();
        matching
            .into_iter()
            .filter(|t| Some(ids(t)) == fewest)
            .collect()
    }

    #[test]
    fn every_row_of_the_table_parses_to_its_route_and_allows_its_methods() {
        for (i, (template, methods)) in ROUTES.iter().enumerate() {
            assert!(
                ROUTES[..i].iter().all(|(other, _)| other != template),
                "{template} is listed twice"
            );
            assert!(!methods.is_empty(), "{template} has no methods");
            for (j, method) in methods.iter().enumerate() {
                assert!(
                    ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(method),
                    "{template}: {method} (OPTIONS is implied)"
                );
                assert!(!methods[..j].contains(method), "{template}: {method} twice");
            }
            let path = filled(template);
            let route = Route::parse(&path).unwrap_or_else(|| panic!("{path} does not parse"));
            assert_eq!(route.template(), *template, "{path} parses to {route:?}");
            assert_eq!(
                id_of(&route),
                template.contains('{').then_some(ID),
                "{path}"
            );
            assert_eq!(
                route.allow(),
                format!("{}, OPTIONS", methods.join(", ")),
                "{template}"
            );
            assert_eq!(
                table_rows(&path),
                [*template],
                "{path} matches several rows"
            );
        }
    }

    #[test]
    fn every_job_action_is_a_post_row_of_the_table_named_by_its_last_segment() {
        for action in JobAction::ALL {
            assert!(
                ROUTES.contains(&(action.template(), &["POST"][..])),
                "{action:?}"
            );
            assert_eq!(JobAction::from_segment(action.segment()), Some(action));
            assert_eq!(
                format!("/api/jobs/{{id}}/{}", action.segment()),
                action.template()
            );
        }
        assert_eq!(JobAction::from_segment("explode"), None);
    }

    #[test]
    fn the_dashboard_files_are_in_the_table() {
        for asset in assets::all() {
            assert!(
                ROUTES.contains(&(asset.path(), &["GET"][..])),
                "{} is served but not in ROUTES",
                asset.path()
            );
        }
        assert!(serde_json::from_str::<serde_json::Value>(OPENAPI_JSON).is_ok());
    }

    /// Paths built from the table's own words (and some others): each is a route exactly when
    /// a row matches it, and then the route of that row.
    #[test]
    fn parse_accepts_exactly_the_paths_of_the_table() {
        let mut words: Vec<&str> = vec!["", ID, "x", "API", "jobs.json", "index.html"];
        for (template, _) in ROUTES {
            for part in template[1..].split('/') {
                if !is_placeholder(part) && !words.contains(&part) {
                    words.push(part);
                }
            }
        }
        for asset in assets::all() {
            let name = &asset.path()[1..];
            if !words.contains(&name) {
                words.push(name);
            }
        }
        // The words `parse` itself matches on, read from this file: a path the router takes
        // up but the table lacks is built from them.
        let source = include_str!("routes.rs");
        let start = source.find("fn parse(").expect("parse is in this file");
        let end = start
            + source[start..]
                .find("fn allow(")
                .expect("allow follows parse");
        for literal in source[start..end].split('"').skip(1).step_by(2) {
            for word in literal.split('/') {
                if !words.contains(&word) {
                    words.push(word);
                }
            }
        }
        let mut paths: Vec<String> = Vec::new();
        // Every path of up to three segments from those words...
        for a in &words {
            paths.push(format!("/{a}"));
            for b in &words {
                paths.push(format!("/{a}/{b}"));
                for c in &words {
                    paths.push(format!("/{a}/{b}/{c}"));
                }
            }
        }
        // ...and every row with one segment changed, one more, one fewer, or no leading slash.
        for (template, _) in ROUTES {
            let row: Vec<String> = filled(&template[1..])
                .split('/')
                .map(str::to_owned)
                .collect();
            for i in 0..row.len() {
                for word in &words {
                    let mut changed = row.clone();
                    changed[i] = (*word).to_owned();
                    paths.push(format!("/{}", changed.join("/")));
                }
            }
            for word in &words {
                paths.push(format!("/{}/{word}", row.join("/")));
            }
            paths.push(format!("/{}", row[..row.len() - 1].join("/")));
            paths.push(row.join("/"));
        }
        for path in &paths {
            let rows = table_rows(path);
            assert!(rows.len() <= 1, "{path} matches {rows:?}");
            let parsed = Route::parse(path);
            assert_eq!(
                parsed.as_ref().map(Route::template),
                rows.first().copied(),
                "{path}: the router and ROUTES disagree"
            );
        }
    }
}
