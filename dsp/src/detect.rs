//! Grouping of over-threshold bins into detections.
//!
//! A bin is occupied when its power exceeds the local noise floor ([`crate::noise`]) times the
//! CFAR factor ([`crate::cfar`]). Occupied bins form runs; runs separated by at most
//! `merge_gap_bins` free bins are one detection, except that a run is cut at a valley between
//! two tone-shaped peaks, so that tones closer than a main lobe (3 bins with Blackman-Harris)
//! are reported separately (see `Detector::split_runs` for the test and its limits). The scan
//! for crossings looks at 16 bins at a time with a branch-free count and only visits chunks
//! with a crossing bin by bin. For each detection:
//!
//! - power: the sum of `psd - floor` over the run widened by `guard_bins` each side (the
//!   window's main lobe and a signal's skirts), divided by the window's ENBW in bins. The
//!   widening stops halfway to a neighbouring detection so that no bin is counted twice.
//! - frequency: for a run no wider than a tone's main lobe, the peak interpolated with a
//!   parabola through the log powers of the peak and its neighbours, corrected by a table of
//!   that estimate's bias for the window (exact for a clean tone at any offset); for wider runs,
//!   the centre of the occupied band, and, when the run is mostly one tone's lobe (more than
//!   [`CARRIER_SHARE`] of its power: a keyed time signal, AM), the carrier's interpolated
//!   frequency besides (`carrier_hz`). (The power centroid would be the other choice, but on a
//!   noise-like signal every bin's power scatters, and the centroid of 50 bins scattering by
//!   35 % wanders by most of a bin; the band's edges are steadier.)
//! - bandwidth: the span holding 99 % of the run's excess power, with the window's own 99 % span
//!   for a tone removed in quadrature, and at least one bin.
//! - SNR per bin: for a run no wider than a tone's main lobe, the power over the noise per bin
//!   (what the tone's bin would read on a bin centre: no scalloping loss, and the noise of ~11
//!   summed bins instead of one bin's scatter); for wider runs, the mean excess per bin of the
//!   occupied band over the noise per bin.

use crate::cfar::Threshold;
use crate::noise::NoiseFloor;
use crate::spectrum::SpectrumConfig;
use crate::window::WindowKind;

/// Fraction of a detection's power left outside its occupied bandwidth (half each side): the
/// ITU definition of occupied bandwidth (99 % of the power).
const OCCUPIED_OUTSIDE: f64 = 0.01;

/// A wide run with more than this share of its power within a tone's 99 % span of its peak is
/// a carrier with weak sidebands: a keyed time signal's carrier holds 85-95 %, an AM
/// broadcast's two thirds or more. (An FM signal's spectrum over a few tens of milliseconds can
/// also pile most of its power near its instantaneous frequency; that is why `sdrhub detect`
/// takes a signal for a carrier only when most of its spectra say so.)
pub const CARRIER_SHARE: f64 = 0.5;

/// Points of the frequency-interpolation bias table over one bin of offsets.
const INTERPOLATION_TABLE_POINTS: usize = 129;

/// Longest window used to tabulate the window's response: a periodic window's response in
/// bins converges to its large-N shape with errors of order 1/N^2 (about 1e-5 at 256), so
/// larger FFTs need no more. Every table point costs one `len`-point DFT sum, which made
/// `Detector::new` take ~8 ms at 1024.
const RESPONSE_TABLE_MAX_LEN: usize = 256;

/// Tunables of the detector. Every field is a user-visible config key (`dsp.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// False-alarm probability per bin per averaged spectrum (e.g. 1e-6).
    pub pfa: f64,
    /// Over-threshold runs separated by at most this many bins are merged into one detection.
    pub merge_gap_bins: usize,
    /// Bins added on each side of a run when summing a detection's power, so that the window's
    /// main lobe and a modulated signal's skirts are counted (power is not under-estimated).
    pub guard_bins: usize,
    /// Bins per segment of the local noise-floor reference.
    pub noise_segment_bins: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            pfa: 1e-6,
            merge_gap_bins: 2,
            guard_bins: 4,
            noise_segment_bins: 64,
        }
    }
}

