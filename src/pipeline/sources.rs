//! The IQ sources a configuration asks for: the simulated scene's receivers and every
//! `[[receivers]]` entry, each with its builder (and, for remote receivers, its status probe).

use super::probe::RemoteReceiver;
use super::ReceiverSource;
use crate::config::{Config, ReceiverConfig};
use anyhow::Context;
use sdrhub_hardware::sim::Scene;
use std::sync::Arc;
use std::time::Duration;

/// The IQ sources the configuration asks for: the simulated scene's receivers (when enabled)
/// and every `[[receivers]]` entry.
pub fn build_sources(config: &Config) -> anyhow::Result<Vec<ReceiverSource>> {
    let mut sources = Vec::new();
    if config.simulation_enabled() {
        let scene = Scene::new(config.simulation.clone()).context("the simulated scene is invalid")?;
        let epoch_ns = config
            .acquisition
            .simulation_epoch_s
            .map_or_else(sdrhub_hardware::acquisition::now_ns, |s| {
                s.saturating_mul(1_000_000_000)
            });
        let wanted = &config.acquisition.simulated_receivers;
        sources.extend(
            scene
                .builders(epoch_ns)
                .into_iter()
                .filter(|b| wanted.is_empty() || wanted.iter().any(|id| **id == *b.info().id))
                .map(ReceiverSource::plain),
        );
    }
    for (index, receiver) in config.receivers.iter().enumerate() {
        sources.push(
            build_receiver(receiver, config)
                .with_context(|| format!("receivers[{index}] ({})", receiver.id()))?,
        );
    }
    Ok(sources)
}

/// The source of one `[[receivers]]` entry.
pub fn build_receiver(receiver: &ReceiverConfig, config: &Config) -> anyhow::Result<ReceiverSource> {
    match receiver {
        ReceiverConfig::Kiwisdr(kiwi) => {
            let client = kiwi.client().map_err(anyhow::Error::msg)?;
            let status_url = client.url.status_url();
            let builder = sdrhub_hardware::kiwi::KiwiBuilder::new(client)?;
            let remote = Arc::new(RemoteReceiver::new(
                builder.link(),
                status_url,
                Duration::from_secs_f64(kiwi.status_probe_interval_s),
            ));
            Ok(ReceiverSource {
                builder: Box::new(builder),
                spectrum: Some(sdrhub_dsp::spectrum::SpectrumConfig {
                    fft_size: kiwi.fft_size,
                    averages: kiwi.averages,
                    ..config.dsp.spectrum()
                }),
                remote: Some(remote),
            })
        }
        ReceiverConfig::Soapy(soapy) => build_soapy(soapy),
    }
}

#[cfg(feature = "soapy")]
fn build_soapy(soapy: &sdrhub_hardware::soapy::SoapyReceiverConfig) -> anyhow::Result<ReceiverSource> {
    Ok(ReceiverSource::plain(Box::new(
        sdrhub_hardware::soapy::SoapyBuilder::new(soapy.clone())?,
    )))
}

#[cfg(not(feature = "soapy"))]
fn build_soapy(soapy: &sdrhub_hardware::soapy::SoapyReceiverConfig) -> anyhow::Result<ReceiverSource> {
    // Validation refuses these configurations first; this is the same message for callers
    // that skip validation.
    anyhow::bail!("receiver {:?} needs a build with `--features soapy`", soapy.id)
}
