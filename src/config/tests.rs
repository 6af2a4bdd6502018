use super::*;
use sdrhub_hardware::soapy::SoapyReceiverConfig;

fn soapy(id: &str) -> ReceiverConfig {
    ReceiverConfig::Soapy(SoapyReceiverConfig {
        id: id.into(),
        name: String::new(),
        args: "driver=rtlsdr".into(),
        channel: 0,
        frequency_hz: 145e6,
        sample_rate_hz: 1.024e6,
        bandwidth_hz: 0.0,
        gain: Default::default(),
        antenna: String::new(),
        ppm: 0.0,
        format: Default::default(),
        latitude: Some(48.9),
        longitude: Some(2.3),
    })
}

fn problems(config: &Config) -> Vec<String> {
    match config.validate() {
        Ok(()) => Vec::new(),
        Err(ConfigError::Invalid(problems)) => problems,
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn configured_hardware_replaces_the_simulated_scene_unless_asked_for() {
    let mut config = Config::default();
    assert!(config.simulation_enabled());
    config.receivers.push(soapy("roof"));
    assert!(
        !config.simulation_enabled(),
        "real and simulated receivers never mix by accident"
    );
    assert_eq!(config.path_loss_exponent(), 2.0);
    config.simulation.enabled = Some(true);
    assert!(config.simulation_enabled());
}

#[test]
fn receiver_problems_name_the_receiver_and_key() {
    let mut config = Config::default();
    config.simulation.enabled = Some(true);
    config.receivers.push(soapy("rx1"));
    let found = problems(&config);
    assert!(
        found.iter().any(|p| p.starts_with("receivers[0].id = \"rx1\"")),
        "{found:?}"
    );
    if !cfg!(feature = "soapy") {
        assert!(found.iter().any(|p| p.contains("--features soapy")), "{found:?}");
    }
    let mut config = Config::default();
    let ReceiverConfig::Soapy(mut bad) = soapy("roof") else {
        unreachable!("soapy() makes a SoapySDR receiver")
    };
    bad.sample_rate_hz = 0.0;
    bad.longitude = None;
    config.receivers.push(ReceiverConfig::Soapy(bad));
    let found = problems(&config);
    assert!(
        found.iter().any(|p| p.starts_with("receivers[0].sample_rate_hz")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|p| p.contains("latitude and longitude")),
        "{found:?}"
    );
}

#[test]
fn kiwisdr_receivers_parse_and_bad_values_are_named() {
    let text = r#"
        [[receivers]]
        kind = "kiwisdr"
        id = "kiwi-brest"
        url = "kiwi://kiwi.example.org:8073"
        frequency_hz = 10e6

        [[receivers]]
        kind = "kiwisdr"
        id = "kiwi-bad"
        url = "ftp://nowhere"
        frequency_hz = 45e6
        latitude = 48.0
        fft_size = 1000
    "#;
    let config: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(text))
        .extract()
        .unwrap();
    let ReceiverConfig::Kiwisdr(good) = &config.receivers[0] else {
        panic!("not a KiwiSDR receiver")
    };
    let client = good.client().unwrap();
    assert_eq!(
        (client.url.host.as_str(), client.url.port),
        ("kiwi.example.org", 8073)
    );
    assert_eq!((good.fft_size, good.averages, good.gain_db), (1024, 4, 50));
    let found = problems(&config);
    for key in [
        "receivers[1].url",
        "receivers[1].frequency_hz",
        "receivers[1]: give both latitude",
        "receivers[1].fft_size",
    ] {
        assert!(found.iter().any(|p| p.starts_with(key)), "{key} not in {found:?}");
    }
    assert!(!found.iter().any(|p| p.starts_with("receivers[0]")), "{found:?}");
}

#[test]
fn spectrum_frame_and_dashboard_settings_are_checked() {
    let config = Config::default();
    assert_eq!(config.spectrum_frames.period_ns(), Some(250_000_000));
    let mut off = config.clone();
    off.spectrum_frames.rate_hz = 0.0;
    assert_eq!(off.spectrum_frames.period_ns(), None);
    off.spectrum_frames.rate_hz = 4.0;
    off.spectrum_frames.enabled = false;
    assert_eq!(off.spectrum_frames.period_ns(), None);
    assert!(problems(&off).is_empty(), "{:?}", problems(&off));
    assert_eq!(off.spectrum_frames.history(), None, "no frames, no history");
    assert_eq!(config.spectrum_frames.history(), Some((300, 1_000_000_000)));
    let mut too_many = Config::default();
    too_many.spectrum_frames.history_s = 3600.0;
    too_many.spectrum_frames.history_row_s = 0.5;
    assert!(
        problems(&too_many)
            .iter()
            .any(|p| p.contains("at most 3600 rows")),
        "{:?}",
        problems(&too_many)
    );

    let mut bad = Config::default();
    bad.spectrum_frames.rate_hz = 500.0;
    bad.spectrum_frames.bins = 4;
    bad.spectrum_frames.history_s = 7200.0;
    bad.spectrum_frames.history_row_s = 0.0;
    bad.dashboard.map_tiles_url = "tile.openstreetmap.org/{z}/{x}/{y}.png".into();
    let found = problems(&bad);
    for key in [
        "spectrum_frames.rate_hz = 500",
        "spectrum_frames.bins = 4",
        "spectrum_frames.history_s = 7200",
        "spectrum_frames.history_row_s = 0",
        "dashboard.map_tiles_url",
    ] {
        assert!(found.iter().any(|p| p.starts_with(key)), "{key} not in {found:?}");
    }
    let mut tiles = Config::default();
    tiles.dashboard.map_tiles_url = "https://tile.openstreetmap.org/{z}/{x}/{y}.png".into();
    assert!(problems(&tiles).is_empty());
}

#[test]
fn bus_settings_are_checked_and_each_problem_names_its_key() {
    let mut config = Config::default();
    assert!(problems(&config).is_empty(), "no bus is fine for serve");
    config.bus.url = "nats://127.0.0.1:4222,nats://10.0.0.2:4222".into();
    config.bus.node_id = "edge-1".into();
    assert!(problems(&config).is_empty(), "{:?}", problems(&config));
    assert_eq!(config.bus.node(), "edge-1");
    config.bus.url = "redis://127.0.0.1".into();
    config.bus.node_id = "edge.1".into();
    config.bus.events_max_age_s = 1.0;
    config.bus.events_max_messages = 0;
    config.bus.buffer_events = 0;
    config.bus.replicas = 7;
    config.bus.ack_timeout_s = 0.0;
    config.bus.snippets_max_age_s = 0.0;
    let found = problems(&config);
    for key in [
        "bus.url = \"redis://127.0.0.1\"",
        "bus.node_id = \"edge.1\"",
        "bus.events_max_age_s = 1",
        "bus.events_max_messages = 0",
        "bus.buffer_events = 0",
        "bus.replicas = 7",
        "bus.ack_timeout_s = 0",
        "bus.snippets_max_age_s = 0",
    ] {
        assert!(found.iter().any(|p| p.starts_with(key)), "{key} not in {found:?}");
    }
    config.acquisition.simulated_receivers = vec!["rx2".into(), "rx9".into()];
    config.acquisition.simulation_epoch_s = Some(-5);
    let found = problems(&config);
    for key in [
        "acquisition.simulated_receivers: \"rx9\" is not a receiver of the simulated scene",
        "acquisition.simulation_epoch_s = -5",
    ] {
        assert!(found.iter().any(|p| p.starts_with(key)), "{key} not in {found:?}");
    }
    assert!(!found.iter().any(|p| p.contains("\"rx2\"")), "{found:?}");
    // Without a node id, the host name made a subject token.
    config.bus.node_id.clear();
    assert!(crate::bus::subject::is_token(&config.bus.node()));
}

#[test]
fn a_receiver_list_parses_from_toml() {
    let text = r#"
        [[receivers]]
        kind = "soapy"
        id = "roof"
        args = "driver=rtlsdr,serial=00000001"
        frequency_hz = 145e6
        sample_rate_hz = 2.4e6
        gain = { LNA = 20.0 }
    "#;
    let config: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(text))
        .extract()
        .unwrap();
    assert_eq!(config.receivers.len(), 1);
    assert_eq!(config.receivers[0].id(), "roof");
}