/// One signal found in one averaged spectrum of one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Estimated centre frequency, absolute (receiver centre + offset), Hz.
    pub frequency_hz: f64,
    /// Estimated occupied bandwidth, Hz (at least one bin).
    pub bandwidth_hz: f64,
    /// Total signal power with the noise removed, linear, full scale = 1.0 (a full-scale complex
    /// tone). Use this, not `power_dbfs`, when averaging.
    pub power_fs: f64,
    /// `power_fs` in dBFS.
    pub power_dbfs: f64,
    /// Power of the strongest bin, noise included, dBFS: what a spectrum analyser's marker
    /// reads (for a tone, its power less the window's scalloping loss).
    pub peak_dbfs: f64,
    /// Peak bin power over the local noise floor at that bin, dB (the per-bin SNR).
    pub snr_db: f64,
    /// Noise power per bin at the peak, dBFS.
    pub noise_dbfs: f64,
    /// First bin (frequency-ordered index) of the over-threshold run.
    pub first_bin: usize,
    /// Last bin (inclusive) of the over-threshold run.
    pub last_bin: usize,
    /// For a run wider than a tone that is mostly one tone's main lobe (more than
    /// [`CARRIER_SHARE`] of its power: a keyed carrier, AM), the interpolated frequency of that
    /// carrier, Hz; `None` otherwise.
    pub carrier_hz: Option<f64>,
}

/// CFAR detector over frequency-ordered averaged power spectra.
///
/// Building one tabulates the window's response (a few milliseconds); cloning one is a copy.
#[derive(Debug, Clone)]
pub struct Detector {
    config: DetectorConfig,
    threshold: Threshold,
    noise: NoiseFloor,
    averages: usize,
    enbw_bins: f64,
    /// Runs up to this many bins wide may be a single tone and get peak interpolation.
    tone_run_bins: usize,
    /// 99 % power span of a tone through this window, bins.
    tone_span_bins: f64,
    /// Bins between the points of the frequency parabola.
    spacing: usize,
    /// Log-parabola offset measured for a clean tone at the true offsets in `true_offsets`,
    /// increasing.
    measured_offsets: Vec<f64>,
    true_offsets: Vec<f64>,
    /// Distance, bins, from a peak to the first of the two flank bins that must fall off like a
    /// tone's main lobe for a valley next to it to split a run (see [`Detector::split_runs`]).
    flank_distance: usize,
    /// Largest excess, relative to the peak's, that a tone leaves in the two flank bins (its
    /// main-lobe power half a bin closer in, doubled for margin); `None` if the window's main
    /// lobe is too flat for the test to mean anything.
    flank_limits: Option<[f64; 2]>,
    /// Over-threshold runs of the current spectrum, merged, then split at valleys; reused, so
    /// that `detect` allocates nothing once they have grown.
    runs: Vec<(usize, usize)>,
    split: Vec<(usize, usize)>,
    peaks: Vec<usize>,
}

/// A valley splits a run only if it is below this fraction of both neighbouring peaks' excess.
/// Two equal Blackman-Harris tones 3 bins apart leave a valley 1.3 dB (0.74) down at worst
/// (the relative phase that fills it most), 3 to 10 dB down on average.
const VALLEY_RATIO: f64 = 0.85;

/// Standard deviations of noise a valley must lie below its peaks, and that a flank may exceed
/// the tone shape by, for the split decisions to be about the signal and not the noise.
const SPLIT_SIGMAS: f64 = 3.0;

/// Bins are scanned for threshold crossings this many at a time: a branch-free count over a
/// chunk vectorises, and only chunks with a crossing are looked at bin by bin.
const SCAN_CHUNK: usize = 16;

