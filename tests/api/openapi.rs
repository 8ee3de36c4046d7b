//! The OpenAPI document at `/openapi.json` (`src/http/openapi.json`, kept by hand): it documents
//! exactly the router's routes and methods (`jobcast::http::routes::ROUTES`), its references
//! resolve, every operation is complete, and the live server answers as it says: statuses,
//! media types, required headers, roles, and bodies, checked against the document's schemas by
//! the small validator at the end of this file, event streams event by event against their
//! `itemSchema`. Request examples from the document are sent as they are, and with each field
//! nulled, left out, or joined by an unknown one; a table of values at each constraint's
//! boundary and just past it is sent too, and the server takes exactly those the schema allows.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jobcast::http::error::ApiError;
use jobcast::http::openapi::{
    DOCUMENT_BULK_LIMITS, DOCUMENT_LOG_LINE_LIMITS, DOCUMENT_TYPE_LISTS, OPENAPI_JSON,
};
use jobcast::http::routes::ROUTES;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// The HTTP methods an OpenAPI path item may hold.
const OPERATIONS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// An id no job has.
const MISSING: &str = "0190f5a2-7c1e-7d3a-9b4e-2f6a8c0d1e2f";

fn document() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("src/http/openapi.json is JSON")
}

/// The most jobs per bulk create with the default settings: `limits.create_burst`, which is
/// below `http.max_bulk_jobs`.
const DEFAULT_MAX_BULK_JOBS: usize = 500;

/// The document as a server with these types (the answer of `GET /api/types`), this log line
/// limit and this most jobs per bulk create serves it: the file, with their names in each list
/// of job types, the limit in each `maxLength` that is `limits.max_log_line_bytes`, and the
/// most jobs in each `maxItems` that is a bulk create's.
fn served_document(types: &[Value], max_log_line_bytes: usize, max_bulk_jobs: usize) -> Value {
    use jobcast::http::openapi::TypeList;
    let mut doc = document();
    for (pointer, list) in DOCUMENT_TYPE_LISTS {
        let names: Vec<&Value> = types
            .iter()
            .filter(|t| match list {
                TypeList::All => true,
                TypeList::Demo => t["kind"] == "demo",
                TypeList::NotDemo => t["kind"] != "demo",
                TypeList::External => t["kind"] == "external",
            })
            .map(|t| &t["name"])
            .collect();
        let slot = doc
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer} is not in the document"));
        assert!(slot.is_array(), "{pointer} is not a list");
        *slot = json!(names);
    }
    for pointer in DOCUMENT_LOG_LINE_LIMITS {
        let slot = doc
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer} is not in the document"));
        assert!(slot.is_u64(), "{pointer} is not a length");
        *slot = json!(max_log_line_bytes);
    }
    for pointer in DOCUMENT_BULK_LIMITS {
        let slot = doc
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer} is not in the document"));
        assert!(slot.is_u64(), "{pointer} is not a count");
        *slot = json!(max_bulk_jobs);
    }
    doc
}

/// The value a local `$ref` names.
fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    reference
        .strip_prefix('#')
        .and_then(|pointer| doc.pointer(pointer))
        .unwrap_or_else(|| panic!("$ref {reference} does not resolve"))
}

/// `value`, or what its `$ref` names (followed to the end).
fn deref<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => deref(doc, resolve(doc, reference)),
        None => value,
    }
}

/// Every (path, method, operation) of the document; the method in capitals.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (key, operation) in item.as_object().expect("a path item") {
            if OPERATIONS.contains(&key.as_str()) {
                found.push((path.clone(), key.to_uppercase(), operation.clone()));
            }
        }
    }
    found
}

/// A template's path with `{id}` filled in.
fn concrete(template: &str, id: &str) -> String {
    template.replace("{id}", id)
}

/// `Content-Type` without its parameters.
fn media_type(response: &reqwest::Response) -> Option<String> {
    response.headers().get("content-type").map(|value| {
        let value = value.to_str().expect("an ASCII content type");
        value.split(';').next().unwrap_or(value).trim().to_owned()
    })
}

/// Checks a live answer to `method template` against the document: its status is documented
/// for that operation, the headers the document marks required are there, and its media type
/// is one the document gives for that status (or it has no body where none is documented).
/// A JSON body must match the documented schema; it is returned. Event streams are not read.
async fn check_answer(
    doc: &Value,
    template: &str,
    method: &str,
    response: reqwest::Response,
) -> (StatusCode, Value) {
    let status = response.status();
    let what = format!("{method} {template} answered {status}");
    let operation = &doc["paths"][template][method.to_lowercase()];
    let documented = operation["responses"]
        .get(status.as_str())
        .map(|r| deref(doc, r))
        .unwrap_or_else(|| panic!("{what}, which the document does not list"));
    for (name, header) in documented["headers"].as_object().into_iter().flatten() {
        if deref(doc, header)["required"] == json!(true) {
            assert!(
                response.headers().contains_key(name.as_str()),
                "{what} without the {name} header"
            );
        }
    }
    let media = media_type(&response);
    let Some(content) = documented.get("content").and_then(Value::as_object) else {
        assert_eq!(media, None, "{what} with a body the document does not give");
        let bytes = response.bytes().await.unwrap();
        assert!(
            bytes.is_empty(),
            "{what} with a body the document does not give"
        );
        return (status, Value::Null);
    };
    let media = media.unwrap_or_else(|| panic!("{what} without a Content-Type"));
    let entry = content
        .get(&media)
        .unwrap_or_else(|| panic!("{what} as {media}, not one of {:?}", content.keys()));
    match media.as_str() {
        "text/event-stream" => (status, Value::Null),
        "application/json" => {
            let bytes = response.bytes().await.unwrap();
            let body: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{what}: the body is not JSON ({e})"));
            Validator::new(doc).assert(&body, &entry["schema"], &what);
            (status, body)
        }
        _ => {
            let text = response.text().await.unwrap();
            assert!(!text.is_empty(), "{what}: an empty {media} body");
            (status, Value::Null)
        }
    }
}

fn request(app: &TestApp, method: &str, path: &str) -> reqwest::RequestBuilder {
    app.client.request(
        Method::from_bytes(method.as_bytes()).unwrap(),
        app.url(path),
    )
}

/// A harmless request for an operation: an unknown job, an empty JSON body.
fn probe(app: &TestApp, method: &str, template: &str) -> reqwest::RequestBuilder {
    let builder = request(app, method, &concrete(template, MISSING));
    if method == "POST" {
        builder
            .header("content-type", "application/json")
            .body("{}")
    } else {
        builder
    }
}

