//! `/api/v1/recordings`: what listeners recorded (see `crate::audio::recorder`): the list, and
//! each file streamed as it is on disk. With `[auth]` on, a client sees only the recordings of
//! the receivers its token may hear (`audio:<receiver>`, `audio:*`).

use crate::app_state::AppState;
use crate::audio::recorder::is_recording_file;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

/// Bytes read from disk per chunk of a streamed file.
const CHUNK_BYTES: usize = 64 << 10;
/// Recordings listed at most (newest first).
const MAX_LISTED: usize = 1000;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/recordings", web::get().to(list))
        .route("/api/v1/recordings/{file}", web::get().to(file));
}

/// One recording in the list.
#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    wav: String,
    sigmf_meta: String,
    sigmf_data: String,
    bytes: u64,
}

/// What the client may hear (set by the guard; everything with `[auth]` off).
fn audio_access(req: &HttpRequest) -> crate::auth::AudioAccess {
    actix_web::HttpMessage::extensions(req)
        .get::<crate::auth::Access>()
        .map(|a| a.audio.clone())
        .unwrap_or_default()
}

/// The receiver a recording is of (its SigMF `core:hw`), from `<dir>/<base>.sigmf-meta`.
fn receiver_of(dir: &std::path::Path, base: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(format!("{base}.sigmf-meta"))).ok()?;
    let meta: serde_json::Value = serde_json::from_str(&text).ok()?;
    meta["global"]["core:hw"].as_str().map(str::to_string)
}

/// The refusal for a client that may not listen; `None` when it may.
fn refusal(req: &HttpRequest) -> Option<HttpResponse> {
    match audio_access(req) {
        crate::auth::AudioAccess::None => Some(
            crate::auth::Denied::Forbidden(
                "recordings need a token that may listen (audio:<receiver> or audio:* among its events)"
                    .into(),
            )
            .response(),
        ),
        _ => None,
    }
}

fn directory(state: &AppState) -> Option<std::path::PathBuf> {
    state.audio.as_ref().map(|a| a.recordings_dir())
}

/// `GET /api/v1/recordings`: `{"recordings": [...]}`, newest first.
async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(denied) = refusal(&req) {
        return denied;
    }
    let Some(dir) = directory(&state) else {
        return HttpResponse::Ok().json(serde_json::json!({"recordings": []}));
    };
    let max_bytes = state
        .audio
        .as_ref()
        .map(crate::audio::Audio::max_recordings_bytes);
    let access = audio_access(&req);
    let listed = web::block(move || {
        let used = crate::audio::recorder::Space::measure(&dir);
        let mut names: Vec<(String, u64)> = Vec::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let file = entry.file_name().to_string_lossy().to_string();
            if let Some(name) = file.strip_suffix(".sigmf-meta") {
                // Only the recordings of receivers the client may hear.
                if !receiver_of(&dir, name).is_some_and(|r| access.allows(&r)) {
                    continue;
                }
                let base = dir.join(name);
                let bytes = [".wav", ".sigmf-data", ".sigmf-meta"]
                    .iter()
                    .filter_map(|e| std::fs::metadata(format!("{}{e}", base.display())).ok())
                    .map(|m| m.len())
                    .sum();
                names.push((name.to_string(), bytes));
            }
        }
        // Names start with the UTC time: newest first.
        names.sort_by(|a, b| b.0.cmp(&a.0));
        names.truncate(MAX_LISTED);
        (names, used)
    })
    .await
    .unwrap_or_default();
    let (listed, used) = listed;
    let url = |name: &str, ext: &str| format!("/api/v1/recordings/{name}.{ext}");
    let recordings: Vec<Listed> = listed
        .into_iter()
        .map(|(name, bytes)| Listed {
            wav: url(&name, "wav"),
            sigmf_meta: url(&name, "sigmf-meta"),
            sigmf_data: url(&name, "sigmf-data"),
            name,
            bytes,
        })
        .collect();
    // The space every recording shares (`audio.max_recordings_bytes`), whoever made them.
    HttpResponse::Ok().json(serde_json::json!({
        "recordings": recordings,
        "bytes": used,
        "max_bytes": max_bytes,
    }))
}

/// `GET /api/v1/recordings/{file}`: one file, streamed.
async fn file(req: HttpRequest, state: web::Data<AppState>, name: web::Path<String>) -> HttpResponse {
    if let Some(denied) = refusal(&req) {
        return denied;
    }
    let not_found = || {
        HttpResponse::NotFound().json(serde_json::json!({
            "code": "not_found",
            "message": format!("no recording file {}", crate::events::quoted(&name)),
        }))
    };
    let (Some(dir), true) = (directory(&state), is_recording_file(&name)) else {
        return not_found();
    };
    // A recording of a receiver the client may not hear is not there for it.
    let base = [".wav", ".sigmf-meta", ".sigmf-data"]
        .iter()
        .find_map(|e| name.strip_suffix(e))
        .unwrap_or(&name);
    if !receiver_of(&dir, base).is_some_and(|r| audio_access(&req).allows(&r)) {
        return not_found();
    }
    let Ok(file) = tokio::fs::File::open(dir.join(name.as_str())).await else {
        return not_found();
    };
    let length = file.metadata().await.map(|m| m.len()).ok();
    let content_type = if name.ends_with(".wav") {
        "audio/wav"
    } else if name.ends_with(".sigmf-meta") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    let body = futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut file = file?;
        let mut buffer = vec![0u8; CHUNK_BYTES];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok::<_, std::io::Error>(web::Bytes::from(buffer)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut response = HttpResponse::Ok();
    response.content_type(content_type).insert_header((
        "Content-Disposition",
        format!("attachment; filename=\"{}\"", name.as_str()),
    ));
    if let Some(length) = length {
        response.no_chunking(length);
    }
    response.streaming(body)
}
