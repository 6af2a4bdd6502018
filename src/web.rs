//! The dashboard, embedded in the binary so that `cargo run` serves it with no other files.

use actix_web::{web, HttpResponse};

const INDEX_HTML: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const STYLE_CSS: &str = include_str!("../web/style.css");

/// Registers `/`, `/index.html`, `/app.js` and `/style.css`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/",
        web::get().to(|| asset(INDEX_HTML, "text/html; charset=utf-8")),
    )
    .route(
        "/index.html",
        web::get().to(|| asset(INDEX_HTML, "text/html; charset=utf-8")),
    )
    .route(
        "/app.js",
        web::get().to(|| asset(APP_JS, "text/javascript; charset=utf-8")),
    )
    .route(
        "/style.css",
        web::get().to(|| asset(STYLE_CSS, "text/css; charset=utf-8")),
    );
}

async fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // The dashboard changes with the binary; never let a browser run a stale copy.
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}