#[tokio::test]
async fn the_document_is_served_and_lists_exactly_the_routers_routes() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(media_type(&response).as_deref(), Some("application/json"));
    let served: Value = response.json().await.unwrap();
    let doc = document();
    // The file describes the built-in types and default limits; the server serves it with its
    // own (the same here), and differs nowhere else.
    let types = app.client.get(app.url("/api/types")).send().await.unwrap();
    let types: Vec<Value> = types.json().await.unwrap();
    let defaults = (16 * 1024, DEFAULT_MAX_BULK_JOBS);
    assert_eq!(served, served_document(&types, defaults.0, defaults.1));
    assert_eq!(doc, served_document(&types, defaults.0, defaults.1));
    // OpenAPI 3.2: the first with `itemSchema`, which describes each event of a stream.
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.2."), "openapi {version}");
    assert_eq!(doc["info"]["title"], "jobcast");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["servers"][0]["url"], "/");

    let table: BTreeMap<&str, BTreeSet<String>> = ROUTES
        .iter()
        .map(|(template, methods)| (*template, methods.iter().map(|m| m.to_string()).collect()))
        .collect();
    let mut documented: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let methods = documented.entry(path.as_str()).or_default();
        for key in item.as_object().unwrap().keys() {
            if OPERATIONS.contains(&key.as_str()) {
                methods.insert(key.to_uppercase());
            }
        }
    }
    for (template, methods) in &table {
        assert_eq!(
            documented.get(template),
            Some(methods),
            "the router answers {methods:?} on {template}; the document does not say so"
        );
    }
    for (path, methods) in &documented {
        assert_eq!(
            table.get(path),
            Some(methods),
            "the document has {methods:?} {path}, which the router does not"
        );
    }

    // Path parameters: exactly `{id}`, a UUID, where the template has it.
    for (path, _, operation) in operations(&doc) {
        let parameters: Vec<&Value> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| deref(&doc, p))
            .collect();
        let in_path: Vec<&str> = parameters
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        if path.contains("{id}") {
            assert_eq!(in_path, ["id"], "{path}");
            let id = parameters.iter().find(|p| p["in"] == "path").unwrap();
            assert_eq!(id["required"], true, "{path}");
            assert_eq!(deref(&doc, &id["schema"])["format"], "uuid", "{path}");
        } else if let Some(name) = ["type", "name"]
            .into_iter()
            .find(|name| path.contains(&format!("{{{name}}}")))
        {
            // A job type's or a schedule's name: any text, 404 unless declared.
            assert_eq!(in_path, [name], "{path}");
            let param = parameters.iter().find(|p| p["in"] == "path").unwrap();
            assert_eq!(param["required"], true, "{path}");
            assert_eq!(deref(&doc, &param["schema"])["type"], "string", "{path}");
        } else {
            assert!(in_path.is_empty(), "{path}: {in_path:?}");
        }
    }
}

#[test]
fn every_reference_resolves_and_every_operation_is_complete() {
    let doc = document();

    fn walk<'a>(value: &'a Value, at: &str, found: &mut Vec<(String, &'a str)>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    if key == "$ref" {
                        found.push((at.to_owned(), inner.as_str().expect("$ref is a string")));
                    } else {
                        walk(inner, &format!("{at}/{key}"), found);
                    }
                }
            }
            Value::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    walk(inner, &format!("{at}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    let mut references = Vec::new();
    walk(&doc, "#", &mut references);
    assert!(!references.is_empty());
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for (at, reference) in &references {
        assert!(
            reference.starts_with("#/components/"),
            "{at}: {reference} is not local"
        );
        assert!(
            doc.pointer(&reference[1..]).is_some(),
            "{at}: {reference} does not resolve"
        );
        used.insert(reference);
    }
    // Nothing in components is left unused.
    for (kind, entries) in doc["components"].as_object().unwrap() {
        if kind == "securitySchemes" {
            continue;
        }
        for name in entries.as_object().unwrap().keys() {
            let reference = format!("#/components/{kind}/{name}");
            assert!(
                used.contains(reference.as_str()),
                "{reference} is never used"
            );
        }
    }

    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut operation_ids = BTreeSet::new();
    for (path, method, operation) in operations(&doc) {
        let what = format!("{method} {path}");
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{what} has no operationId");
        assert!(
            operation_ids.insert(id.to_owned()),
            "operationId {id} twice"
        );
        assert!(
            operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{what} has no summary"
        );
        for tag in operation["tags"].as_array().unwrap() {
            assert!(tags.contains(tag.as_str().unwrap()), "{what}: tag {tag}");
        }
        let responses = operation["responses"].as_object().unwrap();
        let statuses: Vec<u16> = responses
            .keys()
            .map(|k| k.parse().unwrap_or_else(|_| panic!("{what}: status {k}")))
            .collect();
        assert!(
            statuses.iter().any(|s| (200..300).contains(s)),
            "{what} has no 2xx answer"
        );
        assert!(
            statuses.iter().any(|s| (400..500).contains(s)),
            "{what} has no 4xx answer"
        );
        // Every path answers other methods with 405 and an oversized head with 431.
        for always in ["405", "431"] {
            assert!(responses.contains_key(always), "{what} lacks {always}");
        }
        for (status, response) in responses {
            let response = deref(&doc, response);
            assert!(
                response["description"].is_string(),
                "{what} {status}: no description"
            );
            // Errors are the Error schema, but for the readiness probe's own "not ready" body.
            let readiness = what.ends_with("/readyz") && status == "503";
            if (status.starts_with('4') || status.starts_with('5')) && !readiness {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{what} {status}"
                );
            }
        }
        // Roles: public operations have no security; the others name the roles that may call.
        let security = operation["security"].as_array().expect("security");
        match operation.get("x-roles") {
            None => assert!(security.is_empty(), "{what}: public, yet has security"),
            Some(roles) => {
                assert!(!security.is_empty(), "{what}: roles but no security");
                for role in roles.as_array().unwrap() {
                    assert!(
                        ["admin", "submit", "worker", "read"].contains(&role.as_str().unwrap()),
                        "{what}: role {role}"
                    );
                }
                assert!(
                    responses.contains_key("401") && responses.contains_key("403"),
                    "{what}: no 401/403"
                );
            }
        }
        for requirement in security {
            for scheme in requirement.as_object().unwrap().keys() {
                assert!(schemes.contains_key(scheme), "{what}: scheme {scheme}");
            }
        }
    }

    // The schemas use only what the validator below knows, so nothing goes unchecked.
    fn schemas_in<'a>(value: &'a Value, found: &mut Vec<&'a Value>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    if key == "schema" || key == "itemSchema" {
                        found.push(inner);
                    } else {
                        schemas_in(inner, found);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| schemas_in(i, found)),
            _ => {}
        }
    }
    let mut schemas: Vec<&Value> = doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .values()
        .collect();
    schemas_in(&doc["paths"], &mut schemas);
    schemas_in(&doc["components"]["parameters"], &mut schemas);
    schemas_in(&doc["components"]["headers"], &mut schemas);
    schemas_in(&doc["components"]["responses"], &mut schemas);
    let mut errors = Vec::new();
    for schema in schemas {
        known_keywords(schema, &mut errors);
    }
    assert!(errors.is_empty(), "{errors:#?}");

    // Every error the API can answer has its code in the Error schema and its status somewhere.
    let codes = &doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"];
    let statuses: BTreeSet<String> = operations(&doc)
        .iter()
        .flat_map(|(_, _, op)| op["responses"].as_object().unwrap().keys().cloned())
        .collect();
    let errors = [
        ApiError::NotFound(String::new()),
        ApiError::MethodNotAllowed {
            method: "PUT".to_owned(),
            allow: "GET, OPTIONS",
        },
        ApiError::MalformedJson(String::new()),
        ApiError::BadRequest(String::new()),
        ApiError::invalid("field", "message"),
        ApiError::invalid("type", "message").in_job(3),
        ApiError::PayloadTooLarge { limit: 1 },
        ApiError::Conflict(String::new()),
        ApiError::JsonTooDeep { limit: 1 },
        ApiError::HeadersTooLarge { limit: 1 },
        ApiError::TooManyRequests {
            message: String::new(),
            retry_after: Duration::from_secs(1),
        },
        ApiError::QueueFull {
            message: String::new(),
            retry_after: Duration::from_secs(1),
        },
        ApiError::Unauthorized(String::new()),
        ApiError::Forbidden(String::new()),
        ApiError::Internal(std::io::Error::other("x").into()),
        ApiError::Unavailable(std::io::Error::other("x").into()),
    ];
    for error in errors {
        assert!(
            codes.as_array().unwrap().contains(&json!(error.code())),
            "error code {} is not in the Error schema",
            error.code()
        );
        assert!(
            statuses.contains(error.status().as_str()),
            "{} ({}) is documented nowhere",
            error.status(),
            error.code()
        );
        let body = error.body();
        Validator::new(&doc).assert(
            &body,
            &json!({"$ref": "#/components/schemas/Error"}),
            "error",
        );
    }
}

