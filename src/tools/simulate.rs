//! `sdrhub simulate --kiwi`: serves every receiver of a simulated scene as an emulated KiwiSDR
//! on loopback, and prints the `[[receivers]]` entries that connect sdrhub to them.
//!
//! Each receiver gets its own port (base, base + 1, ...), as separate KiwiSDRs would have.
//! Every emulated receiver shares the scene epoch, so their signals carry the true propagation
//! delays between transmitters and receivers, with GPS timestamps from the scene clock: the
//! remote path, TDOA included, can be run end to end with no network.

use crate::config::Config;
use anyhow::{bail, Context};
use clap::Args;
use sdrhub_hardware::acquisition::now_ns;
use sdrhub_hardware::kiwi::{hf_scene, Admission, GpsMode, KiwiEmulator, KiwiEmulatorConfig};
use sdrhub_hardware::sim::Scene;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `sdrhub simulate`
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Emulate KiwiSDR receivers (one per receiver of the scene).
    #[arg(long)]
    pub kiwi: bool,
    /// Print the configuration's scene as JSON (receivers; transmitters with their positions,
    /// schedules and, for FM voices, the tones they are modulated with: what a detector, a
    /// locator and a listener should find) and exit.
    #[arg(long, conflicts_with = "kiwi")]
    pub describe: bool,
    /// Port of the first receiver; the others follow (0: any free ports).
    #[arg(long, default_value_t = 8073)]
    pub port: u16,
    /// IP address the emulated receivers listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: String,
    /// Use the configuration's [simulation] scene instead of the built-in HF scene (five
    /// receivers across France at 10 MHz).
    #[arg(long)]
    pub from_config: bool,
    /// Require this password.
    #[arg(long)]
    pub password: Option<String>,
    /// Answer every client "too busy".
    #[arg(long)]
    pub busy: bool,
    /// Receivers without a GPS fix.
    #[arg(long)]
    pub no_gps: bool,
    /// The `real-world` fault profile: receivers stamp as real KiwiSDRs do (the first frame
    /// zero, the second hours stale, a solution every 5 s, the ADC 110-190 ppm off while the
    /// nominal rate is announced).
    #[arg(long, conflicts_with = "no_gps")]
    pub real_world: bool,
}

/// ADC clock errors given to the emulated receivers in turn, ppm: real KiwiSDRs differ by a
/// few ppm, which the client must measure from GPS rather than trust the announced rate.
const CLOCK_PPM: [f64; 5] = [-3.1, 1.7, 0.4, -1.2, 2.6];

/// The emulators for `args`, started.
///
/// # Errors
/// When the scene is invalid or a port cannot be bound.
pub fn start(args: &SimulateArgs, config: &Config) -> anyhow::Result<(Scene, Vec<KiwiEmulator>)> {
    if !args.kiwi {
        bail!("name what to emulate: --kiwi (KiwiSDR receivers) is the one kind so far (or --describe to print the scene)");
    }
    let scene_config = if args.from_config {
        config.simulation.clone()
    } else {
        hf_scene()
    };
    let scene = Scene::new(scene_config).context("the simulated scene is invalid")?;
    let bind: IpAddr = args
        .address
        .parse()
        .with_context(|| format!("--address {:?}: not an IP address", args.address))?;
    let epoch = now_ns();
    let mut emulators = Vec::new();
    for (index, _) in scene.receivers().iter().enumerate() {
        let port = if args.port == 0 {
            0
        } else {
            args.port
                .checked_add(index as u16)
                .context("--port: the receivers' ports run past 65535")?
        };
        let mut emulator = if args.real_world {
            KiwiEmulatorConfig::real_world(scene.clone(), index, epoch)
        } else {
            let mut emulator = KiwiEmulatorConfig::new(scene.clone(), index, epoch);
            emulator.clock_ppm = CLOCK_PPM[index % CLOCK_PPM.len()];
            emulator.reported_rate_error_ppm = 0.5;
            emulator
        };
        emulator.bind = SocketAddr::new(bind, port);
        emulator.password = args.password.clone();
        if args.busy {
            emulator.admission = Admission::Busy;
        }
        if args.no_gps {
            emulator.gps = GpsMode::NoFix;
        }
        emulators
            .push(KiwiEmulator::start(emulator).with_context(|| format!("cannot listen on {bind}:{port}"))?);
    }
    Ok((scene, emulators))
}

