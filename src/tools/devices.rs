//! `sdrhub devices`: the SoapySDR devices this machine can open, with what each supports.

use clap::Args;

/// Flags of `sdrhub devices`.
#[derive(Debug, Clone, Args)]
pub struct DevicesArgs {
    /// Only devices matching these SoapySDR args, e.g. `driver=rtlsdr`. Without a driver,
    /// every installed driver searches (network drivers broadcast on the local network).
    #[arg(long, default_value = "")]
    pub filter: String,
    /// Describe exactly this device, e.g. `driver=rtlsdr,serial=00000001`.
    #[arg(long, value_name = "ARGS")]
    pub probe: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Lists or probes devices and prints them on stdout.
#[cfg(feature = "soapy")]
pub fn run(args: &DevicesArgs) -> anyhow::Result<()> {
    use sdrhub_hardware::soapy::{list_devices, probe};
    let devices = match &args.probe {
        Some(device) => vec![probe(device)?],
        None => list_devices(&args.filter)?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&devices)?);
    } else if devices.is_empty() {
        println!("no SoapySDR device found (installed drivers: {})", {
            let drivers = sdrhub_hardware::soapy::installed_drivers();
            if drivers.is_empty() {
                "none".to_string()
            } else {
                drivers.join(", ")
            }
        });
    } else {
        for device in &devices {
            println!("{device}");
        }
    }
    Ok(())
}

/// Without SoapySDR support there is nothing to list: say how to get it.
#[cfg(not(feature = "soapy"))]
pub fn run(_args: &DevicesArgs) -> anyhow::Result<()> {
    anyhow::bail!("this sdrhub was built without SoapySDR support; rebuild with `cargo build --release --features soapy`")
}
