//! Listening (issue 20) against the real server over a real WebSocket: the default scene's FM
//! voice, listened to in `nfm`, comes out with the scene's strongest modulating tone as the
//! dominant frequency of the audio; requests that cannot work are refused with a code and a
//! message naming why; a token needs `audio:<receiver>` (or `audio:*`); `audio.max_listeners`
//! holds, and a place is free again after `unlisten`.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use sdrhub::audio::packet;
use sdrhub::config::{Config, TokenConfig};
use sdrhub_hardware::sim::Scene;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// The next text message as JSON and the binary payloads that came before it.
async fn next_text(ws: &mut Ws, within: Duration, audio: &mut Vec<Vec<u8>>) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next()).await.ok()??.ok()?;
        match frame {
            Message::Text(text) => return serde_json::from_str(&text).ok(),
            Message::Binary(bytes) => audio.push(bytes.to_vec()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// Binary payloads for `duration`, texts ignored.
async fn audio_for(ws: &mut Ws, duration: Duration) -> Vec<Vec<u8>> {
    let mut audio = Vec::new();
    let deadline = tokio::time::Instant::now() + duration;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let Message::Binary(bytes) = frame {
            audio.push(bytes.to_vec());
        }
    }
    audio
}

async fn listen(ws: &mut Ws, receiver: &str, frequency_hz: f64, mode: &str) -> Value {
    let request = json!({"event": "listen", "data": {"receiver": receiver, "frequency_hz": frequency_hz, "mode": mode}});
    ws.send(Message::Text(request.to_string().into())).await.unwrap();
    let mut audio = Vec::new();
    loop {
        let message = next_text(ws, Duration::from_secs(10), &mut audio)
            .await
            .expect("an answer to listen");
        if message["event"] == "listening" || message["event"] == "error" {
            assert!(audio.is_empty(), "audio before the answer");
            return message;
        }
    }
}

/// The frequency of the strongest bin of `samples` between 100 Hz and 5 kHz, Hz.
fn dominant_hz(samples: &[f32], rate: f64) -> f64 {
    let n = samples.len().next_power_of_two() / 2;
    let mut planner = rustfft::FftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n);
    let mut buffer: Vec<rustfft::num_complex::Complex<f64>> = samples[samples.len() - n..]
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            // Hann window.
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos();
            rustfft::num_complex::Complex::new(f64::from(x) * w, 0.0)
        })
        .collect();
    fft.process(&mut buffer);
    let bin_hz = rate / n as f64;
    let (lo, hi) = ((100.0 / bin_hz) as usize, (5_000.0 / bin_hz) as usize);
    let peak = (lo..hi)
        .max_by(|&a, &b| buffer[a].norm().total_cmp(&buffer[b].norm()))
        .unwrap();
    // Parabolic interpolation between bins.
    let (a, b, c) = (
        buffer[peak - 1].norm(),
        buffer[peak].norm(),
        buffer[peak + 1].norm(),
    );
    let shift = 0.5 * (a - c) / (a - 2.0 * b + c);
    (peak as f64 + shift) * bin_hz
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_scenes_fm_voice_is_heard_at_its_modulating_tone() {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.history.enabled = false;
    let scene = Scene::new(config.simulation.clone()).unwrap();
    let voice = scene
        .transmitters()
        .iter()
        .find(|t| !t.message_tones().is_empty())
        .expect("the scene has an FM transmitter");
    let (tone_hz, share) = voice.message_tones()[0];
    let frequency_hz = voice.frequency_hz;
    let server = start(config);
    let mut ws = connect(&server, "/ws?events=signals:detected").await;
    // Wait until it is on the air and heard.
    let (heard, _) = wait_for(&mut ws, Duration::from_secs(60), "the FM voice", |m| {
        m["event"] == "signals:detected"
            && m["data"]["state"] != "lost"
            && (m["data"]["frequency_hz"].as_f64().unwrap_or(0.0) - frequency_hz).abs() < 10_000.0
    })
    .await;
    let receiver = heard["data"]["websdr_id"].as_str().unwrap().to_string();
    let answer = listen(&mut ws, &receiver, frequency_hz, "nfm").await;
    assert_eq!(answer["event"], "listening", "{answer}");
    let data = &answer["data"];
    assert_eq!(
        (
            &data["active"],
            &data["mode"],
            &data["codec"],
            &data["sample_rate_hz"]
        ),
        (&json!(true), &json!("nfm"), &json!("ima-adpcm"), &json!(12000.0))
    );
    assert_eq!(data["passband_hz"], json!([-6000.0, 6000.0]));

    let started = Instant::now();
    let payloads = audio_for(&mut ws, Duration::from_secs(4)).await;
    let packets: Vec<packet::Packet> = payloads
        .iter()
        .map(|p| packet::decode(p).expect("an audio packet"))
        .collect();
    assert!(packets.len() >= 50, "{} packets in 4 s", packets.len());
    for pair in packets.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "no packet lost on loopback");
    }
    // The packets are stamped with antenna time: the newest is less than a second old.
    let newest = packets.last().unwrap().time_ns;
    let age_s = (sdrhub_hardware::acquisition::now_ns() - newest) as f64 / 1e9;
    assert!((0.0..1.0).contains(&age_s), "the last packet is {age_s:.3} s old");
    let samples: Vec<f32> = packets.iter().flat_map(|p| p.samples.iter().copied()).collect();
    let found = dominant_hz(&samples, 12_000.0);
    assert!(
        (found - tone_hz).abs() < 3.0,
        "dominant {found:.1} Hz, the scene's strongest tone {tone_hz:.1} Hz ({:.0} % of the deviation); {:?} s of audio",
        share * 100.0,
        started.elapsed()
    );

    // unlisten: the audio stops.
    ws.send(Message::Text(
        json!({"event": "unlisten", "data": {}}).to_string().into(),
    ))
    .await
    .unwrap();
    let mut late = Vec::new();
    let answer = next_text(&mut ws, Duration::from_secs(5), &mut late)
        .await
        .unwrap();
    let answer = if answer["event"] == "listening" {
        answer
    } else {
        loop {
            let m = next_text(&mut ws, Duration::from_secs(5), &mut late)
                .await
                .unwrap();
            if m["event"] == "listening" {
                break m;
            }
        }
    };
    assert_eq!(answer["data"]["active"], false);
    let after = audio_for(&mut ws, Duration::from_millis(500)).await;
    assert!(after.is_empty(), "{} frames after unlisten", after.len());
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_is_refused_with_reasons_and_limited_by_token_and_count() {
    let mut config = test_config();
    config.audio.max_listeners = 1;
    config.auth.enabled = true;
    config.auth.tokens = vec![
        TokenConfig {
            name: "viewer".into(),
            token: "viewer-token-0123456789".into(),
            events: None,
            admin: false,
        },
        TokenConfig {
            name: "listener".into(),
            token: "listener-token-0123456789".into(),
            events: Some(vec!["signals:detected".into(), "audio:rx1".into()]),
            admin: false,
        },
        TokenConfig {
            name: "operator".into(),
            token: "operator-token-0123456789".into(),
            events: Some(vec!["signals:detected".into(), "audio:*".into()]),
            admin: false,
        },
        TokenConfig {
            name: "rx2-only".into(),
            token: "rx2-only-token-0123456789".into(),
            events: Some(vec!["signals:detected".into(), "audio:rx2".into()]),
            admin: false,
        },
    ];
    let dir = temp_path("recordings", "d");
    config.audio.recordings_dir = dir.display().to_string();
    let carrier_hz = config.simulation.center_frequency_hz + 50_000.0;
    let server = start(config);
    let mut viewer = connect(&server, "/ws?token=viewer-token-0123456789").await;
    let answer = listen(&mut viewer, "rx1", carrier_hz, "cw").await;
    assert_eq!(answer["data"]["code"], "forbidden_audio", "{answer}");
    assert!(answer["data"]["message"].as_str().unwrap().contains("audio:rx1"));

    let mut listener = connect(
        &server,
        "/ws?token=listener-token-0123456789&events=signals:detected",
    )
    .await;
    let answer = listen(&mut listener, "rx2", carrier_hz, "cw").await;
    assert_eq!(answer["data"]["code"], "forbidden_audio", "{answer}");
    let answer = listen(&mut listener, "nowhere", carrier_hz, "cw").await;
    assert_eq!(answer["data"]["code"], "listen_refused", "{answer}");
    assert!(
        answer["data"]["message"].as_str().unwrap().contains("rx1"),
        "{answer}"
    );
    let answer = listen(&mut listener, "rx1", carrier_hz + 10e6, "cw").await;
    assert_eq!(answer["data"]["code"], "listen_refused", "{answer}");
    assert!(
        answer["data"]["message"].as_str().unwrap().contains("outside"),
        "{answer}"
    );
    let answer = listen(&mut listener, "rx1", carrier_hz, "cw").await;
    assert_eq!(answer["event"], "listening", "{answer}");
    // A carrier in CW is the BFO's tone.
    let payloads = audio_for(&mut listener, Duration::from_secs(2)).await;
    let samples: Vec<f32> = payloads
        .iter()
        .flat_map(|p| packet::decode(p).unwrap().samples)
        .collect();
    assert!(samples.len() >= 12_000, "{} samples", samples.len());
    let found = dominant_hz(&samples, 12_000.0);
    assert!((found - 700.0).abs() < 5.0, "CW tone at {found:.1} Hz");

    // A recording of rx1 is there for tokens that may hear rx1, not for one limited to rx2.
    listener
        .send(Message::Text(
            json!({"event": "record", "data": {}}).to_string().into(),
        ))
        .await
        .unwrap();
    audio_for(&mut listener, Duration::from_millis(500)).await;
    listener
        .send(Message::Text(
            json!({"event": "record_stop", "data": {}}).to_string().into(),
        ))
        .await
        .unwrap();
    let mut skipped = Vec::new();
    let recorded = loop {
        let m = next_text(&mut listener, Duration::from_secs(5), &mut skipped)
            .await
            .expect("recorded");
        if m["event"] == "recorded" {
            break m;
        }
    };
    let wav = recorded["data"]["wav"].as_str().unwrap().to_string();
    let fetch = |token: &'static str, path: String| {
        let url = format!("http://{}{path}", server.addr);
        async move {
            let response = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
    };
    assert_eq!(fetch("listener-token-0123456789", wav.clone()).await.0, 200);
    assert_eq!(fetch("operator-token-0123456789", wav.clone()).await.0, 200);
    assert_eq!(
        fetch("rx2-only-token-0123456789", wav.clone()).await.0,
        404,
        "not rx2's"
    );
    assert_eq!(
        fetch("viewer-token-0123456789", wav.clone()).await.0,
        403,
        "no audio grant"
    );
    let (_, listed) = fetch("rx2-only-token-0123456789", "/api/v1/recordings".into()).await;
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["recordings"], json!([]), "{listed}");
    let (_, listed) = fetch("operator-token-0123456789", "/api/v1/recordings".into()).await;
    assert!(
        listed.contains(recorded["data"]["name"].as_str().unwrap()),
        "{listed}"
    );

    // The one place is taken.
    let mut operator = connect(
        &server,
        "/ws?token=operator-token-0123456789&events=signals:detected",
    )
    .await;
    let answer = listen(&mut operator, "rx2", carrier_hz, "am").await;
    assert_eq!(answer["data"]["code"], "too_many_listeners", "{answer}");
    // Given back by unlisten (and by a client that leaves).
    drop(listener);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = listen(&mut operator, "rx2", carrier_hz, "am").await;
        if answer["event"] == "listening" {
            break;
        }
        assert!(Instant::now() < deadline, "the place is not given back: {answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_heard_is_recorded_as_sigmf_channel_iq_and_wav_audio() {
    let mut config = test_config();
    let dir = temp_path("recordings", "d");
    config.audio.recordings_dir = dir.display().to_string();
    let carrier_hz = config.simulation.center_frequency_hz + 50_000.0;
    let server = start(config);
    let mut ws = connect(&server, "/ws?events=signals:detected").await;
    let (heard, _) = wait_for(&mut ws, Duration::from_secs(20), "the carrier", |m| {
        m["event"] == "signals:detected"
            && (m["data"]["frequency_hz"].as_f64().unwrap_or(0.0) - carrier_hz).abs() < 2_000.0
    })
    .await;
    let signal_id = heard["data"]["signal_id"].as_str().unwrap().to_string();
    let answer = listen(&mut ws, "rx1", carrier_hz, "cw").await;
    assert_eq!(answer["event"], "listening", "{answer}");
    let send = |text: Value| Message::Text(text.to_string().into());
    ws.send(send(json!({"event": "record", "data": {"signal_id": signal_id}})))
        .await
        .unwrap();
    audio_for(&mut ws, Duration::from_secs(2)).await;
    ws.send(send(json!({"event": "record_stop", "data": {}})))
        .await
        .unwrap();
    let mut audio = Vec::new();
    let recorded = loop {
        let m = next_text(&mut ws, Duration::from_secs(5), &mut audio)
            .await
            .expect("recorded");
        if m["event"] == "recorded" || m["event"] == "error" {
            break m;
        }
    };
    assert_eq!(recorded["event"], "recorded", "{recorded}");
    let data = &recorded["data"];
    assert_eq!(
        (&data["signal_id"], &data["mode"]),
        (&json!(signal_id), &json!("cw"))
    );
    // Linked to the signal's history entry.
    let (status, entry) = get_json(&server, data["history"].as_str().expect("a history link")).await;
    assert_eq!(status, 200, "{entry}");
    assert_eq!(entry["signal"]["signal_id"], json!(signal_id), "{entry}");
    let seconds = data["seconds"].as_f64().unwrap();
    assert!((1.5..3.0).contains(&seconds), "{seconds} s");

    // The audio: a 16-bit WAV at 12 kHz of the BFO tone.
    let wav = reqwest::get(format!("http://{}{}", server.addr, data["wav"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(wav.status(), 200);
    assert_eq!(wav.headers()["content-type"], "audio/wav");
    let bytes = wav.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    assert_eq!(
        u32::from_le_bytes(bytes[24..28].try_into().unwrap()),
        12_000,
        "sample rate"
    );
    let pcm: Vec<f32> = bytes[44..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    assert!((pcm.len() as f64 / 12_000.0 - seconds).abs() < 0.01);
    let tone = dominant_hz(&pcm, 12_000.0);
    assert!((tone - 700.0).abs() < 5.0, "{tone} Hz");

    // The channel IQ: SigMF that the official validator accepts, the carrier inside it.
    let name = data["name"].as_str().unwrap();
    let meta_path = dir.join(format!("{name}.sigmf-meta"));
    let checked = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, sigmf; r = sigmf.sigmffile.fromfile(sys.argv[1]); r.validate(); print(r.get_global_field('core:sample_rate'))",
        ])
        .arg(&meta_path)
        .output()
        .expect("python3 runs");
    assert!(
        checked.status.success(),
        "sigmf validation: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let meta: Value = reqwest::get(format!(
        "http://{}{}",
        server.addr,
        data["sigmf_meta"].as_str().unwrap()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(meta["global"]["core:datatype"], "cf32_le");
    let rate = meta["global"]["core:sample_rate"].as_f64().unwrap();
    let centre = meta["captures"][0]["core:frequency"].as_f64().unwrap();
    assert_eq!(meta["annotations"][0]["core:label"], json!(signal_id));
    let iq = std::fs::read(dir.join(format!("{name}.sigmf-data"))).unwrap();
    let samples: Vec<rustfft::num_complex::Complex<f64>> = iq
        .chunks_exact(8)
        .map(|b| {
            rustfft::num_complex::Complex::new(
                f64::from(f32::from_le_bytes(b[..4].try_into().unwrap())),
                f64::from(f32::from_le_bytes(b[4..].try_into().unwrap())),
            )
        })
        .collect();
    assert!(
        (samples.len() as f64 / rate - seconds).abs() < 0.1,
        "{} samples at {rate}",
        samples.len()
    );
    let n = samples.len().next_power_of_two() / 2;
    let mut spectrum = samples[samples.len() - n..].to_vec();
    rustfft::FftPlanner::new()
        .plan_fft_forward(n)
        .process(&mut spectrum);
    let peak = (0..n)
        .max_by(|&a, &b| spectrum[a].norm().total_cmp(&spectrum[b].norm()))
        .unwrap();
    let offset = if peak > n / 2 {
        peak as f64 - n as f64
    } else {
        peak as f64
    } * rate
        / n as f64;
    assert!(
        (centre + offset - carrier_hz).abs() < 2.0 * rate / n as f64 + 1.0,
        "the carrier at {:.1} Hz in the recording, {carrier_hz} on the air",
        centre + offset
    );
    let (status, listed) = get_json(&server, "/api/v1/recordings").await;
    assert_eq!(status, 200);
    assert_eq!(listed["recordings"][0]["name"], name);
    let (status, _) = get_json(&server, "/api/v1/recordings/..%2Fconfig.toml").await;
    assert_eq!(status, 404);
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The metric `name` (first sample) from `/metrics`.
async fn metric(server: &sdrhub::roles::RunningServer, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_stops_reading_loses_audio_and_nobody_else_does() {
    let config = test_config();
    let center = config.simulation.center_frequency_hz;
    let server = start(config);
    // A client with a tiny receive window that asks for wide FM (192 kbit/s) and never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (mut stalled, _) =
        tokio_tungstenite::client_async(format!("ws://{}/ws?events=", server.addr), stream)
            .await
            .unwrap();
    let answer = listen(&mut stalled, "rx1", center, "wfm").await;
    assert_eq!(answer["event"], "listening", "{answer}");
    // A listener that reads, and a client of events.
    let mut reader = connect(&server, "/ws?events=").await;
    assert_eq!(
        listen(&mut reader, "rx2", center, "wfm").await["event"],
        "listening"
    );
    let mut watcher = connect(&server, "/ws?events=services:health").await;

    let mut last_seq: Option<u32> = None;
    let mut gaps = 0;
    let mut packets = 0;
    let mut health = Vec::new();
    // Until the stalled listener loses audio: its packets dropped once the socket buffers are
    // full, or the listener ended with its connection, closed by the slow-client policy
    // (`server.send_timeout_s` without write progress); at most a minute.
    let started = Instant::now();
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let dropped = loop {
        tokio::select! {
            frame = reader.next() => match frame {
                Some(Ok(Message::Binary(bytes))) => {
                    let packet = packet::decode(&bytes).unwrap();
                    if let Some(last) = last_seq {
                        gaps += packet.seq.wrapping_sub(last) - 1;
                    }
                    last_seq = Some(packet.seq);
                    packets += 1;
                }
                Some(Ok(_)) => {}
                other => panic!("the reading listener lost its connection: {other:?}"),
            },
            message = next_json(&mut watcher, Duration::from_secs(3)) => {
                let message = message.expect("health keeps coming");
                if message["event"] == "services:health" {
                    health.push(Instant::now());
                }
            }
            _ = check.tick() => {
                let dropped = metric(&server, "sdrhub_audio_packets_total{outcome=\"dropped\"}").await;
                let listeners = metric(&server, "sdrhub_audio_listeners").await;
                // At least 8 s: the losses start within about 3 s, the rest shows nobody else
                // losing anything meanwhile.
                if (dropped > 0.0 || listeners < 2.0) && started.elapsed() > Duration::from_secs(8) {
                    break (dropped, listeners);
                }
                assert!(started.elapsed() < Duration::from_secs(60), "nothing dropped in a minute");
            }
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("stalled listener after {seconds:.1} s: (dropped packets, listeners left) = {dropped:?}");
    assert_eq!(gaps, 0, "the reading listener lost nothing ({packets} packets)");
    assert!(
        packets as f64 >= 20.0 * seconds,
        "{packets} packets in {seconds:.1} s (25 a second)"
    );
    let widest = health.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        health.len() as f64 >= seconds && widest < Duration::from_secs(2),
        "{} health reports, widest gap {widest:?}",
        health.len()
    );
    drop(stalled);
    server.stop().await.unwrap();
}

/// The recording files of `dir` (what `audio.max_recordings_bytes` counts), bytes.
fn recordings_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| sdrhub::audio::recorder::is_recording_file(&e.file_name().to_string_lossy()))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// The next `recorded` or `error`, audio skipped.
async fn recorded_or_error(ws: &mut Ws, within: Duration) -> Value {
    let mut audio = Vec::new();
    loop {
        let m = next_text(ws, within, &mut audio)
            .await
            .expect("recorded or an error");
        if m["event"] == "recorded" || m["event"] == "error" {
            return m;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_share_a_space_limit_a_recording_stops_there_and_says_so_and_none_starts_when_full() {
    let mut config = test_config();
    let dir = temp_path("recordings", "d");
    std::fs::create_dir_all(&dir).unwrap();
    // An older recording already takes 1 of the 2 MiB.
    std::fs::write(
        dir.join("20261201T000000Z_rx1_1000kHz_am.wav"),
        vec![0u8; 1 << 20],
    )
    .unwrap();
    // Not a recording file: not counted.
    std::fs::write(dir.join("notes.txt"), vec![0u8; 4 << 20]).unwrap();
    config.audio.recordings_dir = dir.display().to_string();
    config.audio.max_recordings_bytes = 2 << 20;
    let carrier_hz = config.simulation.center_frequency_hz + 50_000.0;
    let server = start(config);
    let mut ws = connect(&server, "/ws?events=").await;
    let answer = listen(&mut ws, "rx1", carrier_hz, "nfm").await;
    assert_eq!(answer["event"], "listening", "{answer}");
    let send = |text: Value| Message::Text(text.to_string().into());
    ws.send(send(json!({"event": "record", "data": {}})))
        .await
        .unwrap();

    // NFM records ~216 kB/s (24 kS/s of cf32 IQ and 12 kS/s of 16-bit audio): the MiB left
    // lasts ~5 s. The client is told when it stops, without asking.
    let recorded = recorded_or_error(&mut ws, Duration::from_secs(20)).await;
    assert_eq!(recorded["event"], "recorded", "{recorded}");
    let data = &recorded["data"];
    let stopped = data["stopped"].as_str().expect("why it stopped");
    assert!(stopped.contains("audio.max_recordings_bytes"), "{stopped}");
    let seconds = data["seconds"].as_f64().unwrap();
    assert!((3.0..6.0).contains(&seconds), "{seconds} s");
    // At the limit, give or take the last block (a few kB).
    let used = recordings_bytes(&dir);
    println!("stopped after {seconds} s at {used} bytes: {stopped}");
    assert!(
        ((2 << 20) - 64_000..=(2 << 20) + 64_000).contains(&used),
        "{used} bytes"
    );
    // The files are whole: a WAV whose header counts the samples it holds.
    let wav = std::fs::read(dir.join(format!("{}.wav", data["name"].as_str().unwrap()))).unwrap();
    assert_eq!(
        u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize,
        wav.len() - 44,
        "the WAV's data size"
    );
    assert!((((wav.len() - 44) / 2) as f64 / 12_000.0 - seconds).abs() < 0.01);

    // Full: no recording starts, and the refusal names the limit.
    ws.send(send(json!({"event": "record", "data": {}})))
        .await
        .unwrap();
    let refused = recorded_or_error(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(refused["data"]["code"], "record_refused", "{refused}");
    let message = refused["data"]["message"].as_str().unwrap();
    assert!(message.contains("audio.max_recordings_bytes"), "{message}");
    let (status, listed) = get_json(&server, "/api/v1/recordings").await;
    assert_eq!(status, 200);
    assert_eq!(listed["max_bytes"], 2 << 20, "{listed}");
    assert_eq!(listed["bytes"], used, "{listed}");

    // Deleting the old recording gives its room back.
    std::fs::remove_file(dir.join("20261201T000000Z_rx1_1000kHz_am.wav")).unwrap();
    ws.send(send(json!({"event": "record", "data": {}})))
        .await
        .unwrap();
    ws.send(send(json!({"event": "record_stop", "data": {}})))
        .await
        .unwrap();
    let recorded = recorded_or_error(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(recorded["event"], "recorded", "{recorded}");
    assert_eq!(recorded["data"]["stopped"], Value::Null, "{recorded}");
    // Recording again at once (most likely within the same second) gets files of its own.
    ws.send(send(json!({"event": "record", "data": {}})))
        .await
        .unwrap();
    ws.send(send(json!({"event": "record_stop", "data": {}})))
        .await
        .unwrap();
    let again = recorded_or_error(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(again["event"], "recorded", "{again}");
    assert_ne!(again["data"]["name"], recorded["data"]["name"]);
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
