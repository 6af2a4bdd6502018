//! The deployment's nginx (nginx/: nginx.conf, templates/, snippets/) run by the real Debian
//! nginx in front of a real sdrhub on loopback: REST, the dashboard with its security headers
//! and compression, and the WebSocket with its heartbeat, all through the proxy. Only the
//! template placeholders (listen address, upstream, web root) differ from docker-compose.yml.
//! Without nginx installed these tests fail, naming what to install.

mod common;

use common::nginx::{self, Nginx};
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

/// GET `url` with extra request headers; the status, headers and raw (undecoded) body.
async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.expect("body").to_vec())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .expect("an ASCII header")
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("a valid gzip body");
    out
}

/// The headers nginx/snippets/sdrhub.conf puts on every response.
fn assert_security_headers(headers: &reqwest::header::HeaderMap) {
    assert_eq!(header(headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(headers, "x-frame-options"), "DENY");
    assert_eq!(header(headers, "referrer-policy"), "no-referrer");
    let csp = header(headers, "content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self' ws: wss:",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(directive), "CSP {csp:?} lacks {directive:?}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
}

#[test]
fn nginx_accepts_the_configuration_without_warnings() {
    let vars = nginx::vars("127.0.0.1:8080".parse().unwrap(), "127.0.0.1:9".parse().unwrap());
    let layout = nginx::lay_out(&vars, &[]);
    let report = nginx::assert_config_ok(&layout);
    assert!(report.contains("syntax is ok"), "{report}");
}

#[test]
fn a_placeholder_without_a_value_is_refused_by_the_rendering() {
    // The nginx image leaves an unset ${NAME} in place; the test rendering must not.
    let vars = std::collections::HashMap::from([("A".to_owned(), "1".to_owned())]);
    let result = std::panic::catch_unwind(|| nginx::render("listen ${A}; root ${B};", &vars));
    assert!(result.is_err());
    assert_eq!(nginx::render("listen ${A}; $host", &vars), "listen 1; $host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_healthz_and_metrics_pass_through_nginx() {
    let server = start(test_config());
    let proxy = Nginx::start(server.addr);

    let (status, headers, body) = get(&proxy.url("/healthz"), &[]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        header(&headers, "server"),
        "nginx",
        "served by nginx, version hidden"
    );
    let health: Value = serde_json::from_slice(&body).expect("JSON");
    assert!(health["status"].is_string(), "{health}");

    let (status, headers, body) = get(&proxy.url("/api/v1/system/status"), &[]).await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").starts_with("application/json"));
    assert_security_headers(&headers);
    let system: Value = serde_json::from_slice(&body).expect("JSON");
    assert!(
        system["services"].is_array() && system["version"].is_string(),
        "{system}"
    );

    // The same answer as sdrhub gives directly (the proxy changes nothing in the body).
    let through: Value = serde_json::from_slice(&get(&proxy.url("/api/v1/ws/stats"), &[]).await.2).unwrap();
    let direct = get_json(&server, "/api/v1/ws/stats").await.1;
    assert_eq!(keys(&through), keys(&direct));

    // sdrhub's own 404 (JSON), not nginx's HTML page: /api/ goes to sdrhub whatever follows.
    let (status, _, body) = get(&proxy.url("/api/v1/no-such-thing"), &[]).await;
    assert_eq!(status, 404);
    let not_found: Value = serde_json::from_slice(&body).expect("sdrhub's JSON 404");
    assert_eq!(not_found["code"], "not_found");

    // JSON compressed when asked (by sdrhub or nginx), identical once decompressed; polled
    // until the four receivers of test_config have reported.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, headers, body) =
            get(&proxy.url("/api/v1/websdrs"), &[("accept-encoding", "gzip")]).await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-encoding"), "gzip");
        let websdrs: Value = serde_json::from_slice(&gunzip(&body)).expect("gzipped JSON");
        if websdrs["websdrs"].as_array().map(Vec::len) == Some(4) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not 4 receivers within {WAIT:?}: {websdrs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status, _, body) = get(&proxy.url("/metrics"), &[]).await;
    assert_eq!(status, 200);
    let metrics = String::from_utf8(body).expect("text");
    assert!(metrics.contains("sdrhub_ws_connections"), "{metrics}");

    drop(proxy);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_served_by_nginx_with_security_headers_and_gzip() {
    let server = start(test_config());
    let proxy = Nginx::start(server.addr);
    let web = nginx::repo().join("web");

    let (status, headers, body) = get(&proxy.url("/"), &[]).await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").starts_with("text/html"));
    assert_eq!(body, std::fs::read(web.join("index.html")).unwrap());
    assert_security_headers(&headers);
    assert_eq!(header(&headers, "cache-control"), "no-cache");
    assert!(headers.get("content-encoding").is_none(), "gzip only when asked");

    // Every file of web/ (each module of the dashboard included), with the type a browser
    // needs: it refuses a module script that is not served as JavaScript.
    let files = nginx::web_files();
    assert!(files.iter().any(|f| f == "js/main.js"), "{files:?}");
    for file in &files {
        let path = format!("/{file}");
        let kind = match file.rsplit_once('.').map(|(_, ext)| ext) {
            Some("html") => "text/html",
            Some("css") => "text/css",
            Some("js") => "javascript",
            _ => panic!("web/{file}: which content type should nginx serve it with?"),
        };
        let (status, headers, body) = get(&proxy.url(&path), &[("accept-encoding", "gzip")]).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            header(&headers, "content-type").contains(kind),
            "{path}: {headers:?}"
        );
        assert_security_headers(&headers);
        assert_eq!(header(&headers, "cache-control"), "no-cache", "{path}");
        let original = std::fs::read(web.join(file)).unwrap();
        // A file under 1 KiB may go uncompressed (gzip_min_length 512) or barely shrink:
        // only its bytes are checked.
        if original.len() < 1024 {
            let body = match headers.get("content-encoding") {
                Some(_) => gunzip(&body),
                None => body,
            };
            assert_eq!(body, original, "{path}");
            continue;
        }
        assert_eq!(header(&headers, "content-encoding"), "gzip", "{path}");
        assert_eq!(header(&headers, "vary"), "Accept-Encoding", "{path}");
        assert!(
            body.len() < original.len(),
            "{path}: {} >= {}",
            body.len(),
            original.len()
        );
        assert_eq!(gunzip(&body), original, "{path}");
    }

    // Not found: nginx's own 404, still with the headers.
    let (status, headers, _) = get(&proxy.url("/nothing-here.js"), &[]).await;
    assert_eq!(status, 404);
    assert_security_headers(&headers);

    drop(proxy);
    server.stop().await.unwrap();
}

#[test]
fn the_dashboard_runs_under_the_content_security_policy() {
    // The CSP allows only the dashboard's own files: no inline script or style, no handler
    // attributes, no eval, nothing from another origin. A page that needed them would load
    // blank behind nginx while working when served by sdrhub directly.
    let web = nginx::repo().join("web");
    let html = std::fs::read_to_string(web.join("index.html")).unwrap();
    let lower = html.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("<script") {
        let tag_end = rest[at..].find('>').expect("a closed <script> tag") + at;
        let tag = &rest[at..tag_end];
        assert!(tag.contains("src=\"/"), "inline or foreign script: {tag}");
        assert!(
            rest[tag_end + 1..].starts_with("</script>"),
            "a script with a src has no body"
        );
        rest = &rest[tag_end..];
    }
    assert!(!lower.contains("<style"), "inline <style>");
    assert!(!lower.contains(" style="), "inline style attribute");
    assert!(!lower.contains("javascript:"), "javascript: URL");
    for handler in [
        " onclick=",
        " onload=",
        " onerror=",
        " onchange=",
        " oninput=",
        " onsubmit=",
    ] {
        assert!(!lower.contains(handler), "inline handler {handler}");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "a foreign resource"
    );
    let scripts: Vec<String> = nginx::web_files()
        .into_iter()
        .filter(|f| f.ends_with(".js"))
        .collect();
    assert!(
        scripts.iter().any(|f| f == "js/main.js"),
        "no dashboard script in web/: {scripts:?}"
    );
    for file in &scripts {
        let js = std::fs::read_to_string(web.join(file)).unwrap();
        for banned in ["eval(", "new Function(", "setAttribute(\"style\"", ".innerHTML ="] {
            assert!(!js.contains(banned), "web/{file} uses {banned}");
        }
        // Modules load only from the page's own origin (script-src 'self'): every static
        // import names a sibling file of web/, never a URL.
        for (at, _) in js.match_indices(" from \"") {
            let specifier = js[at + 7..].split('"').next().unwrap_or_default();
            assert!(
                specifier.starts_with("./") && specifier.ends_with(".js"),
                "web/{file}: imports {specifier:?}, not a module of web/"
            );
            let target = std::path::Path::new(file).with_file_name(&specifier[2..]);
            assert!(
                web.join(&target).is_file(),
                "web/{file}: imports {specifier:?}, which is not a file"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_works_through_nginx() {
    let mut config = test_config();
    // Server pings often enough to see them pass through nginx within the test.
    config.server.heartbeat_interval_s = 0.5;
    config.server.heartbeat_timeout_s = 5.0;
    let server = start(config);
    let proxy = Nginx::start(server.addr);

    for path in ["/ws/updates", "/ws?events=services:health"] {
        let url = format!("ws://{}{path}", proxy.addr);
        let (mut ws, response) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap_or_else(|e| panic!("WebSocket through nginx at {url}: {e}"));
        assert_eq!(response.status().as_u16(), 101);
        assert_eq!(
            response.headers()["server"],
            "nginx",
            "the upgrade went through nginx"
        );

        let first = next_json(&mut ws, WAIT).await.expect("a first message");
        assert_eq!(first["event"], "snapshot", "{first}");
        // Every topic of the default subscription: the four event topics and the active
        // alerts.
        assert_eq!(
            keys(&first["data"]),
            [
                "alerts:raised",
                "localizations:updated",
                "services:health",
                "signals:detected",
                "websdrs:status"
            ],
            "{first}"
        );

        // services:health is periodic (test_config: every 0.5 s): two of them arrive.
        let mut health_seqs = Vec::new();
        while health_seqs.len() < 2 {
            let (health, _) = wait_for(&mut ws, WAIT, "services:health", |m| {
                m["event"] == "services:health"
            })
            .await;
            health_seqs.push(health["seq"].as_u64().expect("seq"));
        }
        assert!(health_seqs[1] > health_seqs[0], "{health_seqs:?}");

        // An application-level ping gets its pong event.
        send(&mut ws, r#"{"event":"ping","data":{}}"#).await;
        wait_for(&mut ws, WAIT, "pong", |m| m["event"] == "pong").await;

        // A protocol-level ping gets its pong, and sdrhub's own pings reach the client.
        ws.send(Message::Ping(b"through nginx".to_vec().into()))
            .await
            .expect("send ping");
        let (mut pong, mut server_ping) = (false, false);
        let deadline = tokio::time::Instant::now() + WAIT;
        while !(pong && server_ping) {
            let frame = tokio::time::timeout_at(deadline, ws.next())
                .await
                .unwrap_or_else(|_| panic!("pong {pong}, server ping {server_ping} within {WAIT:?}"))
                .expect("the connection stays open")
                .expect("a frame");
            match frame {
                Message::Pong(payload) => {
                    assert_eq!(&payload[..], b"through nginx");
                    pong = true;
                }
                Message::Ping(_) => server_ping = true,
                Message::Close(close) => panic!("closed: {close:?}"),
                _ => {}
            }
        }
        ws.close(None).await.expect("close");
    }

    // The shutdown close code passes back through the proxy too.
    let url = format!("ws://{}/ws", proxy.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    assert_eq!(
        next_json(&mut ws, WAIT).await.expect("snapshot")["event"],
        "snapshot"
    );
    let stopping = tokio::spawn(server.stop());
    let deadline = tokio::time::Instant::now() + WAIT;
    let close = loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(close)))) => break close,
            Ok(Some(Ok(_))) => continue,
            other => panic!("no close frame through nginx: {other:?}"),
        }
    };
    assert_eq!(u16::from(close.expect("a close code").code), 1001);
    stopping.await.unwrap().unwrap();
    drop(proxy);
}

/// A stand-in upstream that records the first request it gets and answers `{}`.
fn recording_upstream() -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
            );
            if tx.send(String::from_utf8_lossy(&request).into_owned()).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

/// The value of `name` in a raw HTTP request (headers are case-insensitive).
fn request_header(request: &str, name: &str) -> Option<String> {
    request.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_address_and_scheme_reach_the_upstream() {
    // sdrhub does not echo request headers, so a recording upstream takes its place.
    let (upstream, requests) = recording_upstream();
    let proxy = Nginx::start(upstream);

    let (status, _, body) = get(
        &proxy.url("/api/v1/signals"),
        &[("x-forwarded-for", "203.0.113.7"), ("host", "dashboard.example")],
    )
    .await;
    assert_eq!((status, body.as_slice()), (200, &b"{}"[..]));
    let request = requests
        .recv_timeout(WAIT)
        .expect("the request reached the upstream");
    assert!(
        request.starts_with("GET /api/v1/signals HTTP/1.1\r\n"),
        "{request}"
    );
    let value = |name| request_header(&request, name);
    assert_eq!(value("x-real-ip").as_deref(), Some("127.0.0.1"), "{request}");
    assert_eq!(
        value("x-forwarded-for").as_deref(),
        Some("203.0.113.7, 127.0.0.1"),
        "{request}"
    );
    assert_eq!(value("x-forwarded-proto").as_deref(), Some("http"), "{request}");
    assert_eq!(value("host").as_deref(), Some("dashboard.example"), "{request}");
    // Plain requests keep the pooled upstream connection open: no `Connection: close`.
    assert_eq!(value("connection"), None, "{request}");

    // A WebSocket upgrade is passed on as one.
    let response = reqwest::Client::new()
        .get(proxy.url("/ws/updates"))
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("upgrade request");
    assert_eq!(
        response.status().as_u16(),
        200,
        "the stand-in answers 200, not 101"
    );
    let request = requests
        .recv_timeout(WAIT)
        .expect("the upgrade reached the upstream");
    assert!(request.starts_with("GET /ws/updates HTTP/1.1\r\n"), "{request}");
    assert_eq!(
        request_header(&request, "upgrade").as_deref(),
        Some("websocket"),
        "{request}"
    );
    assert_eq!(
        request_header(&request, "connection").as_deref(),
        Some("upgrade"),
        "{request}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_stays_up_while_sdrhub_is_down() {
    // Nothing listens upstream: the API says 502, the page (from disk) still loads, and can
    // then show that it is reconnecting.
    let closed: SocketAddr = format!("127.0.0.1:{}", nginx::free_port()).parse().unwrap();
    let proxy = Nginx::start(closed);
    assert_eq!(get(&proxy.url("/healthz"), &[]).await.0, 502);
    let (status, headers, _) = get(&proxy.url("/api/v1/signals"), &[]).await;
    assert_eq!(status, 502);
    assert_security_headers(&headers);
    assert_eq!(get(&proxy.url("/"), &[]).await.0, 200);
    assert!(
        proxy.error_log().contains("connect() failed"),
        "{}",
        proxy.error_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_never_holds_a_token_and_one_address_is_held_to_its_share() {
    const TOKEN: &str = "never-in-a-log-0123456789";
    let mut config = test_config();
    config.auth.enabled = true;
    config.auth.tokens = vec![sdrhub::config::TokenConfig {
        name: "viewer".into(),
        token: TOKEN.into(),
        events: None,
        admin: false,
    }];
    // nginx is the trusted proxy; behind it each client counts by the address nginx saw.
    config.server.trusted_proxies = vec!["127.0.0.1".into()];
    config.server.max_connections_per_address = 3;
    let server = start(config);
    let log = std::env::temp_dir().join(format!("sdrhub-access-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    // A second access log in the shipped format, to a file the test can read.
    let proxy = Nginx::start_with(
        server.addr,
        &[(
            "zz-access.conf.template",
            format!("access_log {} main;\n", log.display()),
        )],
    );

    let url = format!("ws://{}/ws?events=&token={TOKEN}", proxy.addr);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            tokio_tungstenite::connect_async(url.as_str())
                .await
                .expect("within the share")
                .0,
        );
    }
    // The fourth from the same address is refused with a time to retry; the limit is sdrhub's
    // (nginx's own per-address ceiling is higher).
    let (status, body) = refused_upgrade(&url).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("max_connections_per_address"), "{body}");
    // Another address (as nginx would forward it from another host) still connects.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.as_str()).unwrap();
    request
        .headers_mut()
        .insert("x-forwarded-for", "198.51.100.7".parse().unwrap());
    let (_other, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("another address");
    assert_eq!(response.status().as_u16(), 101);
    let (status, _, _) = get(&proxy.url(&format!("/api/v1/signals?token={TOKEN}")), &[]).await;
    assert_eq!(status, 200);

    drop(held);
    drop(proxy);
    let written = std::fs::read_to_string(&log).expect("the access log");
    assert!(
        written.contains("GET /ws ") && written.contains("GET /api/v1/signals "),
        "{written}"
    );
    assert!(
        !written.contains(TOKEN),
        "a token reached the access log:\n{written}"
    );
    let _ = std::fs::remove_file(&log);
    server.stop().await.unwrap();
}