impl Detector {
    /// Builds a detector for spectra produced with `spectrum` (FFT size, averages, window).
    ///
    /// # Panics
    /// If `spectrum.averages` or `config.noise_segment_bins` is 0, or `config.pfa` is not in
    /// (0, 1).
    pub fn new(spectrum: &SpectrumConfig, config: &DetectorConfig) -> Self {
        let n = spectrum.fft_size;
        let response = WindowResponse::new(spectrum.window, n.min(RESPONSE_TABLE_MAX_LEN));
        let spacing = interpolation_spacing(spectrum.window);
        let (measured_offsets, true_offsets) = response.interpolation_table(spacing);
        let half_width = spectrum.window.main_lobe_half_width_bins();
        let flank_distance = half_width / 2 + 1;
        let limit = |d: usize| 2.0 * response.power(d as f64 - 0.5);
        let flank_limits =
            (limit(flank_distance) < 0.1).then(|| [limit(flank_distance), limit(flank_distance + 1)]);
        Self {
            config: config.clone(),
            threshold: Threshold::new(spectrum.averages, config.pfa),
            noise: NoiseFloor::new(n, spectrum.averages, spectrum.window, config.noise_segment_bins),
            averages: spectrum.averages,
            enbw_bins: spectrum.window.enbw_bins(),
            tone_run_bins: 2 * half_width + 1,
            tone_span_bins: response.tone_span_bins(),
            spacing,
            measured_offsets,
            true_offsets,
            flank_distance,
            flank_limits,
            runs: Vec::new(),
            split: Vec::new(),
            peaks: Vec::new(),
        }
    }

    /// Finds the signals in `psd` (frequency-ordered, as produced by
    /// [`crate::spectrum::Welch`]) of a receiver tuned to `center_hz` sampling at
    /// `sample_rate_hz`. `out` is cleared and filled; it does not allocate once `out` has grown
    /// to the number of detections.
    ///
    /// # Panics
    /// If `psd` is not `fft_size` long.
    pub fn detect(&mut self, psd: &[f32], center_hz: f64, sample_rate_hz: f64, out: &mut Vec<Detection>) {
        out.clear();
        self.noise.estimate(psd);
        let floor = self.noise.floor();
        let n = psd.len();
        let bin_hz = sample_rate_hz / n as f64;
        find_runs(
            &mut self.runs,
            psd,
            floor,
            self.threshold.factor() as f32,
            self.config.merge_gap_bins,
        );
        self.split_runs(psd);
        let floor = self.noise.floor();

        // First bin not yet counted in an earlier detection's power.
        let mut free_from = 0;
        for (i, &(first, last)) in self.split.iter().enumerate() {
            let guard = self.config.guard_bins;
            let lo = first.saturating_sub(guard).max(free_from);
            let mut hi = (last + guard).min(n - 1);
            if let Some(&(next_first, _)) = self.split.get(i + 1) {
                hi = hi.min((last + next_first) / 2);
            }
            free_from = hi + 1;
            let region = Region {
                psd,
                floor,
                first,
                last,
            };
            let peak = region.peak();
            let excess_peak = region.excess(peak);
            let sum: f64 = (lo..=hi).map(|k| region.excess(k)).sum();
            // Noise can push the sum of a weak detection's excess below its peak bin's; the
            // peak bin alone is a lower bound that keeps the power positive.
            let power_fs = sum.max(excess_peak) / self.enbw_bins;
            let (from, to) = region.occupied_band();
            let span = to - from;
            let tone_like = last - first < self.tone_run_bins;
            // A wider run whose power is mostly one tone's main lobe is a carrier with keying or
            // weak sidebands (a time signal, AM): its carrier is reported beside its centre.
            let half_lobe = (0.5 * self.tone_span_bins).ceil() as usize;
            let lobe: f64 = (peak.saturating_sub(half_lobe).max(lo)..=(peak + half_lobe).min(hi))
                .map(|k| region.excess(k))
                .sum();
            let interpolable = peak >= self.spacing && peak + self.spacing < n;
            let carrier_hz = (!tone_like && interpolable && lobe > CARRIER_SHARE * sum).then(|| {
                let bin = peak as f64 + self.tone_offset(&region, peak);
                center_hz + (bin - (n / 2) as f64) * bin_hz
            });
            let bin = if tone_like && interpolable {
                peak as f64 + self.tone_offset(&region, peak)
            } else if span > 0.0 {
                0.5 * (from + to)
            } else {
                peak as f64
            };
            let width = (span * span - self.tone_span_bins * self.tone_span_bins)
                .max(0.0)
                .sqrt();
            let noise = floor[peak] as f64;
            // Per-bin SNR from the summed power, not the peak bin: a tone's bins summed over its
            // main lobe and divided by the ENBW give its power free of scalloping loss (what its
            // bin reads on a bin centre), with the noise of the ~11 bins averaging out rather than
            // the peak bin's own scatter (and the upward bias of picking the largest bin). A
            // wider signal's power per occupied bin is its mean excess per bin.
            let per_bin = if tone_like {
                power_fs
            } else {
                power_fs * self.enbw_bins / span.max(1.0)
            };
            out.push(Detection {
                frequency_hz: center_hz + (bin - (n / 2) as f64) * bin_hz,
                bandwidth_hz: width.max(1.0) * bin_hz,
                power_fs,
                power_dbfs: crate::db(power_fs),
                peak_dbfs: crate::db(psd[peak] as f64),
                snr_db: crate::db(per_bin / noise),
                noise_dbfs: crate::db(noise),
                first_bin: first,
                last_bin: last,
                carrier_hz,
            });
        }
    }