#[tokio::test]
async fn every_route_answers_its_methods_and_405_with_the_tables_allow_for_the_rest() {
    let app = spawn_app().await;
    let doc = document();
    for (template, methods) in ROUTES {
        let allow = format!("{}, OPTIONS", methods.join(", "));
        let path = concrete(template, MISSING);
        let response = request(&app, "OPTIONS", &path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "OPTIONS {path}");
        assert_eq!(
            response.headers()["allow"],
            allow.as_str(),
            "OPTIONS {path}"
        );
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let response = probe(&app, method, template).send().await.unwrap();
            if methods.contains(&method) {
                let (status, body) = check_answer(&doc, template, method, response).await;
                assert_ne!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {template}"
                );
                let message = body["message"].as_str().unwrap_or_default();
                assert!(
                    !message.starts_with("no route"),
                    "{method} {template}: {body}"
                );
            } else {
                assert_eq!(
                    response.status(),
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {template}"
                );
                assert_eq!(
                    response.headers()["allow"],
                    allow.as_str(),
                    "{method} {path}"
                );
                // Documented on the path's operations, with the same body.
                let documented = methods[0];
                let (_, body) = check_answer(&doc, template, documented, response).await;
                assert_eq!(body["error"], "method_not_allowed");
            }
        }
    }
}

