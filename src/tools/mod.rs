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
