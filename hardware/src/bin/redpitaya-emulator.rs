//! Runs the Red Pitaya SDR emulator for manual testing with SoapySDR tools or sdrhub:
//!
//! ```text
//! cargo run -p sdrhub-hardware --bin redpitaya-emulator -- --port 1001 --tone 12500:0.5 --noise 0.005
//! SoapySDRUtil --args="driver=redpitaya,addr=127.0.0.1,port=1001" --rate=100e3 --direction=RX
//! ```

use sdrhub_hardware::emulator::{EmulatorConfig, RedPitayaEmulator, Scene, Tone};
use std::time::Duration;

const USAGE: &str =
    "usage: redpitaya-emulator [--port N] [--tone OFFSET_HZ:AMPLITUDE]... [--noise RMS] [--seed N]";

fn parse(args: &[String]) -> Result<EmulatorConfig, String> {
    let mut config = EmulatorConfig {
        port: 1001,
        scene: Scene::default(),
    };
    let mut tones = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => config.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--noise" => config.scene.noise_rms = value()?.parse().map_err(|e| format!("--noise: {e}"))?,
            "--seed" => config.scene.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--tone" => {
                let v = value()?;
                let (offset, amplitude) = v.split_once(':').ok_or("--tone takes OFFSET_HZ:AMPLITUDE")?;
                tones.push(Tone {
                    offset_hz: offset.parse().map_err(|e| format!("--tone offset: {e}"))?,
                    amplitude: amplitude.parse().map_err(|e| format!("--tone amplitude: {e}"))?,
                });
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if !tones.is_empty() {
        config.scene.tones = tones;
    }
    Ok(config)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse(&args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let emulator = match RedPitayaEmulator::start(config.clone()) {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("cannot listen on 127.0.0.1:{}: {error}", config.port);
            std::process::exit(1);
        }
    };
    println!(
        "Red Pitaya emulator on {}; device args: {}",
        emulator.addr(),
        emulator.device_args()
    );
    println!("scene: {:?}", config.scene);
    loop {
        std::thread::sleep(Duration::from_secs(10));
        let stats = emulator.stats();
        println!(
            "clients {}, frequency {:?} Hz, rate {:?} S/s, blocks sent {}, dropped {}",
            stats.data_clients,
            stats.frequency_hz,
            stats.sample_rate_hz,
            stats.blocks_sent,
            stats.blocks_dropped
        );
    }
}
