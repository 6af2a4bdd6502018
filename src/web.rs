//! The dashboard, embedded in the binary so that `cargo run` serves it with no other files.
//!
//! Every file of `web/` is one row of `ASSETS`: its URL path, its text (`include_str!`, so a
//! row naming a missing file does not compile) and its content type. A test walks `web/` and
//! fails when a file has no row, so a new module cannot be left out of the binary while it
//! works when nginx serves `web/` from disk.

use actix_web::{web, HttpResponse};

/// One file of the dashboard.
#[derive(Debug)]
struct Asset {
    /// The URL path, which is the file's path under `web/`.
    path: &'static str,
    /// The file's text.
    body: &'static str,
    /// The `Content-Type` it is served with.
    content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
// The type browsers require of `<script type="module">` (and of every module it imports):
// any JavaScript MIME type; text/javascript is the one the HTML standard names.
const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: concat!("/", $path),
            body: include_str!(concat!("../web/", $path)),
            content_type: $content_type,
        }
    };
}

/// Every file of `web/`; `/` serves `index.html` as well.
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("style.css", CSS),
    asset!("js/main.js", JS),
    asset!("js/config.js", JS),
    asset!("js/state.js", JS),
    asset!("js/data.js", JS),
    asset!("js/events.js", JS),
    asset!("js/connection.js", JS),
    asset!("js/status.js", JS),
    asset!("js/freshness.js", JS),
    asset!("js/tables.js", JS),
    asset!("js/filter.js", JS),
    asset!("js/spectrum.js", JS),
    asset!("js/spectrum_view.js", JS),
    asset!("js/frame.js", JS),
    asset!("js/waterfall.js", JS),
    asset!("js/map.js", JS),
    asset!("js/details.js", JS),
    asset!("js/listen.js", JS),
    asset!("js/listen_bar.js", JS),
    asset!("js/listen-worklet.js", JS),
    asset!("js/listen_sources.js", JS),
    asset!("js/audio_packet.js", JS),
    asset!("js/alerts.js", JS),
    asset!("js/api.js", JS),
    asset!("js/plot.js", JS),
    asset!("js/history.js", JS),
    asset!("js/heatmap.js", JS),
    asset!("js/timeline.js", JS),
    asset!("js/known.js", JS),
    asset!("js/hook.js", JS),
    asset!("js/format.js", JS),
    asset!("js/dom.js", JS),
];

/// Registers `/` and every file of the dashboard at its path under `web/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for asset in ASSETS {
        cfg.route(asset.path, web::get().to(move || serve(asset)));
        if asset.path == "/index.html" {
            cfg.route("/", web::get().to(move || serve(asset)));
        }
    }
}

async fn serve(asset: &'static Asset) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(asset.content_type)
        // The dashboard changes with the binary; never let a browser run a stale copy.
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{http::header, test, App};
    use std::path::{Path, PathBuf};

    /// The files under `dir`, as paths relative to `root` with `/` separators.
    fn files_under(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files_under(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
                out.push(parts.join("/"));
            }
        }
    }

    /// What each kind of file must be served as, by extension (independent of the table).
    fn expected_type(file: &str) -> &'static str {
        match file.rsplit_once('.').map(|(_, ext)| ext) {
            Some("html") => "text/html; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            _ => panic!("web/{file}: no content type known for it; add one here and in ASSETS"),
        }
    }

    #[actix_web::test]
    async fn every_file_of_web_is_served_from_the_binary_with_its_type() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut files = Vec::new();
        files_under(&root, &root, &mut files);
        files.sort();
        assert!(files.iter().any(|f| f == "js/main.js"), "{files:?}");
        for file in &files {
            assert!(
                ASSETS.iter().any(|a| a.path == format!("/{file}")),
                "web/{file} is not in web::ASSETS, so the binary would not serve it"
            );
        }
        // Every row is a file (include_str!), every file has a row: equal counts, no duplicate.
        assert_eq!(ASSETS.len(), files.len(), "a file twice in web::ASSETS");

        let app = test::init_service(App::new().configure(configure)).await;
        let mut paths: Vec<(String, String)> = files.iter().map(|f| (format!("/{f}"), f.clone())).collect();
        paths.push(("/".to_owned(), "index.html".to_owned()));
        for (path, file) in paths {
            let response = test::call_service(&app, test::TestRequest::get().uri(&path).to_request()).await;
            assert_eq!(response.status(), 200, "{path}");
            let value_of = |name| {
                let value = response.headers().get(name);
                value.and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
            };
            assert_eq!(value_of(header::CONTENT_TYPE), expected_type(&file), "{path}");
            assert_eq!(value_of(header::CACHE_CONTROL), "no-cache", "{path}");
            assert_eq!(value_of(header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{path}");
            let body = test::read_body(response).await;
            assert_eq!(body, std::fs::read(root.join(&file)).unwrap(), "{path}");
        }
    }
}