/// Dotted keys of every value in a TOML table (array-of-tables entries are left out: the
/// example shows them commented).
fn keys(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => keys(&path, inner, out),
            toml::Value::Array(items) if items.iter().all(toml::Value::is_table) && !items.is_empty() => {}
            _ => out.push(path),
        }
    }
}

#[test]
fn the_example_config_documents_every_key_with_its_default() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sdrhub.example.toml"))
        .expect("sdrhub.example.toml");
    let example: Config = Figment::from(Toml::string(&text))
        .extract()
        .expect("the example parses");
    let defaults = Config::default();
    // Every value it gives is the default...
    assert_eq!(
        toml::Table::try_from(&example).unwrap(),
        toml::Table::try_from(&defaults).unwrap(),
        "sdrhub.example.toml gives a value that is not the default"
    );
    // ...and it gives every key (optional ones may be shown commented).
    let mut documented = Vec::new();
    keys("", &toml::from_str(&text).unwrap(), &mut documented);
    let mut all = Vec::new();
    keys("", &toml::Table::try_from(&defaults).unwrap(), &mut all);
    let missing: Vec<&String> = all
        .iter()
        .filter(|k| {
            let commented = text.contains(&format!("# {}", k.rsplit('.').next().unwrap_or(k)))
                || text.contains(&format!("# [[{k}]]"));
            !documented.contains(k) && !commented
        })
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from sdrhub.example.toml: {missing:?}"
    );
}

