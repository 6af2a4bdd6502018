//! Detection over a long stretch of samples already in memory (a recording), split across
//! threads.
//!
//! Every averaged spectrum is computed from its own K contiguous frames, and the detector
//! carries no state from one spectrum to the next (see [`crate::noise`]), so the spectra are
//! independent: the input is cut on spectrum boundaries into one contiguous share per thread,
//! each thread runs its own [`Welch`] and [`Detector`] over its share, and the shares' results
//! are concatenated in order. The result is identical, bit for bit, whatever the thread count.

use crate::convert::SampleFormat;
use crate::detect::{Detection, Detector, DetectorConfig};
use crate::spectrum::{SpectrumConfig, Welch};
use num_complex::Complex32;

/// The detections of one averaged spectrum.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumResult {
    /// Index (into the input) of the first sample of the spectrum's frames.
    pub first_sample: u64,
    /// What was found.
    pub detections: Vec<Detection>,
}

/// Runs Welch + detection over `samples` with up to `threads` threads (0 is taken as 1),
/// returning the spectra in order. The result does not depend on `threads`: the input is split
/// on spectrum boundaries, and every spectrum is computed from the same samples as a
/// single-threaded run would use. Samples after the last whole spectrum are not used.
///
/// # Panics
/// As [`Welch::new`] and [`Detector::new`] for invalid configurations.
pub fn detect_all(
    samples: &[Complex32],
    center_hz: f64,
    sample_rate_hz: f64,
    spectrum: &SpectrumConfig,
    detector: &DetectorConfig,
    threads: usize,
) -> Vec<SpectrumResult> {
    let per_spectrum = spectrum.fft_size * spectrum.averages;
    detect_shares(
        samples.len() / per_spectrum,
        center_hz,
        sample_rate_hz,
        spectrum,
        detector,
        threads,
        |welch, range, on_psd| {
            welch.push(
                &samples[range.start * per_spectrum..range.end * per_spectrum],
                on_psd,
            )
        },
    )
}

/// [`detect_all`] straight from raw interleaved samples in `format`, with the conversion fused
/// into each thread's window multiply ([`Welch::push_bytes`]): no converted copy of the
/// recording is made. `first_sample` counts samples, not bytes. The spectra are bit-identical
/// to converting the whole input and calling [`detect_all`].
///
/// # Panics
/// As [`detect_all`].
pub fn detect_all_bytes(
    format: SampleFormat,
    bytes: &[u8],
    center_hz: f64,
    sample_rate_hz: f64,
    spectrum: &SpectrumConfig,
    detector: &DetectorConfig,
    threads: usize,
) -> Vec<SpectrumResult> {
    let per_spectrum = spectrum.fft_size * spectrum.averages;
    let bytes_per_spectrum = per_spectrum * format.bytes_per_sample();
    detect_shares(
        bytes.len() / bytes_per_spectrum,
        center_hz,
        sample_rate_hz,
        spectrum,
        detector,
        threads,
        |welch, range, on_psd| {
            let share = &bytes[range.start * bytes_per_spectrum..range.end * bytes_per_spectrum];
            welch.push_bytes(format, share, on_psd);
        },
    )
}

/// The work shared by [`detect_all`] and [`detect_all_bytes`]: one Welch and detector per share
/// (built once and cloned: the detector's window tables cost milliseconds), `feed` pushes the
/// share's input, and every spectrum's detections are numbered from the start of the input.
#[allow(clippy::too_many_arguments)]
fn detect_shares(
    spectra: usize,
    center_hz: f64,
    sample_rate_hz: f64,
    spectrum: &SpectrumConfig,
    detector: &DetectorConfig,
    threads: usize,
    feed: impl Fn(&mut Welch, std::ops::Range<usize>, &mut dyn FnMut(&[f32], u64)) + Sync,
) -> Vec<SpectrumResult> {
    let per_spectrum = spectrum.fft_size * spectrum.averages;
    let (welch, det) = (Welch::new(spectrum), Detector::new(spectrum, detector));
    run_shares(spectra, threads, |range| {
        let (mut welch, mut det) = (welch.clone(), det.clone());
        let offset = (range.start * per_spectrum) as u64;
        let mut out = Vec::with_capacity(range.len());
        feed(&mut welch, range, &mut |psd, first_sample| {
            let mut detections = Vec::new();
            det.detect(psd, center_hz, sample_rate_hz, &mut detections);
            out.push(SpectrumResult {
                first_sample: offset + first_sample,
                detections,
            });
        });
        out
    })
}