    /// The CFAR threshold: a bin is occupied when its power exceeds
    /// `threshold().factor()` times the noise floor at that bin (compared in `f32`).
    pub fn threshold(&self) -> &Threshold {
        &self.threshold
    }

    /// Copies `runs` into `split`, cutting a run at each valley between two peaks that both look
    /// like tones, so that tones closer than a main lobe apart are reported separately.
    ///
    /// With Blackman-Harris the main lobes of two tones 3 bins apart overlap and their valley can
    /// be as shallow as 1.3 dB, far shallower than the dips between the scattered bins of a
    /// noise-like signal (a K = 8 bin scatters by 35 %). What tells two tones from a noise-like
    /// signal is the shape: a tone's main lobe falls off on its outer side exactly as the
    /// window's does, to under 1 % of the peak `flank_distance` bins out, where a noise-like
    /// signal's neighbouring bins are still at its level. So a valley `v` between peaks
    /// `p1 < p2` (local maxima of the excess over the floor, both over the threshold) splits
    /// the run when
    ///
    /// - `p2 - p1` is at most a main-lobe width (further apart, the threshold already parts
    ///   them unless they are very strong, and then the valley is deep anyway),
    /// - the valley's excess is under [`VALLEY_RATIO`] times both peaks', by at least
    ///   [`SPLIT_SIGMAS`] standard deviations of its own noise, and
    /// - the two bins `flank_distance` and `flank_distance + 1` bins outside each peak (left of
    ///   `p1`, right of `p2`) are under the tone shape's limit plus [`SPLIT_SIGMAS`] noise
    ///   standard deviations.
    ///
    /// A noise-like signal narrower than about a main lobe with a dip in the middle can pass
    /// these tests and be reported as two; at K = 1 the noise allowance makes splits rare.
    fn split_runs(&mut self, psd: &[f32]) {
        let floor = self.noise.floor();
        self.split.clear();
        let factor = self.threshold.factor();
        let k = self.averages as f64;
        let excess = |i: usize| psd[i] as f64 - floor[i] as f64;
        // Standard deviation of a bin's K-averaged power when its mean excess is `e`: the
        // noise-times-signal and noise-times-noise terms of |s + n|^2.
        let sigma =
            |i: usize, e: f64| floor[i] as f64 * ((1.0 + 2.0 * e.max(0.0) / floor[i] as f64) / k).sqrt();
        let n = psd.len();
        for &(first, last) in &self.runs {
            let Some(limits) = self.flank_limits.filter(|_| last - first >= 2) else {
                self.split.push((first, last));
                continue;
            };
            self.peaks.clear();
            self.peaks.extend((first..=last).filter(|&i| {
                let e = excess(i);
                let left = i == first || excess(i - 1) <= e;
                let right = i == last || excess(i + 1) < e;
                left && right && psd[i] as f64 > floor[i] as f64 * factor
            }));
            let flank_ok = |p: usize, towards_low: bool| {
                let e = excess(p);
                limits.iter().enumerate().all(|(j, &limit)| {
                    let d = self.flank_distance + j;
                    let i = if towards_low {
                        p.checked_sub(d)
                    } else {
                        Some(p + d).filter(|&i| i < n)
                    };
                    i.is_none_or(|i| excess(i) <= limit * e + SPLIT_SIGMAS * sigma(i, 0.0))
                })
            };
            let mut start = first;
            for pair in self.peaks.windows(2) {
                let (p1, p2) = (pair[0], pair[1]);
                if p2 - p1 < 2 || p2 - p1 > self.tone_run_bins {
                    continue;
                }
                let v = (p1 + 1..p2).fold(p1 + 1, |best, i| if excess(i) < excess(best) { i } else { best });
                let (ev, lower) = (excess(v), excess(p1).min(excess(p2)));
                if ev < VALLEY_RATIO * lower
                    && lower - ev > SPLIT_SIGMAS * sigma(v, ev)
                    && flank_ok(p1, true)
                    && flank_ok(p2, false)
                {
                    self.split.push((start, v - 1));
                    start = v + 1;
                }
            }
            self.split.push((start, last));
        }
    }