#[test]
fn webhooks_are_checked_key_by_key() {
    let text = r#"
        [[alerts.webhooks]]
        url = "http://127.0.0.1:9000/hook"
        secret = "sixteen-chars-ok"

        [[alerts.webhooks]]
        url = "https://hooks.example.org/x"
        secret = "short"
        timeout_s = 0
        max_attempts = 0
        max_backoff_s = 0.1

        [[alerts.webhooks]]
        url = "ftp://example.org"
        secret = "sixteen-chars-ok"
    "#;
    let config: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(text))
        .extract()
        .unwrap();
    assert_eq!(config.alerts.webhooks[0].max_attempts, 8);
    let found = problems(&config);
    for key in [
        "alerts.webhooks[1].url = \"https://hooks.example.org/x\": https is not supported",
        "alerts.webhooks[1].secret: must be at least 16",
        "alerts.webhooks[1].timeout_s = 0",
        "alerts.webhooks[1].max_attempts = 0",
        "alerts.webhooks[1].max_backoff_s = 0.1",
        "alerts.webhooks[2].url = \"ftp://example.org\": must be an http:// URL",
    ] {
        assert!(found.iter().any(|p| p.starts_with(key)), "{key} not in {found:?}");
    }
    assert!(
        !found.iter().any(|p| p.starts_with("alerts.webhooks[0]")),
        "{found:?}"
    );
}

#[test]
fn the_mqtt_broker_is_checked_key_by_key() {
    let mut config = Config::default();
    config.alerts.mqtt.url = "mqtt://broker.local".into();
    assert_eq!(
        config.alerts.mqtt.host_port(),
        Some(("broker.local".into(), 1883))
    );
    assert!(problems(&config).is_empty(), "{:?}", problems(&config));
    config.alerts.mqtt.url = "mqtts://broker.local:8883".into();
    config.alerts.mqtt.topic_prefix = "site/#".into();
    config.alerts.mqtt.client_id = String::new();
    config.alerts.mqtt.queue = 0;
    config.alerts.mqtt.mirror = vec![
        "signals:detected".into(),
        "spectrum:frame".into(),
        "alerts:raised".into(),
    ];
    let found = problems(&config);
    for key in [
        "alerts.mqtt.url = \"mqtts://broker.local:8883\": must be mqtt://host[:port]",
        "alerts.mqtt.client_id = \"\"",
        "alerts.mqtt.topic_prefix = \"site/#\"",
        "alerts.mqtt.queue = 0",
        "alerts.mqtt.mirror[1] = \"spectrum:frame\": must be one of",
        "alerts.mqtt.mirror[2] = \"alerts:raised\"",
    ] {
        assert!(found.iter().any(|p| p.starts_with(key)), "{key} not in {found:?}");
    }
    assert!(
        !found.iter().any(|p| p.starts_with("alerts.mqtt.mirror[0]")),
        "{found:?}"
    );
    // A mirror needs a broker.
    let mut config = Config::default();
    config.alerts.mqtt.mirror = vec!["signals:detected".into()];
    assert_eq!(problems(&config), ["alerts.mqtt.mirror: needs alerts.mqtt.url"]);
}