/// Splits spectra `0..spectra` into up to `threads` contiguous shares of nearly equal size,
/// runs `work` on each (the first on the calling thread) and concatenates the results in order.
fn run_shares(
    spectra: usize,
    threads: usize,
    work: impl Fn(std::ops::Range<usize>) -> Vec<SpectrumResult> + Sync,
) -> Vec<SpectrumResult> {
    let shares = threads.clamp(1, spectra.max(1));
    let bounds: Vec<usize> = (0..=shares).map(|i| i * spectra / shares).collect();
    if shares == 1 {
        return work(0..spectra);
    }
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = bounds[1..]
            .windows(2)
            .map(|b| {
                let range = b[0]..b[1];
                scope.spawn(move || work(range))
            })
            .collect();
        let mut out = work(bounds[0]..bounds[1]);
        for handle in handles {
            // A panic in a worker is a bug in the DSP (the inputs were validated by the
            // constructors on this thread first); pass it on rather than return partial results.
            match handle.join() {
                Ok(part) => out.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::convert;
    use crate::detect::scenes::{add, noise, tone};
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    /// 13 spectra of noise and tones, with a partial spectrum left over: 1, 2, 3 and 16 threads
    /// give exactly the results of one Welch + Detector pass, first samples included, and so
    /// does the raw-bytes entry point on the CS16 encoding of the same samples.
    #[test]
    fn threads_give_identical_results() {
        let spectrum = SpectrumConfig {
            fft_size: 256,
            averages: 4,
            ..SpectrumConfig::default()
        };
        let config = DetectorConfig::default();
        let len = 256 * 4 * 13 + 300;
        let mut rng = SmallRng::seed_from_u64(41);
        let x = add(&noise(&mut rng, len, 1e-3), &tone(len, 0.123, 0.1));
        // Quantise to CS16 first so that both entry points see the same samples.
        let bytes: Vec<u8> = x
            .iter()
            .flat_map(|s| [s.re, s.im])
            .flat_map(|v| ((v * 32768.0).round() as i16).to_le_bytes())
            .collect();
        let mut samples = Vec::new();
        convert(SampleFormat::Cs16Le, &bytes, &mut samples);

        let mut welch = Welch::new(&spectrum);
        let mut det = Detector::new(&spectrum, &config);
        let mut reference = Vec::new();
        welch.push(&samples, |psd, first_sample| {
            let mut detections = Vec::new();
            det.detect(psd, 1e8, 1e6, &mut detections);
            reference.push(SpectrumResult {
                first_sample,
                detections,
            });
        });
        assert_eq!(reference.len(), 13);
        assert!(reference.iter().all(|r| !r.detections.is_empty()));
        for threads in [0, 1, 2, 3, 16] {
            let got = detect_all(&samples, 1e8, 1e6, &spectrum, &config, threads);
            assert_eq!(got, reference, "{threads} threads");
            let got = detect_all_bytes(
                SampleFormat::Cs16Le,
                &bytes,
                1e8,
                1e6,
                &spectrum,
                &config,
                threads,
            );
            assert_eq!(got, reference, "{threads} threads, bytes");
        }
        assert!(detect_all(&samples[..100], 1e8, 1e6, &spectrum, &config, 2).is_empty());
    }
}