    /// The per-bin noise floor (linear, same scale as the PSD) of the last call to `detect`.
    pub fn noise_floor(&self) -> &[f32] {
        self.noise.floor()
    }

    /// Sub-bin offset of a tone peaking at `peak`: the log-parabola vertex through the peak and
    /// its neighbours, mapped through the window's bias table.
    fn tone_offset(&self, region: &Region<'_>, peak: usize) -> f64 {
        // Excess powers near zero (noise) would give log(0); clamping at a small fraction of
        // the peak keeps the parabola finite and pulls the estimate towards the peak bin.
        let tiny = region.excess(peak) * 1e-6;
        let ln = |k: usize| region.excess(k).max(tiny).ln();
        let h = self.spacing;
        let measured = log_parabola_vertex(h as f64, ln(peak - h), ln(peak), ln(peak + h));
        interpolate(&self.measured_offsets, &self.true_offsets, measured)
    }
}

/// Collects the runs of bins over `factor` times the floor into `runs`, merging runs separated
/// by at most `gap` bins.
fn find_runs(runs: &mut Vec<(usize, usize)>, psd: &[f32], floor: &[f32], factor: f32, gap: usize) {
    runs.clear();
    let mut current: Option<(usize, usize)> = None;
    let mut visit = |k: usize, current: &mut Option<(usize, usize)>| match *current {
        Some((first, last)) if k - last <= gap + 1 => *current = Some((first, k)),
        _ => {
            runs.extend(current.take());
            *current = Some((k, k));
        }
    };
    let over = |p: f32, f: f32| p > f * factor;
    let chunks = psd.chunks_exact(SCAN_CHUNK).zip(floor.chunks_exact(SCAN_CHUNK));
    for (c, (p, f)) in chunks.enumerate() {
        // Most chunks hold no crossing at all; counting them is branch-free and vectorises.
        if p.iter().zip(f).filter(|(&p, &f)| over(p, f)).count() == 0 {
            continue;
        }
        for (i, (&p, &f)) in p.iter().zip(f).enumerate() {
            if over(p, f) {
                visit(c * SCAN_CHUNK + i, &mut current);
            }
        }
    }
    let tail = psd.len() / SCAN_CHUNK * SCAN_CHUNK;
    for k in tail..psd.len() {
        if over(psd[k], floor[k]) {
            visit(k, &mut current);
        }
    }
    runs.extend(current);
}

/// The bins of one detection and the spectrum they sit in.
struct Region<'a> {
    psd: &'a [f32],
    floor: &'a [f32],
    /// The over-threshold run.
    first: usize,
    last: usize,
}