#[test]
fn alert_rules_parse_and_each_problem_names_the_rule_and_key() {
    let text = r#"
        [[alerts.rules]]
        name = "strong-2m"
        kind = "level"
        for_s = 5
        freq_min_hz = 144e6
        freq_max_hz = 146e6
        power_dbfs = -40.0
        labels = { team = "ops" }

        [[alerts.rules]]
        name = "down"
        kind = "receiver_offline"
        severity = "critical"
        receivers = ["rx1", "nowhere"]

        [[alerts.rules]]
        name = "strong-2m"
        kind = "level"
        freq_min_hz = 146e6
        freq_max_hz = 144e6
        above_baseline_db = -10
        signal = "beacon"

        [[alerts.rules]]
        name = "fence"
        kind = "geofence"
        polygon = [[48.0, 2.0], [95.0, 2.0]]
        circle = { lat = 48.0, lon = 2.0, radius_m = 0.0 }
        min_confidence = 1.5

        [[alerts.rules]]
        name = "novel"
        kind = "new_signal"
        freq_min_hz = 1e6
        novel_days = 3
        schedule = { start = "08:00", end = "18:00" }

        [[alerts.rules]]
        name = "net"
        kind = "missing"
        freq_min_hz = 1e6
        freq_max_hz = 2e6
        schedule = { start = "8:00", end = "18:00" }
    "#;
    let mut config: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(text))
        .extract()
        .unwrap();
    let rules = &config.alerts.rules;
    assert_eq!(rules[0].band(), Some((144e6, 146e6)));
    assert_eq!(rules[0].labels["team"], "ops");
    assert_eq!(rules[1].severity, crate::events::Severity::Critical);
    let found = problems(&config);
    for key in [
        "alerts.rules[1].receivers[1] = \"nowhere\"",
        "alerts.rules[2].name = \"strong-2m\": already used",
        "alerts.rules[2].freq_max_hz",
        "alerts.rules[2].signal: not a key of kind = \"level\"",
        "alerts.rules[2].above_baseline_db",
        "alerts.rules[3]: kind = \"geofence\" needs exactly one of circle, polygon",
        "alerts.rules[3].min_confidence",
        "alerts.rules[4].freq_max_hz: missing",
        "alerts.rules[4].novel_days = 3: must equal history.novel_days = 7",
        "alerts.rules[4].schedule: not a key of kind = \"new_signal\"",
        "alerts.rules[5].schedule.start = \"8:00\": must be a time",
    ] {
        assert!(found.iter().any(|p| p.starts_with(key)), "{key} not in {found:?}");
    }
    assert!(
        !found.iter().any(|p| p.starts_with("alerts.rules[0]")),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|p| p.contains("\"rx1\"")),
        "rx1 is a receiver: {found:?}"
    );
    assert!(
        !found
            .iter()
            .any(|p| p.starts_with("alerts.rules[5].schedule.end")),
        "{found:?}"
    );
    // Novelty comes from the history database; a missing signal's name need not.
    config.history.enabled = false;
    config.alerts.rules.truncate(2);
    config.alerts.rules[1].receivers.pop();
    config.alerts.rules.push(crate::config::AlertRule {
        signal: Some("beacon".into()),
        ..crate::config::AlertRule::new("gone", crate::events::AlertKind::Missing)
    });
    assert!(problems(&config).is_empty(), "{:?}", problems(&config));
    config.alerts.rules.push(crate::config::AlertRule {
        freq_min_hz: Some(1e6),
        freq_max_hz: Some(2e6),
        ..crate::config::AlertRule::new("novel", crate::events::AlertKind::NewSignal)
    });
    config.alerts.rules.push(crate::config::AlertRule {
        freq_min_hz: Some(1e6),
        freq_max_hz: Some(2e6),
        above_baseline_db: Some(20.0),
        ..crate::config::AlertRule::new("jammer", crate::events::AlertKind::Level)
    });
    let found = problems(&config);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("alerts.rules[3].kind = \"new_signal\": needs history.enabled"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("alerts.rules[4].above_baseline_db: needs history.enabled"),
        "{found:?}"
    );
}

#[test]
fn alert_rules_survive_sdrhub_config() {
    use crate::config::alerts::Circle;
    use crate::events::AlertKind;
    let mut config = Config::default();
    config.alerts.rules = vec![
        AlertRule {
            labels: [("team".to_string(), "ops".to_string())].into(),
            circle: Some(Circle {
                lat: 48.0,
                lon: 2.0,
                radius_m: 500.0,
            }),
            min_confidence: 0.5,
            ..AlertRule::new("fence", AlertKind::Geofence)
        },
        AlertRule {
            polygon: Some(vec![[48.0, 2.0], [48.5, 2.0], [48.5, 2.5]]),
            receivers: vec!["rx1".into()],
            ..AlertRule::new("square", AlertKind::Geofence)
        },
    ];
    assert!(problems(&config).is_empty(), "{:?}", problems(&config));
    let text = config.to_toml();
    let back: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(&text))
        .extract()
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back.alerts, config.alerts);
}

#[test]
fn the_emitter_memory_is_checked_and_reaches_the_tracker() {
    let config = Config::default();
    assert_eq!(config.tracker.emitter_memory_s, 600.0);
    assert_eq!(config.tracker.tracker().emitter_memory_ns, 600_000_000_000);
    for bad in [-1.0, f64::NAN, 30.0 * 86_400.0] {
        let mut config = Config::default();
        config.tracker.emitter_memory_s = bad;
        let found = problems(&config);
        assert!(
            found.iter().any(|p| p.starts_with("tracker.emitter_memory_s = ")),
            "{bad}: {found:?}"
        );
    }
    let mut off = Config::default();
    off.tracker.emitter_memory_s = 0.0;
    assert!(problems(&off).is_empty());
}

#[test]
fn the_session_threads_are_checked() {
    let mut config = Config::default();
    config.server.session_threads = 0;
    config.server.session_nice = 20;
    assert_eq!(
        problems(&config),
        [
            "server.session_threads = 0: must be in 1..=64",
            "server.session_nice = 20: must be in 0..=19"
        ]
    );
    config.server.session_threads = 4;
    config.server.session_nice = 19;
    assert!(problems(&config).is_empty(), "{:?}", problems(&config));
}
