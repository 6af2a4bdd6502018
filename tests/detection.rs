//! Every transmitter of a simulated scene is detected by every receiver, within one FFT bin of
//! its true frequency as that receiver sees it, through the DSP the live server runs.

use sdrhub::config::DspConfig;
use sdrhub::pipeline::spectrum::{ReceiverDsp, SpectrumDetections};
use sdrhub_hardware::sim::{Scene, SceneConfig, SimReceiverConfig};
use sdrhub_hardware::IqBlock;

const EPOCH_NS: i64 = 1_790_000_000_000_000_000;

/// The default transmitters, heard by five explicit receivers with different tuning errors.
fn scene_with_tuning_errors() -> SceneConfig {
    let mut config = SceneConfig::default();
    let ring = config.resolved_receivers();
    config.receivers = ring
        .into_iter()
        .zip([0.0, 150.0, -420.0, 900.0, -75.0])
        .map(|(receiver, offset)| SimReceiverConfig {
            frequency_offset_hz: offset,
            ..receiver
        })
        .collect();
    config
}

#[test]
fn every_transmitter_is_detected_within_one_bin_on_every_receiver() {
    let config = scene_with_tuning_errors();
    let scene = Scene::new(config.clone()).expect("valid scene");
    let dsp = DspConfig::default();
    let bin_hz = config.sample_rate_hz / dsp.fft_size as f64;
    // 1.0 s to 1.25 s after the epoch: the data bursts are on (from 1.0 s for 0.3 s), and so
    // are the carrier and the voice. Spectra that straddle the burst's start are skipped.
    let start = (1.0 * config.sample_rate_hz) as u64;
    let blocks = (0.25 * config.sample_rate_hz / config.block_samples as f64) as usize;
    for rx in 0..scene.receivers().len() {
        let mut generator = scene.generator(rx, EPOCH_NS);
        generator.seek(start);
        let mut dsp_rx = ReceiverDsp::new(rx, &dsp.spectrum(), &dsp.detector());
        let mut block = IqBlock::with_capacity(config.block_samples);
        let mut spectra: Vec<SpectrumDetections> = Vec::new();
        for _ in 0..blocks {
            generator.fill(&mut block, config.block_samples);
            dsp_rx.process(&block, |s| spectra.push(s));
        }
        let settled: Vec<&SpectrumDetections> = spectra.iter().skip(2).collect();
        assert!(settled.len() >= 4, "receiver {rx}: {} spectra", settled.len());
        for (tx, transmitter) in config.transmitters.iter().enumerate() {
            // The frequency this receiver sees: the carrier plus its own tuning error.
            let seen_hz = config.center_frequency_hz + scene.baseband_offset_hz(tx, rx);
            for spectrum in &settled {
                let nearest = spectrum
                    .detections
                    .iter()
                    .map(|d| (d.frequency_hz - seen_hz).abs())
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    nearest <= bin_hz,
                    "receiver {rx}, {}: nearest detection {nearest:.1} Hz from {seen_hz:.1} Hz (bin {bin_hz} Hz)",
                    transmitter.id
                );
            }
        }
    }
}
