//! The history endpoints on the seeded database.

use crate::common::{get_json, keys, quiet_config, start};
use crate::seed::{base, rfc3339, seeded_server, window, BASE_HZ, S, SEEDED};
use crate::{assert_refused, content_type, get};
use serde_json::{json, Value};
use std::collections::BTreeSet;

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