#[tokio::test]
async fn the_get_routes_answer_as_documented() {
    let app = spawn_app().await;
    let doc = document();
    // Every GET route without an id.
    for (template, methods) in ROUTES {
        if template.contains("{id}") || !methods.contains(&"GET") {
            continue;
        }
        let response = app.client.get(app.url(template)).send().await.unwrap();
        let (status, _) = check_answer(&doc, template, "GET", response).await;
        assert!(status.is_success(), "GET {template}: {status}");
    }
    // The query parameters the document gives.
    for path in [
        "/api/jobs?status=queued&type=demo&limit=5",
        "/api/jobs?status=&limit=",
        "/api/events/token?type=demo&status=failed",
    ] {
        let template = path.split('?').next().unwrap();
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let (status, _) = check_answer(&doc, template, "GET", response).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    for path in [
        "/api/jobs?status=done",
        "/api/jobs?limit=501",
        "/api/jobs?cursor=nope",
        "/api/events?status=done",
    ] {
        let template = path.split('?').next().unwrap();
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let (status, body) = check_answer(&doc, template, "GET", response).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(body["field"].is_string(), "{path}: {body}");
    }

    // And with a job: the job, its logs, its stream and the all-jobs stream.
    let id = app.create_demo(2, 10).await;
    app.wait_for_status(&id, &["completed"], Duration::from_secs(10))
        .await;
    for (template, query) in [
        ("/api/jobs/{id}", ""),
        ("/api/jobs/{id}/logs", "?after=1&limit=10"),
        ("/api/jobs/{id}/children", "?limit=10&cursor="),
        ("/api/jobs", "?cursor="),
    ] {
        let path = format!("{}{query}", concrete(template, &id));
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        let (status, body) = check_answer(&doc, template, "GET", response).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }

    // A parent's stream, the family's: `child` events, children's lines, the counts.
    let parent = app.create_external().await;
    let (status, made) = app
        .post_json(
            &format!("/api/jobs/{parent}/children"),
            &json!({"children": [{"type": "external"}, {"type": "external"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let child = made["children"][0]["job"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{child}/logs"),
            &json!({"level": "info", "message": "part read"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .post_json(&format!("/api/jobs/{child}/complete"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = app.stream(&parent, Some("0")).await;
    let events = stream_events(&doc, "/api/jobs/{id}/stream", response).await;
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert!(
        names.contains(&"child") && names.contains(&"log"),
        "{events:?}"
    );
    let response = app
        .client
        .get(app.url(&format!("/api/jobs/{parent}")))
        .send()
        .await
        .unwrap();
    let (status, body) = check_answer(&doc, "/api/jobs/{id}", "GET", response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["family"]["completed"], 1, "{body}");

    let response = app.stream(&id, None).await;
    let events = stream_events(&doc, "/api/jobs/{id}/stream", response).await;
    assert_eq!(events.last().unwrap().0, "completed", "{events:?}");
    let last = events.last().unwrap().1.to_string();
    let response = app.stream(&id, Some(&last)).await;
    let (status, _) = check_answer(&doc, "/api/jobs/{id}/stream", "GET", response).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let response = app
        .client
        .get(app.url(&format!("/api/jobs/{id}/stream?last_event_id={last}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // A new connection starts with `ready`; a resumed one replays the changes.
    let response = app.client.get(app.url("/api/events")).send().await.unwrap();
    let events = stream_events(&doc, "/api/events", response).await;
    assert_eq!(events.first().map(|e| e.0.as_str()), Some("ready"));
    let response = app
        .client
        .get(app.url("/api/events?type=demo"))
        .header("Last-Event-ID", "0")
        .send()
        .await
        .unwrap();
    let events = stream_events(&doc, "/api/events", response).await;
    let names: BTreeSet<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert!(names.contains("completed"), "{events:?}");
}

/// A stream route's `itemSchema`: what each of its events is, as parsed.
fn item_schema<'a>(doc: &'a Value, template: &str) -> &'a Value {
    let ok = deref(doc, &doc["paths"][template]["get"]["responses"]["200"]);
    let media = &ok["content"]["text/event-stream"];
    assert!(media.is_object(), "GET {template} has no text/event-stream");
    media
        .get("itemSchema")
        .unwrap_or_else(|| panic!("GET {template}: text/event-stream has no itemSchema"))
}

/// The event names an `itemSchema` allows: the `event` const of each of its `oneOf` branches.
fn event_names(doc: &Value, item_schema: &Value) -> BTreeSet<String> {
    deref(doc, item_schema)["oneOf"]
        .as_array()
        .expect("the itemSchema is a oneOf over the events")
        .iter()
        .map(|branch| {
            let branch = deref(doc, branch);
            let name = &branch["properties"]["event"]["const"];
            name.as_str()
                .unwrap_or_else(|| panic!("a branch without an event name: {branch}"))
                .to_owned()
        })
        .collect()
}

/// One event as the HTML standard's parser hands it on (and OpenAPI 3.2's `itemSchema` sees
/// it): `event`, `id` and `data`, all strings.
fn parsed_event(frame: &Frame) -> Value {
    match frame {
        Frame::Event { name, id, data } => {
            let mut event = json!({"event": name, "data": data});
            if let Some(id) = id {
                event["id"] = json!(id);
            }
            event
        }
        other => panic!("not an event: {other:?}"),
    }
}

/// Reads an event stream for a moment and checks every event against the route's
/// `itemSchema` (its data, JSON in a string, against the `contentSchema`); returns (name, id)
/// of each.
async fn stream_events(
    doc: &Value,
    template: &str,
    response: reqwest::Response,
) -> Vec<(String, i64)> {
    assert_eq!(response.status(), StatusCode::OK, "GET {template}");
    let schema = item_schema(doc, template);
    assert_eq!(media_type(&response).as_deref(), Some("text/event-stream"));
    let log = SseLog::read(response, Duration::from_millis(500)).await;
    let mut seen = Vec::new();
    for frame in log.events() {
        let name = frame.name().unwrap();
        let event = parsed_event(frame);
        Validator::new(doc).assert(&event, schema, &format!("{template} {name}"));
        seen.push((name.to_owned(), frame.id().expect("every event has an id")));
    }
    assert!(!seen.is_empty(), "GET {template}: no events");
    seen
}

/// Each stream route's `text/event-stream` is described event by event (OpenAPI 3.2's
/// `itemSchema`, which schemathesis and other tools apply to each parsed event), naming every
/// event the server sends there, each with its `id` and its `data` as JSON in a string; no
/// `schema`, which in 3.2 covers the whole stream as an array of events.
#[test]
fn each_stream_route_describes_every_event_it_sends() {
    let doc = document();
    let routes: [(&str, &[&str]); 2] = [
        (
            "/api/jobs/{id}/stream",
            &["progress", "log", "child", "completed", "failed"],
        ),
        ("/api/events", &["ready", "progress", "completed", "failed"]),
    ];
    for (template, sent) in routes {
        let ok = deref(&doc, &doc["paths"][template]["get"]["responses"]["200"]);
        let media = &ok["content"]["text/event-stream"];
        assert!(media.get("schema").is_none(), "{template}: {media}");
        let schema = item_schema(&doc, template);
        let sent: BTreeSet<String> = sent.iter().map(|s| s.to_string()).collect();
        assert_eq!(event_names(&doc, schema), sent, "{template}");
        for branch in deref(&doc, schema)["oneOf"].as_array().unwrap() {
            let branch = deref(&doc, branch);
            let name = &branch["properties"]["event"]["const"];
            // Every event has an id but a job stream's pause notice, a `progress` event that
            // changes nothing of the job (so the client's resume point stays).
            let notice = branch["properties"].get("id").is_none();
            assert!(
                !notice || (template.contains("{id}") && name == "progress"),
                "{template} {name} without an id"
            );
            assert_eq!(
                branch["required"],
                if notice {
                    json!(["event", "data"])
                } else {
                    json!(["event", "id", "data"])
                },
                "{template} {name}"
            );
            assert_eq!(branch["additionalProperties"], false, "{template} {name}");
            let data = &branch["properties"]["data"];
            assert_eq!(data["type"], "string", "{template} {name}");
            assert_eq!(data["contentMediaType"], "application/json");
            assert!(data["contentSchema"].is_object(), "{template} {name}");
            assert_eq!(branch["properties"]["retry"]["type"], "integer");
            assert!(
                branch["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{template} {name}: say when it is sent"
            );
        }
        // Events as the server writes them, and one it never sends.
        let validator = Validator::new(&doc);
        let progress = json!({"event": "progress", "id": "7", "data": "{\"status\":\"running\",\"progress\":40.0}"});
        let progress_ok = validator.check(&progress, schema).is_ok();
        assert_eq!(progress_ok, template.contains("{id}"), "{template}");
        for wrong in [
            json!({"event": "finished", "id": "7", "data": "{}"}),
            json!({"event": "progress", "id": "x", "data": "{\"status\":\"running\",\"progress\":1}"}),
            json!({"event": "progress", "id": "7", "data": "not json"}),
            json!({"event": "progress", "id": "7", "data": "{\"status\":\"completed\",\"progress\":1}"}),
            json!({"event": "progress", "id": "7"}),
            json!({"event": "progress", "data": "{\"status\":\"running\",\"progress\":1}"}),
        ] {
            assert!(
                validator.check(&wrong, schema).is_err(),
                "{template}: {wrong}"
            );
        }
    }
}

/// A request to an operation, changed from a base at one constraint: at the schema's boundary
/// (`true`: the schema allows it, and so must the server) or just past it (422).
struct Edge {
    template: &'static str,
    method: &'static str,
    body: Value,
    allowed: bool,
}

fn edges() -> Vec<Edge> {
    let at = |template, method, body, allowed| Edge {
        template,
        method,
        body,
        allowed,
    };
    let mut all = Vec::new();
    // A job that never runs here: it waits for `run_at`.
    let later = "2999-01-01T00:00:00Z";
    let job = |field: &str, value: Value| {
        let mut body = json!({"type": "external", "run_at": later});
        body[field] = value;
        body
    };
    for (field, allowed, refused) in [
        ("priority", json!(1000), json!(1001)),
        ("priority", json!(-1000), json!(-1001)),
        ("priority", json!(7.0), json!(7.5)),
        ("max_attempts", json!(100), json!(101)),
        ("max_attempts", json!(1), json!(0)),
        ("timeout", json!("7d"), json!("8d")),
        ("timeout", json!("168h"), json!("169h")),
        ("timeout", json!("10080m"), json!("10081m")),
        ("timeout", json!("604800s"), json!("604801s")),
        ("timeout", json!("1s"), json!("0s")),
        (
            "idempotency_key",
            json!("k".repeat(1024)),
            json!("k".repeat(1025)),
        ),
        ("idempotency_key", json!("k"), json!("")),
        ("type", json!("external"), json!("no-such-type")),
        (
            "run_at",
            json!("2030-01-02T03:04:05Z"),
            json!("2030-01-02 03:04"),
        ),
    ] {
        all.push(at("/api/jobs", "POST", job(field, allowed), true));
        all.push(at("/api/jobs", "POST", job(field, refused), false));
    }
    let demo = |payload: Value| json!({"type": "demo", "run_at": later, "payload": payload});
    for (allowed, refused) in [
        (json!({"steps": 10000}), json!({"steps": 10001})),
        (json!({"steps": 1}), json!({"steps": 0})),
        (json!({"steps": 2.0}), json!({"steps": 2.5})),
        (json!({"step_ms": 60000}), json!({"step_ms": 60001})),
        (json!({"step_ms": 0}), json!({"step_ms": -1})),
        (
            json!({"steps": 3, "fail_at_step": 1}),
            json!({"steps": 3, "fail_at_step": 0}),
        ),
        (
            json!({"steps": 10000, "fail_at_step": 10000}),
            json!({"steps": 10000, "fail_at_step": 10001}),
        ),
        (json!(null), json!({"steps": 1, "sleep": 1})),
        (json!({}), json!([1])),
    ] {
        all.push(at("/api/jobs", "POST", demo(allowed), true));
        all.push(at("/api/jobs", "POST", demo(refused), false));
    }
    let progress = |field: &str, value: Value| {
        let mut body = json!({"progress": 50});
        body[field] = value;
        body
    };
    for (field, allowed, refused) in [
        ("progress", json!(100), json!(100.5)),
        ("progress", json!(0), json!(-0.5)),
        ("current", json!(0), json!(-1)),
        ("current", json!(3.0), json!(3.5)),
        ("total", json!(i64::MAX), json!(-1)),
        (
            "message",
            json!("m".repeat(16 * 1024)),
            json!("m".repeat(16 * 1024 + 1)),
        ),
        ("stage", json!("s".repeat(1024)), json!("s".repeat(1025))),
    ] {
        let template = "/api/jobs/{id}/progress";
        all.push(at(template, "POST", progress(field, allowed), true));
        all.push(at(template, "POST", progress(field, refused), false));
    }
    for (allowed, refused) in [
        (
            json!({"message": "m".repeat(16 * 1024)}),
            json!({"message": "m".repeat(16 * 1024 + 1)}),
        ),
        (
            json!({"message": "m", "level": "success"}),
            json!({"message": "m", "level": "debug"}),
        ),
    ] {
        all.push(at("/api/jobs/{id}/logs", "POST", allowed, true));
        all.push(at("/api/jobs/{id}/logs", "POST", refused, false));
    }
    for (allowed, refused) in [
        ("e".repeat(16 * 1024), "e".repeat(16 * 1024 + 1)),
        ("e".to_owned(), String::new()),
        // Blank is white space as Rust's `char::is_whitespace` has it (U+0085 and U+3000 are,
        // U+FEFF is not), which is not ECMA-262's `\s`: the pattern lists it.
        ("\u{feff}".to_owned(), " \u{85}\u{3000}\t".to_owned()),
    ] {
        let template = "/api/jobs/{id}/fail";
        all.push(at(template, "POST", json!({ "error": allowed }), true));
        all.push(at(template, "POST", json!({ "error": refused }), false));
    }
    // A bulk create: `jobs` itself, and a job's fields, each named from the top.
    for (allowed, refused) in [
        (json!([job("priority", json!(1))]), json!([])),
        (
            json!([job("priority", json!(1))]),
            json!({"type": "external"}),
        ),
        (
            json!([job("priority", json!(1000)), job("priority", json!(7.0))]),
            json!([job("priority", json!(7.0)), job("priority", json!(1001))]),
        ),
        (
            json!([job("max_attempts", json!(100))]),
            json!([job("max_attempts", json!(0))]),
        ),
        (
            json!([job("timeout", json!("7d"))]),
            json!([job("timeout", json!("8d"))]),
        ),
        (
            json!([job("idempotency_key", json!("k".repeat(1024)))]),
            json!([job("idempotency_key", json!(""))]),
        ),
        (
            json!([demo(json!({"steps": 10000}))]),
            json!([demo(json!({"steps": 10001}))]),
        ),
        (json!([demo(json!(null))]), json!([1])),
    ] {
        let template = "/api/jobs/bulk";
        all.push(at(template, "POST", json!({ "jobs": allowed }), true));
        all.push(at(template, "POST", json!({ "jobs": refused }), false));
    }
    let claim = |field: &str, value: Value| {
        let mut body = json!({"types": ["external"]});
        body[field] = value;
        body
    };
    for (field, allowed, refused) in [
        ("worker", json!("w".repeat(200)), json!("w".repeat(201))),
        ("worker", json!("w"), json!(" ")),
        ("lease", json!("1h"), json!("61m")),
        ("lease", json!("3600s"), json!("3601s")),
        ("lease", json!("1s"), json!("0s")),
        ("wait", json!("60s"), json!("61s")),
        ("wait", json!("60000ms"), json!("60001ms")),
        ("wait", json!("1m"), json!("2m")),
        ("types", json!(["external", "external"]), json!(["demo"])),
        ("types", json!(["external"]), json!([])),
        ("max", json!(100), json!(101)),
        ("max", json!(1), json!(0)),
        ("max", json!(3.0), json!(2.5)),
        ("max", json!(null), json!("3")),
    ] {
        let template = "/api/workers/claim";
        all.push(at(template, "POST", claim(field, allowed), true));
        all.push(at(template, "POST", claim(field, refused), false));
    }
    all
}

/// For a table of requests at the edges of the request schemas: a value at the schema's
/// boundary is valid by the document and the server takes it; one just past it is invalid by
/// the document and the server refuses it with 422 naming the field. Query parameters too.
#[tokio::test]
async fn the_request_schemas_say_exactly_what_the_server_takes() {
    let app = spawn_app().await;
    let doc = document();
    let validator = Validator::new(&doc);
    for edge in edges() {
        let operation = &doc["paths"][edge.template][edge.method.to_lowercase()];
        let (schema, _) = json_body(&doc, operation).expect("a JSON body");
        let what = format!("{} {} {}", edge.method, edge.template, edge.body);
        let valid = validator.check(&edge.body, &schema);
        assert_eq!(
            valid.is_ok(),
            edge.allowed,
            "{what} by the document: {valid:?}"
        );
        let (status, answer) = send_json(&app, &doc, edge.template, edge.method, &edge.body).await;
        if edge.allowed {
            assert!(status.is_success(), "{what}: {status} {answer}");
        } else {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {answer}");
            assert!(answer["field"].is_string(), "{what}: {answer}");
        }
    }

    // Query parameters: (path, the parameter, its value as the schema reads it, allowed).
    let id = app.create_external().await;
    let logs = format!("/api/jobs/{id}/logs");
    let queries: Vec<(&str, &str, Value, bool)> = vec![
        ("/api/jobs", "limit", json!(500), true),
        ("/api/jobs", "limit", json!(501), false),
        ("/api/jobs", "limit", json!(1), true),
        ("/api/jobs", "limit", json!(0), false),
        ("/api/jobs", "limit", json!(""), true),
        ("/api/jobs", "limit", json!("ten"), false),
        ("/api/jobs", "cursor", json!(""), true),
        ("/api/jobs", "cursor", json!(MISSING), true),
        ("/api/jobs", "cursor", json!("nope"), false),
        ("/api/jobs", "status", json!(""), true),
        ("/api/jobs", "status", json!("done"), false),
        (&logs, "after", json!(0), true),
        (&logs, "after", json!(-1), false),
        (&logs, "after", json!(i64::MAX), true),
        (&logs, "limit", json!(10000), true),
        (&logs, "limit", json!(10001), false),
        (&logs, "limit", json!(""), true),
    ];
    for (path, name, value, allowed) in queries {
        let template = if path == "/api/jobs" {
            "/api/jobs"
        } else {
            "/api/jobs/{id}/logs"
        };
        let parameter = doc["paths"][template]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| deref(&doc, p))
            .find(|p| p["name"] == name && p["in"] == "query")
            .unwrap_or_else(|| panic!("{template} has no query parameter {name}"));
        let what = format!("GET {path}?{name}={value}");
        let valid = validator.check(&value, &parameter["schema"]);
        assert_eq!(valid.is_ok(), allowed, "{what} by the document: {valid:?}");
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        let response = app
            .client
            .get(app.url(path))
            .query(&[(name, text)])
            .send()
            .await
            .unwrap();
        let (status, answer) = check_answer(&doc, template, "GET", response).await;
        let expected = if allowed {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        assert_eq!(status, expected, "{what}: {answer}");
    }

    // The lease header: 1 to 64 printable ASCII characters, else 400 (and a well-formed one
    // that is not the job's is a lost lease, 409).
    let parameter = deref(&doc, &json!({"$ref": "#/components/parameters/lease"})).clone();
    for (lease, allowed) in [("l".repeat(64), true), ("l".repeat(65), false)] {
        let valid = validator.check(&json!(lease), &parameter["schema"]);
        assert_eq!(valid.is_ok(), allowed, "lease of {} bytes", lease.len());
        let id = app.create_external().await;
        let response = app
            .client
            .post(app.url(&format!("/api/jobs/{id}/progress")))
            .header("jobcast-lease", &lease)
            .json(&json!({"progress": 1}))
            .send()
            .await
            .unwrap();
        let template = "/api/jobs/{id}/progress";
        let (status, answer) = check_answer(&doc, template, "POST", response).await;
        let expected = if allowed {
            StatusCode::CONFLICT
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(status, expected, "lease of {} bytes: {answer}", lease.len());
    }
}

/// The served document names the server's own job types, log line limit and most jobs per
/// bulk create: a server with another external type and smaller limits takes what its
/// document says, and the file's lists (the built-in types) are not what it serves.
#[tokio::test]
async fn the_served_document_names_the_servers_own_types_and_limit() {
    use jobcast::config::{JobKind, JobTypeConfig};
    let app = spawn_app_with(|c| {
        let mailer = JobTypeConfig::new(JobKind::External);
        c.job_types.insert("mailer".into(), mailer);
        c.limits.max_log_line_bytes = 100;
        c.http.max_bulk_jobs = 3;
    })
    .await;
    let types: Vec<Value> = app
        .client
        .get(app.url("/api/types"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let served: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, served_document(&types, 100, 3));
    assert_ne!(served, document());
    let schemas = &served["components"]["schemas"];
    assert_eq!(
        schemas["CreateJob"]["properties"]["type"]["enum"],
        json!(["demo", "external", "mailer"])
    );
    assert_eq!(
        schemas["ClaimBody"]["properties"]["types"]["items"]["enum"],
        json!(["external", "mailer"])
    );
    let validator = Validator::new(&served);
    for (body, allowed) in [
        (
            json!({"type": "mailer", "payload": {"to": "a@example.com"}}),
            true,
        ),
        (json!({"type": "postman"}), false),
    ] {
        let schema = json!({"$ref": "#/components/schemas/CreateJob"});
        assert_eq!(validator.check(&body, &schema).is_ok(), allowed, "{body}");
        let (status, answer) = send_json(&app, &served, "/api/jobs", "POST", &body).await;
        assert_eq!(status.is_success(), allowed, "{body}: {status} {answer}");
    }
    for (message, allowed) in [("m".repeat(100), true), ("m".repeat(101), false)] {
        let body = json!({"progress": 1, "message": message});
        let schema = json!({"$ref": "#/components/schemas/ProgressBody"});
        assert_eq!(validator.check(&body, &schema).is_ok(), allowed);
        let template = "/api/jobs/{id}/progress";
        let (status, answer) = send_json(&app, &served, template, "POST", &body).await;
        assert_eq!(status.is_success(), allowed, "{status} {answer}");
    }
    let later = "2999-01-01T00:00:00Z";
    for (count, allowed) in [(3, true), (4, false)] {
        let job = json!({"type": "mailer", "run_at": later});
        let body = json!({ "jobs": vec![job; count] });
        let schema = json!({"$ref": "#/components/schemas/BulkCreate"});
        assert_eq!(validator.check(&body, &schema).is_ok(), allowed, "{count}");
        let (status, answer) = send_json(&app, &served, "/api/jobs/bulk", "POST", &body).await;
        assert_eq!(status.is_success(), allowed, "{count}: {status} {answer}");
        if !allowed {
            assert_eq!(answer["field"], "jobs", "{answer}");
            assert!(
                answer["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("at most 3") && m.contains("http.max_bulk_jobs")),
                "{answer}"
            );
        }
    }
}

/// An operation's JSON request body: its schema and examples.
fn json_body(doc: &Value, operation: &Value) -> Option<(Value, Vec<Value>)> {
    let body = deref(doc, operation.get("requestBody")?);
    let media = body["content"].get("application/json")?;
    let examples = media["examples"]
        .as_object()
        .expect("JSON bodies have examples")
        .values()
        .map(|e| deref(doc, e)["value"].clone())
        .collect();
    Some((media["schema"].clone(), examples))
}

/// Sends a JSON body to an operation, on a fresh `external` job where the path has an id (and
/// with one queued for a claim); checks the answer against the document.
async fn send_json(
    app: &TestApp,
    doc: &Value,
    template: &str,
    method: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let mut path = template.to_owned();
    if template.contains("{id}") || template == "/api/workers/claim" {
        let id = app.create_external().await;
        path = concrete(template, &id);
    }
    let response = request(app, method, &path).json(body).send().await.unwrap();
    check_answer(doc, template, method, response).await
}

#[tokio::test]
async fn request_bodies_are_exactly_what_the_handlers_take() {
    let app = spawn_app().await;
    let doc = document();
    let validator = Validator::new(&doc);
    let mut checked = 0;
    for (template, method, operation) in operations(&doc) {
        let Some((schema, examples)) = json_body(&doc, &operation) else {
            continue;
        };
        checked += 1;
        let what = format!("{method} {template}");
        assert!(!examples.is_empty(), "{what} has no examples");
        // The examples are valid and accepted as they are.
        for example in &examples {
            validator.assert(example, &schema, &format!("{what} example"));
            let (status, body) = send_json(&app, &doc, &template, &method, example).await;
            if template == "/api/jobs" {
                assert_eq!(status, StatusCode::CREATED, "{what} {example}: {body}");
            }
            assert!(status.is_success(), "{what} {example}: {status} {body}");
        }
        // The fullest example, changed one field at a time: the server takes null exactly
        // where the schema allows it, requires exactly the required fields, and takes no
        // field the schema lacks.
        let full = examples
            .iter()
            .max_by_key(|e| e.as_object().map_or(0, |o| o.len()))
            .unwrap();
        let schema = deref(&doc, &schema);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r.as_str().unwrap())
            .collect();
        let mut probes: Vec<(Value, Option<String>)> = Vec::new();
        for (name, property) in schema["properties"].as_object().unwrap() {
            let mut nulled = full.clone();
            nulled[name] = Value::Null;
            let takes_null = validator.check(&Value::Null, property).is_ok();
            probes.push((nulled, (!takes_null).then(|| name.clone())));
            if full.get(name).is_some() {
                let mut without = full.clone();
                without.as_object_mut().unwrap().remove(name);
                let needed = required.contains(&name.as_str());
                probes.push((without, needed.then(|| name.clone())));
            }
        }
        let mut extra = full.clone();
        extra["unexpected"] = json!(1);
        assert_eq!(schema["additionalProperties"], false, "{what}");
        probes.push((extra, Some("unexpected".to_owned())));
        for (body, refused) in probes {
            let (status, answer) = send_json(&app, &doc, &template, &method, &body).await;
            match refused {
                None => assert!(status.is_success(), "{what} {body}: {status} {answer}"),
                Some(field) => {
                    assert_eq!(
                        status,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "{what} {body}: {answer}"
                    );
                    assert_eq!(answer["field"], field.as_str(), "{what} {body}");
                }
            }
        }
    }
    assert_eq!(checked, 10, "the operations with JSON bodies");

    // Uploads: a raw body and a form.
    let response = app
        .client
        .post(app.url("/api/uploads"))
        .header("content-type", "text/plain")
        .body("some lines\n")
        .send()
        .await
        .unwrap();
    let (status, upload) = check_answer(&doc, "/api/uploads", "POST", response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(upload["content_type"], "text/plain");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"a,b\n".to_vec())
            .file_name("rows.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    let response = app
        .client
        .post(app.url("/api/uploads"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, upload) = check_answer(&doc, "/api/uploads", "POST", response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(upload["filename"], "rows.csv");
}

#[tokio::test]
async fn each_operation_takes_exactly_the_roles_it_names() {
    const TOKENS: &str =
        "admin:admin-token,submit:submit-token,worker:worker-token,read:read-token";
    let app = spawn_app_with(|c| {
        c.auth.plain_tokens = jobcast::auth::parse_pairs(TOKENS).unwrap();
    })
    .await;
    let doc = document();
    for (template, method, operation) in operations(&doc) {
        let what = format!("{method} {template}");
        let roles: Option<Vec<&str>> = operation.get("x-roles").map(|roles| {
            roles
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect()
        });
        let response = probe(&app, &method, &template).send().await.unwrap();
        let (status, _) = check_answer(&doc, &template, &method, response).await;
        match &roles {
            None => assert_ne!(status, StatusCode::UNAUTHORIZED, "{what} is public"),
            Some(_) => assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}"),
        }
        for role in ["admin", "submit", "worker", "read"] {
            let response = probe(&app, &method, &template)
                .bearer_auth(format!("{role}-token"))
                .send()
                .await
                .unwrap();
            let (status, body) = check_answer(&doc, &template, &method, response).await;
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{what} as {role}");
            let allowed = roles.as_ref().is_none_or(|r| r.contains(&role));
            assert_eq!(
                status == StatusCode::FORBIDDEN,
                !allowed,
                "{what} as {role}: {status} {body}"
            );
        }
    }

    // The signed `token` parameter opens the event streams without a header.
    let response = app
        .client
        .post(app.url("/api/jobs"))
        .bearer_auth("submit-token")
        .json(&json!({"type": "demo", "payload": {"steps": 1, "step_ms": 0}}))
        .send()
        .await
        .unwrap();
    let (status, job) = check_answer(&doc, "/api/jobs", "POST", response).await;
    assert_eq!(status, StatusCode::CREATED);
    let stream_url = job["stream_url"].as_str().unwrap();
    assert!(stream_url.contains("?token="), "{stream_url}");
    let response = app.client.get(app.url(stream_url)).send().await.unwrap();
    let (status, _) = check_answer(&doc, "/api/jobs/{id}/stream", "GET", response).await;
    assert_eq!(status, StatusCode::OK);
    let response = app
        .client
        .get(app.url("/api/events/token?type=demo"))
        .bearer_auth("read-token")
        .send()
        .await
        .unwrap();
    let (_, signed) = check_answer(&doc, "/api/events/token", "GET", response).await;
    let url = signed["url"].as_str().unwrap();
    let response = app.client.get(app.url(url)).send().await.unwrap();
    let (status, _) = check_answer(&doc, "/api/events", "GET", response).await;
    assert_eq!(status, StatusCode::OK, "{url}");
    let tampered = url.replace("type=demo", "type=external");
    let response = app.client.get(app.url(&tampered)).send().await.unwrap();
    let (status, _) = check_answer(&doc, "/api/events", "GET", response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{tampered}");
}

#[tokio::test]
async fn the_limits_answer_as_documented() {
    let app = spawn_app_with(|c| {
        c.limits.create_rate = 0.01;
        c.limits.create_burst = 2;
        c.limits.max_queued_per_type = 1;
        c.limits.max_streams_per_job = 1;
        c.limits.max_json_depth = 4;
        c.limits.max_header_bytes = 2048;
    })
    .await;
    let doc = document();
    let create = |body: Value| app.client.post(app.url("/api/jobs")).json(&body).send();
    let external = json!({"type": "external"});
    // A second queued job of a type over `max_queued_per_type`: 503 queue_full.
    let (status, job) = check_answer(
        &doc,
        "/api/jobs",
        "POST",
        create(external.clone()).await.unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let response = create(external.clone()).await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    let (status, body) = check_answer(&doc, "/api/jobs", "POST", response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "queue_full");
    // Past the creation burst: 429 too_many_requests.
    let mut refused = None;
    for _ in 0..3 {
        let response = create(json!({"type": "demo"})).await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(check_answer(&doc, "/api/jobs", "POST", response).await.1);
            break;
        }
    }
    assert_eq!(refused.expect("a 429")["error"], "too_many_requests");
    // A bulk create whose jobs are more than the creations left: 429 as well, and one with
    // more jobs than the bucket ever holds (`create_burst`): 422, which waiting would not fix.
    let bulk = |count: usize| {
        let jobs = vec![json!({"type": "demo"}); count];
        let request = app.client.post(app.url("/api/jobs/bulk"));
        request.json(&json!({ "jobs": jobs })).send()
    };
    let response = bulk(2).await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    let (status, body) = check_answer(&doc, "/api/jobs/bulk", "POST", response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "too_many_requests");
    let (status, body) = check_answer(&doc, "/api/jobs/bulk", "POST", bulk(3).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "jobs");
    // A second stream on one job: 429 too_many_requests.
    let id = job["id"].as_str().unwrap();
    let first = app.stream(id, None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let (status, body) = check_answer(
        &doc,
        "/api/jobs/{id}/stream",
        "GET",
        app.stream(id, None).await,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    drop(first);
    // JSON nested too deep: 400 json_too_deep, on every JSON-body route (a bulk create's body
    // may nest two levels deeper than the others, so each job nests as deep as on its own).
    let deep = json!({
        "result": [[[[[[[1]]]]]]],
        "progress": 1,
        "message": "m",
        "error": "e",
        "types": ["external"],
    });
    for (template, method, operation) in operations(&doc) {
        if json_body(&doc, &operation).is_none() {
            continue;
        }
        let response = request(&app, &method, &concrete(&template, id))
            .json(&deep)
            .send()
            .await
            .unwrap();
        let (status, body) = check_answer(&doc, &template, &method, response).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {template}: {body}"
        );
        assert_eq!(body["error"], "json_too_deep", "{method} {template}");
    }
    // A head over `max_header_bytes`: 431 headers_too_large, on every route.
    for (template, methods) in ROUTES {
        let response = request(&app, methods[0], &concrete(template, MISSING))
            .header("x-padding", "x".repeat(4096))
            .send()
            .await
            .unwrap();
        let (status, body) = check_answer(&doc, template, methods[0], response).await;
        assert_eq!(
            status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{template}: {body}"
        );
        assert_eq!(body["error"], "headers_too_large");
    }
}

/// The JSON Schema keywords the document may use: those [`Validator`] checks, and annotations.
const KEYWORDS: &[&str] = &[
    "$ref",
    "allOf",
    "anyOf",
    "oneOf",
    "type",
    "const",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "items",
    "required",
    "properties",
    "additionalProperties",
    "not",
    // With `contentMediaType: application/json`: a string holding JSON, checked against it.
    "contentSchema",
    // Annotations (and `contentSchema`'s partner).
    "description",
    "default",
    "examples",
    "contentMediaType",
];

fn known_keywords(schema: &Value, errors: &mut Vec<String>) {
    let Some(map) = schema.as_object() else {
        return;
    };
    for (keyword, inner) in map {
        if !KEYWORDS.contains(&keyword.as_str()) {
            errors.push(format!("unknown keyword {keyword} in {schema}"));
        }
        match keyword.as_str() {
            "properties" => inner
                .as_object()
                .unwrap()
                .values()
                .for_each(|s| known_keywords(s, errors)),
            "allOf" | "anyOf" | "oneOf" => inner
                .as_array()
                .unwrap()
                .iter()
                .for_each(|s| known_keywords(s, errors)),
            "items" | "additionalProperties" | "contentSchema" | "not" => {
                known_keywords(inner, errors)
            }
            _ => {}
        }
    }
}

/// A small JSON Schema validator for the keywords in [`KEYWORDS`]. It is strict where the
/// document is silent: an object schema that lists properties but says nothing of others is
/// taken as closed, so an answer with a field the document lacks fails.
struct Validator<'a> {
    doc: &'a Value,
}

impl<'a> Validator<'a> {
    fn new(doc: &'a Value) -> Self {
        Validator { doc }
    }

    fn check(&self, value: &Value, schema: &Value) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        self.validate(value, schema, "$", true, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    #[track_caller]
    fn assert(&self, value: &Value, schema: &Value, what: &str) {
        if let Err(errors) = self.check(value, schema) {
            panic!("{what}: {value} does not match the document: {errors:#?}");
        }
    }

    /// The properties `schema` names, through `$ref` and `allOf`.
    fn property_names(&self, schema: &Value) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            names.extend(properties.keys().cloned());
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            names.extend(self.property_names(resolve(self.doc, reference)));
        }
        for branch in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            names.extend(self.property_names(branch));
        }
        names
    }

    /// `closed`: whether this schema decides which properties an object may have (false for
    /// the branches of an `allOf`, whose parent decides with all their properties).
    fn validate(
        &self,
        value: &Value,
        schema: &Value,
        at: &str,
        closed: bool,
        errors: &mut Vec<String>,
    ) {
        let Some(map) = schema.as_object() else {
            if schema == &json!(false) {
                errors.push(format!("{at}: nothing is allowed here"));
            }
            return;
        };
        let mut fail = |message: String| errors.push(format!("{at}: {message}"));
        let mut nested: Vec<String> = Vec::new();
        for (keyword, arg) in map {
            match keyword.as_str() {
                "$ref" => self.validate(
                    value,
                    resolve(self.doc, arg.as_str().unwrap()),
                    at,
                    closed,
                    &mut nested,
                ),
                "allOf" => {
                    for branch in arg.as_array().unwrap() {
                        self.validate(value, branch, at, false, &mut nested);
                    }
                }
                // A branch narrows some of its parent's properties (CreateJob's by type), so
                // its parent decides which properties an object may have, as for `allOf`; a
                // branch that decides says so with `additionalProperties`.
                "anyOf" | "oneOf" => {
                    let matching = arg
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|branch| {
                            let mut branch_errors = Vec::new();
                            self.validate(value, branch, at, false, &mut branch_errors);
                            branch_errors.is_empty()
                        })
                        .count();
                    if matching == 0 || keyword == "oneOf" && matching > 1 {
                        fail(format!("{matching} branches of {keyword} match"));
                    }
                }
                "type" => {
                    let types: Vec<&str> = match arg {
                        Value::String(t) => vec![t.as_str()],
                        other => other
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|t| t.as_str().unwrap())
                            .collect(),
                    };
                    if !types.iter().any(|t| has_type(value, t)) {
                        fail(format!("not of type {arg}"));
                    }
                }
                "const" if !same(value, arg) => fail(format!("not {arg}")),
                "enum" if !arg.as_array().unwrap().iter().any(|v| same(value, v)) => {
                    fail(format!("not one of {arg}"))
                }
                "minimum" | "maximum" => {
                    if let (Some(n), Some(limit)) = (value.as_f64(), arg.as_f64()) {
                        if keyword == "minimum" && n < limit || keyword == "maximum" && n > limit {
                            fail(format!("{n} is past the {keyword} {limit}"));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let (Some(s), Some(limit)) = (value.as_str(), arg.as_u64()) {
                        let len = s.chars().count() as u64;
                        if keyword == "minLength" && len < limit
                            || keyword == "maxLength" && len > limit
                        {
                            fail(format!("length {len} is past the {keyword} {limit}"));
                        }
                    }
                }
                "pattern" => {
                    if let Some(s) = value.as_str() {
                        if !matches_pattern(arg.as_str().unwrap(), s) {
                            fail(format!("{s:?} does not match {arg}"));
                        }
                    }
                }
                "format" => {
                    if let Some(s) = value.as_str() {
                        let ok = match arg.as_str().unwrap() {
                            "uuid" => uuid::Uuid::parse_str(s).is_ok(),
                            "date-time" => time::OffsetDateTime::parse(
                                s,
                                &time::format_description::well_known::Rfc3339,
                            )
                            .is_ok(),
                            other => panic!("the validator does not know format {other}"),
                        };
                        if !ok {
                            fail(format!("{s:?} is not a {arg}"));
                        }
                    }
                }
                "minItems" => {
                    if let (Some(items), Some(min)) = (value.as_array(), arg.as_u64()) {
                        if (items.len() as u64) < min {
                            fail(format!("fewer than {min} items"));
                        }
                    }
                }
                "maxItems" => {
                    if let (Some(items), Some(max)) = (value.as_array(), arg.as_u64()) {
                        if (items.len() as u64) > max {
                            fail(format!("more than {max} items"));
                        }
                    }
                }
                "items" => {
                    for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                        self.validate(item, arg, &format!("{at}[{i}]"), true, &mut nested);
                    }
                }
                "required" => {
                    if let Some(object) = value.as_object() {
                        for name in arg.as_array().unwrap() {
                            if !object.contains_key(name.as_str().unwrap()) {
                                fail(format!("{name} is missing"));
                            }
                        }
                    }
                }
                "properties" => {
                    if let Some(object) = value.as_object() {
                        for (name, property) in arg.as_object().unwrap() {
                            if let Some(inner) = object.get(name) {
                                let at = format!("{at}.{name}");
                                self.validate(inner, property, &at, true, &mut nested);
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(object) = value.as_object() {
                        let known = self.property_names(schema);
                        for (name, inner) in object {
                            if known.contains(name) {
                                continue;
                            }
                            match arg {
                                Value::Bool(false) => fail(format!("{name} is not allowed")),
                                Value::Bool(true) => {}
                                schema => self.validate(
                                    inner,
                                    schema,
                                    &format!("{at}.{name}"),
                                    true,
                                    &mut nested,
                                ),
                            }
                        }
                    }
                }
                // A value the inner schema accepts is refused (checked open: the inner schema
                // picks out values, it does not close the object).
                "not" => {
                    let mut inner = Vec::new();
                    self.validate(value, arg, at, false, &mut inner);
                    if inner.is_empty() {
                        fail(format!("matches {arg}, which is not allowed"));
                    }
                }
                "contentSchema" => {
                    assert_eq!(
                        map.get("contentMediaType"),
                        Some(&json!("application/json")),
                        "contentSchema without contentMediaType application/json: {schema}"
                    );
                    if let Some(text) = value.as_str() {
                        match serde_json::from_str::<Value>(text) {
                            Ok(inner) => {
                                let at = format!("{at}(as JSON)");
                                self.validate(&inner, arg, &at, true, &mut nested);
                            }
                            Err(e) => fail(format!("{text:?} is not JSON: {e}")),
                        }
                    }
                }
                "const" | "enum" | "description" | "default" | "examples" | "contentMediaType" => {}
                other => fail(format!("the validator does not know {other}")),
            }
        }
        if closed && !map.contains_key("additionalProperties") {
            if let Some(object) = value.as_object() {
                let known = self.property_names(schema);
                if !known.is_empty() {
                    for name in object.keys().filter(|name| !known.contains(*name)) {
                        fail(format!("{name} is not in the document"));
                    }
                }
            }
        }
        errors.extend(nested);
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        // JSON Schema's integer: a number without a fractional part, `7.0` as well as `7`.
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        other => panic!("no JSON type {other}"),
    }
}

/// JSON equality, with numbers compared as numbers (`100.0` is `100`).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Whether `s` has a match of the document's `pattern` (JSON Schema patterns are not anchored;
/// the document's use only escapes that mean the same in ECMA-262 and in Rust's syntax).
fn matches_pattern(pattern: &str, s: &str) -> bool {
    regex_automata::meta::Regex::new(pattern)
        .unwrap_or_else(|e| panic!("pattern {pattern:?}: {e}"))
        .is_match(s)
}