impl Region<'_> {
    fn excess(&self, k: usize) -> f64 {
        self.psd[k] as f64 - self.floor[k] as f64
    }

    /// The strongest bin of the run (the first of equals).
    fn peak(&self) -> usize {
        (self.first..=self.last).fold(
            self.first,
            |best, k| if self.psd[k] > self.psd[best] { k } else { best },
        )
    }

    /// The band holding all but [`OCCUPIED_OUTSIDE`] of the run's excess power, as fractional
    /// bin positions `(from, to)`: bin `k` covers `[k - 0.5, k + 0.5)` and its power is taken as
    /// spread evenly over it, so a single bin spans 0.99.
    fn occupied_band(&self) -> (f64, f64) {
        let power = |k: usize| self.excess(k).max(0.0);
        let (from, to) = occupied_band((self.first..=self.last).map(power));
        let origin = self.first as f64 - 0.5;
        (origin + from, origin + to)
    }
}

/// The band holding all but [`OCCUPIED_OUTSIDE`] of the powers `bins` (one per bin,
/// contiguous, bin `i` covering `[i, i + 1)`), as `(from, to)`; `(0, 0)` if there is no power.
fn occupied_band(bins: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let total: f64 = bins.clone().sum();
    if total <= 0.0 {
        return (0.0, 0.0);
    }
    let (low, high) = (
        0.5 * OCCUPIED_OUTSIDE * total,
        (1.0 - 0.5 * OCCUPIED_OUTSIDE) * total,
    );
    let (mut cumulative, mut from, mut to) = (0.0, None, 0.0);
    for (i, p) in bins.enumerate() {
        let next = cumulative + p;
        if from.is_none() && next >= low && p > 0.0 {
            from = Some(i as f64 + (low - cumulative) / p);
        }
        if next >= high && p > 0.0 {
            to = i as f64 + (high - cumulative) / p;
            break;
        }
        cumulative = next;
    }
    (from.unwrap_or(0.0), to)
}

/// Vertex of the parabola through (-h, a), (0, b), (h, c), as an offset from the middle point,
/// kept within `h` (the middle point is the largest, so the vertex cannot be further).
fn log_parabola_vertex(h: f64, a: f64, b: f64, c: f64) -> f64 {
    let curvature = a - 2.0 * b + c;
    if curvature >= 0.0 {
        return 0.0;
    }
    (h * 0.5 * (a - c) / curvature).clamp(-h, h)
}

/// Spacing, bins, of the three points the frequency parabola goes through. The flat-top's main
/// lobe is so flat over +-1 bin that a parabola through neighbouring bins has almost no
/// curvature and turns noise into large offsets; two bins out it has fallen off usefully.
fn interpolation_spacing(window: WindowKind) -> usize {
    match window {
        WindowKind::FlatTop => 2,
        _ => 1,
    }
}

/// Piecewise-linear `y(x)` through increasing `xs`, clamped at the ends.
fn interpolate(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    let i = xs.partition_point(|&v| v < x);
    if i == 0 {
        return ys[0];
    }
    if i == xs.len() {
        return ys[xs.len() - 1];
    }
    let t = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
    ys[i - 1] + t * (ys[i] - ys[i - 1])
}

/// The power response of a window, for constructor-time tables.
struct WindowResponse {
    window: Vec<f64>,
    sum: f64,
}

impl WindowResponse {
    fn new(kind: WindowKind, len: usize) -> Self {
        let window: Vec<f64> = (0..len).map(|n| kind.coefficient(n, len)).collect();
        let sum = window.iter().sum();
        Self { window, sum }
    }

    /// Power a unit tone `offset` bins away puts in a bin, normalized to 1 at offset 0.
    fn power(&self, offset: f64) -> f64 {
        let len = self.window.len() as f64;
        let (mut re, mut im) = (0.0, 0.0);
        for (n, w) in self.window.iter().enumerate() {
            let phase = 2.0 * std::f64::consts::PI * offset * n as f64 / len;
            re += w * phase.cos();
            im += w * phase.sin();
        }
        (re * re + im * im) / (self.sum * self.sum)
    }

