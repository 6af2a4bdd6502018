//! The history REST API and known signals against the real server over real HTTP: a database
//! seeded through the store (as the writer fills it), then paged, filtered and exported by the
//! endpoints; known signals named, renamed and deleted, labelling the live `signals:detected`
//! and surviving a restart on the same SQLite file.
//!
//! - [`seed`]: the seeded database and a server on it;
//! - [`queries`]: the history endpoints (paging, filters, CSV, GeoJSON, errors);
//! - [`known`]: known signals, live labelling and a restart.

#[path = "../common/mod.rs"]
mod common;
mod known;
mod queries;
mod seed;

use common::get_json;
use serde_json::Value;

/// GET `path`: status, body text and headers.
async fn get(server: &sdrhub::roles::RunningServer, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let response = reqwest::get(format!("http://{}{}", server.addr, path))
        .await
        .expect("GET");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.expect("a body"), headers)
}

fn content_type(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Asserts a 400 whose `error` names `parameter`.
async fn assert_refused(server: &sdrhub::roles::RunningServer, path: &str, parameter: &str) {
    let (status, body) = get_json(server, path).await;
    assert_eq!(status, 400, "{path}: {body}");
    let error = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no error text in {body}"));
    assert!(
        error.starts_with(parameter),
        "{path}: the error does not name {parameter}: {error}"
    );
}

/// Sends `method` to `path` with a JSON `body`: status and body (`Null` when empty).
async fn send_json(
    server: &sdrhub::roles::RunningServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().request(method, format!("http://{}{}", server.addr, path));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the request is answered");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body, headers)
}