/// The `[[receivers]]` entries that connect sdrhub to `emulators`.
pub fn receivers_toml(scene: &Scene, emulators: &[KiwiEmulator], password: Option<&str>) -> String {
    let mut out = String::from("[simulation]\nenabled = false\n");
    for (receiver, emulator) in scene.receivers().iter().zip(emulators) {
        out.push_str(&format!(
            "\n[[receivers]]\nkind = \"kiwisdr\"\nid = \"{}\"\nurl = \"{}\"\nfrequency_hz = {:.1}\n",
            receiver.id,
            emulator.url(),
            scene.config().center_frequency_hz
        ));
        if let Some(password) = password {
            out.push_str(&format!("password = {password:?}\n"));
        }
    }
    out
}

/// The scene of `config` as JSON (see [`SimulateArgs::describe`]).
///
/// # Errors
/// When the scene is invalid.
pub fn describe(config: &Config) -> anyhow::Result<serde_json::Value> {
    let scene = Scene::new(config.simulation.clone()).context("the simulated scene is invalid")?;
    let receivers: Vec<serde_json::Value> = scene
        .receivers()
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": &*r.id, "name": r.name,
                "latitude": r.position.lat_deg, "longitude": r.position.lon_deg,
            })
        })
        .collect();
    let transmitters: Vec<serde_json::Value> = scene
        .transmitters()
        .iter()
        .map(|t| {
            let tones: Vec<serde_json::Value> = t
                .message_tones()
                .into_iter()
                .map(
                    |(frequency_hz, share)| serde_json::json!({"frequency_hz": frequency_hz, "share": share}),
                )
                .collect();
            serde_json::json!({
                "id": &*t.id, "name": t.name, "kind": t.kind,
                "frequency_hz": t.frequency_hz, "bandwidth_hz": t.bandwidth_hz, "power_dbm": t.power_dbm,
                "latitude": t.position.lat_deg, "longitude": t.position.lon_deg,
                "schedule": t.schedule, "message_tones": tones,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "center_frequency_hz": scene.config().center_frequency_hz,
        "sample_rate_hz": scene.config().sample_rate_hz,
        "receivers": receivers,
        "transmitters": transmitters,
    }))
}

/// `sdrhub simulate`: runs until SIGINT or SIGTERM (`--describe`: prints the scene and exits).
pub fn run(args: &SimulateArgs, config: &Config) -> anyhow::Result<()> {
    if args.describe {
        println!("{}", serde_json::to_string_pretty(&describe(config)?)?);
        return Ok(());
    }
    let (scene, emulators) = start(args, config)?;
    for (receiver, emulator) in scene.receivers().iter().zip(&emulators) {
        eprintln!(
            "sdrhub simulate: {} ({}) at {} as an emulated KiwiSDR, ADC clock {:+.1} ppm",
            receiver.id,
            receiver.name,
            emulator.url(),
            emulator.config().clock_ppm
        );
    }
    eprintln!("sdrhub simulate: connect sdrhub with this configuration (also on stdout):");
    print!("{}", receivers_toml(&scene, &emulators, args.password.as_deref()));
    use std::io::Write;
    std::io::stdout().flush().ok();
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal watcher")?;
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            runtime.block_on(async {
                let mut terminate =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = async { match terminate.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
                }
            });
            stop.store(true, Ordering::Release);
        });
    }
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("sdrhub simulate: stopping");
    drop(emulators);
    Ok(())
}
