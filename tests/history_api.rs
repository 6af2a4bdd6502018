//! The history REST API and known signals against the real server over real HTTP: a database
//! seeded through the store (as the writer fills it), then paged, filtered and exported by the
//! endpoints; known signals named, renamed and deleted, labelling the live `signals:detected`
//! and surviving a restart on the same SQLite file.

mod common;

use common::*;
use sdrhub::events::{
    EllipseReport, LocalizationMethod, LocalizationReport, SignalReport, SignalState, Timestamp,
};
use sdrhub::history::record::{ObservationRecord, OccupancyRecord};
use sdrhub::history::{Entry, HistoryConfig, HistoryStore, Record};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const S: i64 = 1_000_000_000;
/// Seeded signals: more than a few pages, with pairs sharing a `first_seen` (the cursor's tie).
const SEEDED: i64 = 250;
/// Seeded signals are on 70 cm, far from the test scene's 2 m transmitters.
const BASE_HZ: f64 = 430e6;

/// Where the seeded records start: two hours ago, inside the retention and before anything the
/// server hears itself.
fn base() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| (Timestamp::now().0 - 2 * 3600 * S).div_euclid(60 * S) * 60 * S)
}

fn rfc3339(ns: i64) -> String {
    Timestamp(ns).to_rfc3339()
}

fn seeded_signal(n: i64) -> SignalReport {
    let first = base() + (n / 2) * 10 * S;
    SignalReport {
        signal_id: format!("seed-{n}"),
        state: SignalState::New,
        frequency_hz: BASE_HZ + n as f64 * 1000.0,
        frequency_mhz: (BASE_HZ + n as f64 * 1000.0) / 1e6,
        bandwidth_hz: 12_500.0,
        snr_db: 20.0,
        power_dbfs: -60.0,
        peak_power_dbfs: -50.0,
        websdr_id: if n % 2 == 0 { "rx-a" } else { "rx-b" }.into(),
        receivers: vec![if n % 2 == 0 { "rx-a" } else { "rx-b" }.into()],
        first_seen: Timestamp(first),
        timestamp: Timestamp(first + 5 * S),
        known: None,
        novel: false,
    }
}

fn fix(signal_id: &str, at: i64, latitude: f64, longitude: f64) -> LocalizationReport {
    LocalizationReport {
        signal_id: signal_id.into(),
        latitude,
        longitude,
        uncertainty_m: 250.0,
        confidence: 0.8,
        method: LocalizationMethod::Tdoa,
        ellipse: EllipseReport {
            semi_major_m: 300.0,
            semi_minor_m: 200.0,
            orientation_deg: 45.0,
        },
        receivers: vec!["rx-a".into(), "rx-b".into(), "rx-c".into()],
        excluded: vec![sdrhub::events::Exclusion {
            receiver: "rx-d".into(),
            reason: "no GPS time".into(),
        }],
        gdop: 1.7,
        note: None,
        frequency_hz: BASE_HZ,
        timestamp: Timestamp(at),
    }
}

/// A fresh SQLite file holding the seeded history: [`SEEDED`] signals, observations of
/// `seed-0` by two receivers, three fixes of it (two near Paris, one near Lyon) and three
/// minutes of `rx-a`'s occupancy over ten 1 kHz cells.
async fn seeded_database() -> String {
    let url = format!("sqlite://{}", temp_path("history-api", "sqlite").display());
    let store = HistoryStore::open(&HistoryConfig {
        url: url.clone(),
        ..HistoryConfig::default()
    })
    .await
    .expect("open the history");
    let mut records: Vec<Record> = (0..SEEDED)
        .map(|n| Record::Signal(Box::new(seeded_signal(n))))
        .collect();
    for receiver in ["rx-a", "rx-b"] {
        for window in 0..4 {
            records.push(Record::Observation(ObservationRecord {
                signal_id: "seed-0".into(),
                first_seen_ns: base(),
                receiver: receiver.into(),
                start_ns: base() + window * 5 * S,
                stop_ns: base() + (window + 1) * 5 * S,
                samples: 10,
                power_dbfs: [-61.0, -60.0, -59.0],
                snr_db: [19.0, 20.0, 21.0],
            }));
        }
    }
    for (i, (lat, lon)) in [(48.85, 2.35), (48.86, 2.36), (45.76, 4.83)]
        .into_iter()
        .enumerate()
    {
        records.push(Record::Localization(Box::new(fix(
            "seed-0",
            base() + (i as i64 + 1) * S,
            lat,
            lon,
        ))));
    }
    for minute in 0..3 {
        records.push(Record::Occupancy(OccupancyRecord {
            receiver: "rx-a".into(),
            minute_ns: base() + minute * 60 * S,
            start_hz: BASE_HZ,
            cell_hz: 1000.0,
            spectra: 100,
            share: (0..10).map(|c| if c == 3 { 255 } else { 0 }).collect(),
            max_power_cdb: (0..10).map(|c| if c == 3 { -4000 } else { -9000 }).collect(),
        }));
    }
    let entries: Vec<Entry> = records.into_iter().map(Entry::one).collect();
    let outcome = store.write(&entries).await.expect("seed the history");
    assert_eq!(outcome.written as usize, entries.len(), "{outcome:?}");
    store.close().await;
    url
}

