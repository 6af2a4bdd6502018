//! Command-line tools: `sdrhub detect` (the detector over a file), `sdrhub record` (a receiver
//! to SigMF or Kiwi WAV, with its detections as annotations), `sdrhub devices` (SoapySDR devices)
//! and `sdrhub simulate` (the simulated scene served as emulated KiwiSDRs).
//!
//! Both run the same offline detection ([`detect::SignalFinder`]): the live pipeline's Welch
//! spectrum, CFAR detector and tracker, fed from a file or a source as fast as it can go, and
//! report one [`detect::SignalRecord`] per transmission.

pub mod detect;
pub mod devices;
pub mod history;
pub mod locate;
pub mod record;
pub mod simulate;

use std::io::IsTerminal;

/// A progress bar on stderr when stderr is a terminal, hidden otherwise (logs and pipes get
/// only the final summary).
fn progress_bar(total: u64, unit: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    let template = format!(
        "{{elapsed_precise}} [{{wide_bar}}] {{percent:>3}}% {{human_pos}}/{{human_len}} {unit} (ETA {{eta}})"
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Below this sample rate a recording or receiver is a narrow channel (a KiwiSDR's 12 kHz),
/// for which the `[dsp]` defaults, made for MHz-wide receivers, give bins of a few Hz and
/// spectra seconds apart.
pub const NARROW_CHANNEL_HZ: f64 = 100e3;
/// Bin width aimed at in a narrow channel, Hz: 1024 bins at 12 kHz (11.7 Hz), a KiwiSDR
/// receiver's default (`[[receivers]]` `fft_size`), resolving a carrier from its keying.
const NARROW_CHANNEL_BIN_HZ: f64 = 12.0;
/// Spectra averaged in a narrow channel: 4, a KiwiSDR receiver's default, a spectrum every
/// 0.34 s at 12 kHz.
const NARROW_CHANNEL_AVERAGES: usize = 4;

/// Fits the spectrum to a narrow channel: below [`NARROW_CHANNEL_HZ`] the FFT size and
/// averaging are chosen from the sample rate (bins of about [`NARROW_CHANNEL_BIN_HZ`]), unless
/// `detector` gave them on the command line.
pub fn fit_spectrum_to_channel(
    config: &mut crate::config::Config,
    rate_hz: f64,
    detector: Option<&detect::DetectorArgs>,
) {
    if !(rate_hz > 0.0 && rate_hz < NARROW_CHANNEL_HZ) {
        return;
    }
    let d = &mut config.dsp;
    if detector.is_none_or(|a| a.fft_size.is_none()) {
        d.fft_size = ((rate_hz / NARROW_CHANNEL_BIN_HZ) as usize)
            .next_power_of_two()
            .max(64);
    }
    if detector.is_none_or(|a| a.averages.is_none()) {
        d.averages = NARROW_CHANNEL_AVERAGES;
    }
    d.noise_segment_bins = d.noise_segment_bins.min(d.fft_size);
}
