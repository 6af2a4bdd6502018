//! Known signals: named, renamed and deleted over REST, labelling the live `signals:detected`
//! at once, and still there after a restart on the same SQLite file.

use crate::common::{connect, get_json, keys, start, temp_path, test_config, wait_for, Ws};
use crate::{content_type, get, send_json};
use sdrhub::events::Timestamp;
use serde_json::{json, Value};
use std::time::Duration;

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