    /// `(measured, true)` offsets of a clean tone for the log-parabola estimator (points
    /// `spacing` bins apart) over +-(spacing - 0.5) bins. If the measured offset is not
    /// increasing (which no supported window does, see the tests), the identity table is
    /// returned rather than a wrong inverse.
    fn interpolation_table(&self, spacing: usize) -> (Vec<f64>, Vec<f64>) {
        let h = spacing as f64;
        // With wider spacing, noise may make a bin next to the tone's nearest the peak; the
        // table then reaches far enough to place the tone from there too.
        let reach = h - 0.5;
        let last = (INTERPOLATION_TABLE_POINTS - 1) as f64;
        let truth: Vec<f64> = (0..INTERPOLATION_TABLE_POINTS)
            .map(|i| (2.0 * i as f64 / last - 1.0) * reach)
            .collect();
        let measured: Vec<f64> = truth
            .iter()
            .map(|&d| {
                let ln = |k: f64| self.power(k - d).max(1e-30).ln();
                log_parabola_vertex(h, ln(-h), ln(0.0), ln(h))
            })
            .collect();
        if measured.windows(2).all(|w| w[1] > w[0]) {
            (measured, truth)
        } else {
            (truth.clone(), truth)
        }
    }

    /// 99 % span of a tone, bins, measured the way detections are, averaged over a tone on a
    /// bin centre and one halfway between bins.
    fn tone_span_bins(&self) -> f64 {
        let reach = 8;
        [0.0, 0.5]
            .iter()
            .map(|&d| {
                let (from, to) = occupied_band((-reach..=reach).map(|k| self.power(k as f64 - d)));
                to - from
            })
            .sum::<f64>()
            / 2.0
    }
}

/// Synthetic scenes for the DSP tests.
#[cfg(test)]
pub(crate) mod scenes {
    use num_complex::Complex32;
    use rand::rngs::SmallRng;
    use rand::Rng;
    use rand_distr::StandardNormal;
    use rustfft::FftPlanner;

    /// Complex Gaussian noise of total power `variance`.
    pub fn noise(rng: &mut SmallRng, len: usize, variance: f64) -> Vec<Complex32> {
        let s = (variance / 2.0).sqrt();
        (0..len)
            .map(|_| {
                let (re, im): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
                Complex32::new((s * re) as f32, (s * im) as f32)
            })
            .collect()
    }

    /// Complex tone of `amplitude` at `cycles` per sample.
    pub fn tone(len: usize, cycles: f64, amplitude: f64) -> Vec<Complex32> {
        (0..len)
            .map(|t| {
                let ph = 2.0 * std::f64::consts::PI * ((cycles * t as f64) % 1.0);
                Complex32::new((amplitude * ph.cos()) as f32, (amplitude * ph.sin()) as f32)
            })
            .collect()
    }

    /// Gaussian noise shaped in frequency: `density(f)` (f in cycles per sample, [-0.5, 0.5))
    /// is the power density, so the total power is the mean of `density` over the band.
    /// Synthesized as one circular block of `len` samples.
    pub fn shaped_noise(rng: &mut SmallRng, len: usize, density: impl Fn(f64) -> f64) -> Vec<Complex32> {
        let mut x: Vec<Complex32> = (0..len)
            .map(|k| {
                let f = if k < len / 2 {
                    k as f64
                } else {
                    k as f64 - len as f64
                } / len as f64;
                let s = (density(f) / 2.0).sqrt() / (len as f64).sqrt();
                let (re, im): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
                Complex32::new((s * re) as f32, (s * im) as f32)
            })
            .collect();
        FftPlanner::<f32>::new().plan_fft_inverse(len).process(&mut x);
        x
    }

    /// Mean power of `x`.
    pub fn power(x: &[Complex32]) -> f64 {
        x.iter().map(|s| s.norm_sqr() as f64).sum::<f64>() / x.len() as f64
    }

    /// `a + b`, sample by sample.
    pub fn add(a: &[Complex32], b: &[Complex32]) -> Vec<Complex32> {
        a.iter().zip(b).map(|(x, y)| x + y).collect()
    }
}

#[cfg(test)]
mod tests;