/// A server without transmitters on the seeded database.
async fn seeded_server() -> sdrhub::roles::RunningServer {
    let mut config = quiet_config();
    config.history.url = seeded_database().await;
    start(config)
}

/// GET `path`: status, content type and body text.
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

/// The seeded window, as query parameters.
fn window() -> String {
    format!("from={}&to={}", rfc3339(base() - S), rfc3339(base() + 3600 * S))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_returns_every_signal_once_and_filters_by_frequency_receiver_and_time() {
    let server = seeded_server().await;
    // JSON pages, following next_cursor.
    let mut seen: Vec<String> = Vec::new();
    let mut ids = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/api/v1/history/signals?{}&limit=37", window());
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = get_json(&server, &path).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(keys(&page), ["next_cursor", "signals"]);
        pages += 1;
        let signals = page["signals"].as_array().unwrap();
        assert!(signals.len() <= 37);
        for s in signals {
            seen.push(s["signal_id"].as_str().unwrap().to_string());
            assert!(ids.insert(s["id"].as_i64().unwrap()), "id {} twice", s["id"]);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, (SEEDED as usize).div_ceil(37));
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), SEEDED as usize, "every signal exactly once");
    assert_eq!(unique.len(), SEEDED as usize);
    // Newest first.
    assert_eq!(seen.first().map(String::as_str), Some("seed-249"));

    // The same through CSV pages, the cursor in a header; Unix seconds for the times.
    let from_s = (base() - S) / S;
    let mut rows = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!(
            "/api/v1/history/signals?from={from_s}&to={}&limit=100&format=csv",
            from_s + 3600
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, text, headers) = get(&server, &path).await;
        assert_eq!(status, 200, "{text}");
        assert!(content_type(&headers).starts_with("text/csv"), "{headers:?}");
        let mut lines = text.lines();
        let header = lines.next().expect("a header row");
        assert!(
            header.starts_with("id,signal_id,first_seen,last_seen,frequency_hz,"),
            "{header}"
        );
        assert!(text.ends_with("\r\n"));
        rows += lines.count();
        match headers.get("x-next-cursor") {
            Some(next) => cursor = Some(next.to_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(rows, SEEDED as usize);

    // Frequency: seed-50 ..= seed-99.
    let (_, page) = get_json(
        &server,
        &format!(
            "/api/v1/history/signals?{}&freq_min={}&freq_max={}&limit=1000",
            window(),
            BASE_HZ + 50_000.0,
            BASE_HZ + 99_000.0
        ),
    )
    .await;
    let signals = page["signals"].as_array().unwrap();
    assert_eq!(signals.len(), 50, "{page}");
    assert!(signals.iter().all(|s| {
        let f = s["frequency_hz"].as_f64().unwrap();
        (BASE_HZ + 50_000.0..=BASE_HZ + 99_000.0).contains(&f)
    }));
    // Receiver.
    let (_, page) = get_json(
        &server,
        &format!("/api/v1/history/signals?{}&receiver=rx-b&limit=1000", window()),
    )
    .await;
    let signals = page["signals"].as_array().unwrap();
    assert_eq!(signals.len(), 125);
    assert!(signals.iter().all(|s| s["receivers"] == json!(["rx-b"])));
    // Time: the first minute holds seed-0 ..= seed-11 (pairs every 10 s).
    let (_, page) = get_json(
        &server,
        &format!(
            "/api/v1/history/signals?from={}&to={}",
            rfc3339(base()),
            rfc3339(base() + 55 * S)
        ),
    )
    .await;
    assert_eq!(page["signals"].as_array().unwrap().len(), 12, "{page}");
    assert_eq!(page["next_cursor"], Value::Null);

    // Bad parameters: 400 naming them.
    let signals = "/api/v1/history/signals";
    assert_refused(&server, &format!("{signals}?from=yesterday"), "from").await;
    assert_refused(
        &server,
        &format!("{signals}?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"),
        "from",
    )
    .await;
    assert_refused(&server, &format!("{signals}?limit=0"), "limit").await;
    assert_refused(&server, &format!("{signals}?limit=1001"), "limit").await;
    assert_refused(&server, &format!("{signals}?limit=many"), "limit").await;
    assert_refused(&server, &format!("{signals}?freq_min=2&freq_max=1"), "freq_min").await;
    assert_refused(&server, &format!("{signals}?freq_min=low"), "freq_min").await;
    assert_refused(&server, &format!("{signals}?freqmin=1"), "freqmin").await;
    assert_refused(&server, &format!("{signals}?cursor=not-a-cursor"), "cursor").await;
    assert_refused(&server, &format!("{signals}?format=xml"), "format").await;
    assert_refused(&server, &format!("{signals}?format=geojson"), "format").await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_its_fixes_in_csv_and_geojson_and_the_occupancy_matrix() {
    let server = seeded_server().await;
    let (_, page) = get_json(
        &server,
        &format!("/api/v1/history/signals?{}&freq_max={BASE_HZ}", window()),
    )
    .await;
    let id = page["signals"][0]["id"].as_i64().expect("seed-0 is stored");
    assert_eq!(page["signals"][0]["signal_id"], "seed-0");

    // One signal: track, observations per receiver over time, fixes.
    let (status, detail) = get_json(&server, &format!("/api/v1/history/signals/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(
        keys(&detail),
        ["localizations", "observations", "signal", "truncated"]
    );
    assert_eq!(detail["signal"]["id"], id);
    assert_eq!(detail["signal"]["known"], Value::Null);
    let observations = detail["observations"].as_array().unwrap();
    assert_eq!(observations.len(), 8);
    for receiver in ["rx-a", "rx-b"] {
        let starts: Vec<&str> = observations
            .iter()
            .filter(|o| o["receiver"] == receiver)
            .map(|o| o["start"].as_str().unwrap())
            .collect();
        assert_eq!(starts.len(), 4, "{receiver}");
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "oldest first: {starts:?}");
    }
    assert_eq!(detail["localizations"].as_array().unwrap().len(), 3);
    assert_eq!(detail["localizations"][0]["history_id"], id);
    let (status, text, headers) = get(&server, &format!("/api/v1/history/signals/{id}?format=csv")).await;
    assert_eq!(status, 200);
    assert!(content_type(&headers).starts_with("text/csv"));
    assert_eq!(text.lines().count(), 9, "a header and 8 observations: {text}");
    assert!(text.starts_with("signal,receiver,start,stop,samples,"));
    // Absent and malformed ids.
    let (status, body) = get_json(&server, "/api/v1/history/signals/999999").await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("999999"), "{body}");
    assert_refused(&server, "/api/v1/history/signals/abc", "id").await;

    // Localizations: JSON, a box, CSV, GeoJSON.
    let fixes = format!("/api/v1/history/localizations?{}", window());
    let (status, body) = get_json(&server, &fixes).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(keys(&body), ["localizations", "truncated"]);
    assert_eq!(body["localizations"].as_array().unwrap().len(), 3);
    assert_eq!(body["localizations"][0]["longitude"], 4.83, "newest first");
    let (_, paris) = get_json(&server, &format!("{fixes}&bbox=2.2,48.8,2.5,48.9")).await;
    assert_eq!(paris["localizations"].as_array().unwrap().len(), 2, "{paris}");
    let (_, text, headers) = get(&server, &format!("{fixes}&format=csv")).await;
    assert!(content_type(&headers).starts_with("text/csv"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(
        lines[0],
        "id,history_id,signal_id,timestamp,method,latitude,longitude,uncertainty_m,confidence,\
         semi_major_m,semi_minor_m,orientation_deg,gdop,frequency_hz,receivers,excluded,note"
    );
    assert!(lines[1].contains(",seed-0,"), "{}", lines[1]);
    assert!(lines[1].contains(",tdoa,45.76,4.83,"), "{}", lines[1]);
    assert!(
        lines[1].contains(",rx-a;rx-b;rx-c,rx-d (no GPS time),"),
        "{}",
        lines[1]
    );
    let (status, text, headers) = get(&server, &format!("{fixes}&format=geojson")).await;
    assert_eq!(status, 200);
    assert_eq!(content_type(&headers), "application/geo+json");
    let geo: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(geo["type"], "FeatureCollection");
    let features = geo["features"].as_array().unwrap();
    assert_eq!(features.len(), 3);
    let feature = &features[0];
    assert_eq!(feature["type"], "Feature");
    assert_eq!(
        feature["geometry"],
        json!({"type": "Point", "coordinates": [4.83, 45.76]})
    );
    let properties = &feature["properties"];
    assert_eq!(properties["signal_id"], "seed-0");
    assert_eq!(properties["history_id"], id);
    assert_eq!(properties["method"], "tdoa");
    assert_eq!(properties["ellipse"]["semi_major_m"], 300.0);
    assert_eq!(properties["receivers"], json!(["rx-a", "rx-b", "rx-c"]));
    assert_eq!(properties["timestamp"], rfc3339(base() + 3 * S));
    assert!(
        properties.get("latitude").is_none(),
        "the position is the geometry"
    );
    assert_refused(&server, &format!("{fixes}&bbox=2.2,48.8,2.5"), "bbox").await;
    assert_refused(&server, &format!("{fixes}&bbox=0,50,1,40"), "bbox").await;
    assert_refused(&server, &format!("{fixes}&format=kml"), "format").await;
    assert_refused(&server, &format!("{fixes}&limit=50001"), "limit").await;

    // Occupancy: three minutes x ten cells, cell 3 busy.
    let occupancy = format!("/api/v1/history/occupancy?receiver=rx-a&{}", window());
    let (status, matrix) = get_json(&server, &occupancy).await;
    assert_eq!(status, 200, "{matrix}");
    assert_eq!(
        keys(&matrix),
        [
            "cell_hz",
            "frequencies_hz",
            "max_power_dbfs",
            "minutes",
            "occupancy",
            "receiver",
            "spectra"
        ]
    );
    assert_eq!(matrix["receiver"], "rx-a");
    assert_eq!(matrix["cell_hz"], 1000.0);
    assert_eq!(matrix["frequencies_hz"].as_array().unwrap().len(), 10);
    assert_eq!(matrix["frequencies_hz"][0], BASE_HZ + 500.0);
    assert_eq!(matrix["minutes"][0], rfc3339(base()));
    assert_eq!(matrix["spectra"], json!([100, 100, 100]));
    for row in matrix["occupancy"].as_array().unwrap() {
        let row: Vec<f64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_f64().unwrap())
            .collect();
        assert_eq!(row, [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
    assert_eq!(matrix["max_power_dbfs"][0][3], -40.0);
    let (_, narrow) = get_json(
        &server,
        &format!(
            "{occupancy}&freq_min={}&freq_max={}",
            BASE_HZ + 2000.0,
            BASE_HZ + 4000.0
        ),
    )
    .await;
    assert_eq!(
        narrow["frequencies_hz"],
        json!([BASE_HZ + 2500.0, BASE_HZ + 3500.0]),
        "{narrow}"
    );
    let (_, text, headers) = get(&server, &format!("{occupancy}&format=csv")).await;
    assert!(content_type(&headers).starts_with("text/csv"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with(&format!("minute,spectra,{},", BASE_HZ + 500.0)),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], format!("{},100,0,0,0,1,0,0,0,0,0,0", rfc3339(base())));
    let (_, text, _) = get(&server, &format!("{occupancy}&format=csv&values=max_power_dbfs")).await;
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .ends_with(",100,-90,-90,-90,-40,-90,-90,-90,-90,-90,-90"),
        "{text}"
    );
    let (_, empty) = get_json(
        &server,
        &format!("/api/v1/history/occupancy?receiver=nobody&{}", window()),
    )
    .await;
    assert_eq!(
        empty["minutes"],
        json!([]),
        "an unknown receiver has an empty matrix"
    );
    assert_refused(
        &server,
        &format!("/api/v1/history/occupancy?{}", window()),
        "receiver",
    )
    .await;
    assert_refused(&server, &format!("{occupancy}&values=max_power_dbfs"), "values").await;
    assert_refused(&server, &format!("{occupancy}&to=soon"), "to").await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_history_the_endpoints_say_it_is_disabled() {
    let mut config = quiet_config();
    config.history.enabled = false;
    let server = start(config);
    for path in [
        "/api/v1/history/signals",
        "/api/v1/history/signals/1",
        "/api/v1/history/localizations",
        "/api/v1/history/occupancy?receiver=rx1",
        "/api/v1/known-signals",
    ] {
        let (status, body) = get_json(&server, path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["code"], "history_disabled", "{path}");
        assert!(
            body["error"].as_str().unwrap().contains("history is disabled"),
            "{body}"
        );
    }
    server.stop().await.unwrap();
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

/// The test scene with its voice transmitter on all the time (an FM signal: reported again at
/// every material change of its SNR, at most once a second), on the SQLite file `url`.
fn voice_config(url: &str) -> sdrhub::config::Config {
    let mut config = test_config();
    config.history.url = url.to_string();
    for tx in &mut config.simulation.transmitters {
        if tx.id == "voice" {
            tx.schedule = None;
        }
    }
    config
}

/// Waits for a `signals:detected` of the voice transmitter (of live signal `signal_id` when
/// given) measured after `after` (so labelled after it: a report is labelled after its
/// measurement) and returns its payload.
async fn next_voice_report(ws: &mut Ws, voice_hz: f64, signal_id: Option<&str>, after: Timestamp) -> Value {
    let (message, _) = wait_for(
        ws,
        Duration::from_secs(40),
        "a report of the voice transmitter",
        |m| {
            m["event"] == "signals:detected"
                && (m["data"]["frequency_hz"].as_f64().unwrap() - voice_hz).abs() < 10_000.0
                && signal_id.is_none_or(|id| m["data"]["signal_id"] == id)
                && serde_json::from_value::<Timestamp>(m["data"]["timestamp"].clone()).unwrap() > after
        },
    )
    .await;
    message["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_a_signal_labels_its_next_report_and_survives_a_restart() {
    let url = format!("sqlite://{}", temp_path("known", "sqlite").display());
    let config = voice_config(&url);
    let voice_hz = config.simulation.center_frequency_hz - 60_000.0;
    let server = start(config.clone());
    let mut ws = connect(&server, "/ws?events=signals:detected").await;
    use reqwest::Method;
    let known = "/api/v1/known-signals";
    // The transmitter is on the air, and labelled: nothing knows it yet.
    let before = next_voice_report(&mut ws, voice_hz, None, Timestamp(0)).await;
    assert_eq!(before["known"], Value::Null, "{before}");
    let voice_id = before["signal_id"].as_str().unwrap().to_string();

    // Validation names the field.
    for (body, field) in [
        (
            json!({"name": " ", "freq_min_hz": 1.0, "freq_max_hz": 2.0}),
            "name",
        ),
        (json!({"freq_min_hz": 1.0, "freq_max_hz": 2.0}), "name"),
        (
            json!({"name": "x", "freq_min_hz": 2.0, "freq_max_hz": 1.0}),
            "freq_max_hz",
        ),
        (
            json!({"name": "x", "freq_min_hz": "low", "freq_max_hz": 1.0}),
            "freq_min_hz",
        ),
        (
            json!({"name": "x", "freq_min_hz": 1.0, "freq_max_hz": 2.0, "tags": "ham"}),
            "tags",
        ),
        (
            json!({"name": "x", "freq_min_hz": 1.0, "freq_max_hz": 2.0, "colour": "red"}),
            "colour",
        ),
        (json!(["not", "an", "object"]), "body"),
    ] {
        let (status, answer, _) = send_json(&server, Method::POST, known, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().starts_with(field),
            "{body}: the error does not name {field}: {answer}"
        );
    }

    // Create, read, replace.
    let draft = json!({"name": "Voice", "freq_min_hz": voice_hz - 10_000.0, "freq_max_hz": voice_hz + 10_000.0,
                       "tags": ["fm"], "notes": "the test scene's voice"});
    let (status, created, headers) = send_json(&server, Method::POST, known, Some(draft.clone())).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().expect("the record has its id");
    assert_eq!(headers["location"], format!("{known}/{id}").as_str());
    assert_eq!(
        keys(&created),
        [
            "created",
            "freq_max_hz",
            "freq_min_hz",
            "id",
            "ignore",
            "name",
            "notes",
            "tags",
            "updated"
        ]
    );
    assert_eq!(
        (created["name"].clone(), created["ignore"].clone()),
        (json!("Voice"), json!(false))
    );
    let (status, one, _) = send_json(&server, Method::GET, &format!("{known}/{id}"), None).await;
    assert_eq!((status, one), (200, created.clone()));
    let mut renamed = draft.clone();
    renamed["name"] = json!("Voice repeater");
    renamed["tags"] = json!(["fm", "repeater"]);
    let (status, replaced, _) = send_json(
        &server,
        Method::PUT,
        &format!("{known}/{id}"),
        Some(renamed.clone()),
    )
    .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["name"], "Voice repeater");
    let named_at = Timestamp::now();
    let (status, _, _) = send_json(
        &server,
        Method::PUT,
        &format!("{known}/999999"),
        Some(renamed.clone()),
    )
    .await;
    assert_eq!(status, 404);
    let (status, answer, _) = send_json(
        &server,
        Method::PUT,
        &format!("{known}/{id}"),
        Some(json!({"name": ""})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");

    // The next report of the same live signal (labelled before it was named) carries the name.
    let report = next_voice_report(&mut ws, voice_hz, Some(&voice_id), named_at).await;
    assert_eq!(
        report["known"],
        json!({"id": id, "name": "Voice repeater", "tags": ["fm", "repeater"], "ignore": false}),
        "{report}"
    );

    // A second record, deleted: 204, then 404.
    let (status, other, _) = send_json(
        &server,
        Method::POST,
        known,
        Some(json!({"name": "Beacon", "freq_min_hz": 1e6, "freq_max_hz": 1.1e6, "ignore": true})),
    )
    .await;
    assert_eq!(status, 201, "{other}");
    let other_path = format!("{known}/{}", other["id"]);
    let (status, body, _) = send_json(&server, Method::DELETE, &other_path, None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(send_json(&server, Method::DELETE, &other_path, None).await.0, 404);
    assert_eq!(send_json(&server, Method::GET, &other_path, None).await.0, 404);
    let (_, list) = get_json(&server, known).await;
    assert_eq!(list, json!({"known_signals": [replaced.clone()]}));
    let (_, text, headers) = get(&server, &format!("{known}?format=csv")).await;
    assert!(content_type(&headers).starts_with("text/csv"));
    assert!(text.starts_with("id,name,freq_min_hz,freq_max_hz,tags,notes,ignore,created,updated\r\n"));
    assert!(text.contains(",Voice repeater,"), "{text}");
    assert!(
        text.contains(",fm;repeater,the test scene's voice,false,"),
        "{text}"
    );
    drop(ws);
    server.stop().await.unwrap();

    // Restarted on the same file: the name is still there, and still labels the transmitter.
    let server = start(config);
    let mut ws = connect(&server, "/ws?events=signals:detected").await;
    let (_, list) = get_json(&server, known).await;
    assert_eq!(
        list,
        json!({"known_signals": [replaced]}),
        "known signals survive a restart"
    );
    let report = next_voice_report(&mut ws, voice_hz, None, Timestamp::now()).await;
    assert_eq!(report["known"]["name"], "Voice repeater", "{report}");
    // And the stored tracks of the transmitter carry it in the history too.
    let (_, page) = get_json(
        &server,
        &format!(
            "/api/v1/history/signals?freq_min={}&freq_max={}",
            voice_hz - 10_000.0,
            voice_hz + 10_000.0
        ),
    )
    .await;
    let signals = page["signals"].as_array().unwrap();
    assert!(
        !signals.is_empty(),
        "the voice transmitter is in the history: {page}"
    );
    assert!(
        signals.iter().all(|s| s["known"]["name"] == "Voice repeater"),
        "{page}"
    );
    server.stop().await.unwrap();
}
