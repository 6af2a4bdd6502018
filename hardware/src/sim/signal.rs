//! What each transmitter sends, as closed-form functions of time.
//!
//! Every waveform is defined analytically in scene time u (seconds since the scene epoch, at the
//! transmitter), so a receiver at delay tau can evaluate it at exactly u = t - tau: the delay is
//! exact to a fraction of a sample, which is what time-difference-of-arrival work measures.

use super::config::{ScheduleConfig, SignalKind, TransmitterConfig};
use super::fastmath::{hash_words, mix64};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Ramp length of scheduled `cw` and `fm` transmissions, s: a transmitter keys up in a few ms,
/// and a hard on/off step would splatter across the band.
const KEY_RAMP_S: f64 = 0.005;

/// Ramp length of bursts, in symbols: long enough to keep the burst's spectrum compact, short
/// against any useful burst.
const BURST_RAMP_SYMBOLS: f64 = 4.0;

/// Highest voice frequency of the FM message, Hz (telephone-quality speech).
const VOICE_TOP_HZ: f64 = 3000.0;

/// Relative depth of the slow (syllabic) amplitude variation of each voice tone.
const SYLLABIC_DEPTH: f64 = 0.5;

/// Voice tones in an FM message.
const VOICE_TONES: usize = 3;

/// Sinusoids in an FM message's phase: each tone plus its two syllabic sidebands.
pub(crate) const FM_COMPONENTS: usize = 3 * VOICE_TONES;

/// MSK symbols are grouped in segments this long whose phase advance is a whole number of
/// cycles (the last two symbols of a segment are chosen to make it so). The carrier phase at
/// any symbol then depends only on its own segment, so a receiver can start anywhere in an
/// endless stream by summing at most this many symbols.
pub(crate) const MSK_SEGMENT_SYMBOLS: i64 = 1024;

/// The on/off keying of a transmitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Gate {
    /// `None`: always on.
    schedule: Option<ScheduleConfig>,
    /// Raised-cosine ramp at each end of an on-window, s.
    ramp_s: f64,
}

/// One on-window of a gate, in scene time (s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Window {
    /// Start (`-inf` when always on).
    pub start: f64,
    /// End (`+inf` when always on).
    pub end: f64,
    /// Time data symbols count from: the start, or 0 when always on.
    pub origin: f64,
    /// Which repetition of the schedule this is (0 when always on).
    pub index: i64,
}

impl Gate {
    pub(crate) fn new(schedule: Option<ScheduleConfig>, ramp_s: f64) -> Self {
        // A schedule that is on for the whole period is simply always on (and must not ramp).
        let schedule = schedule.filter(|s| s.on_s < s.period_s);
        let ramp_s = schedule.map_or(0.0, |s| ramp_s.min(s.on_s / 2.0));
        Self { schedule, ramp_s }
    }

    /// Whether the transmitter is on (radiating anything) at scene time `u`.
    pub(crate) fn is_on(&self, u: f64) -> bool {
        match self.schedule {
            None => true,
            Some(s) => (u - s.offset_s).rem_euclid(s.period_s) < s.on_s,
        }
    }

    /// Calls `f` with every on-window that overlaps [a, b), in time order.
    pub(crate) fn for_each_window(&self, a: f64, b: f64, mut f: impl FnMut(Window)) {
        let Some(s) = self.schedule else {
            f(Window {
                start: f64::NEG_INFINITY,
                end: f64::INFINITY,
                origin: 0.0,
                index: 0,
            });
            return;
        };
        let mut index = ((a - s.offset_s) / s.period_s).floor() as i64;
        loop {
            let start = s.offset_s + index as f64 * s.period_s;
            if start >= b {
                return;
            }
            let end = start + s.on_s;
            if end > a {
                f(Window {
                    start,
                    end,
                    origin: start,
                    index,
                });
            }
            index += 1;
        }
    }

    /// Amplitude envelope (0..=1) at time `u` inside `window`: raised-cosine ramps at both ends.
    #[inline]
    pub(crate) fn envelope(&self, window: &Window, u: f64) -> f64 {
        let ramp = |x: f64| {
            if x >= 1.0 {
                1.0
            } else if x <= 0.0 {
                0.0
            } else {
                0.5 - 0.5 * (std::f64::consts::PI * x).cos()
            }
        };
        if self.ramp_s <= 0.0 {
            return if u >= window.start && u < window.end {
                1.0
            } else {
                0.0
            };
        }
        ramp((u - window.start) / self.ramp_s) * ramp((window.end - u) / self.ramp_s)
    }

    /// Ramp length, s (0 when always on).
    pub(crate) fn ramp_s(&self) -> f64 {
        self.ramp_s
    }
}

/// One sinusoid of an FM message's phase: `cycles * sin(2 pi (freq_hz u + phase_cycles))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PhaseComponent {
    /// Peak phase deviation it contributes, cycles.
    pub cycles: f64,
    /// Frequency, Hz.
    pub freq_hz: f64,
    /// Phase at u = 0, cycles.
    pub phase_cycles: f64,
}

/// How a transmitter modulates its carrier.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Modulation {
    /// Unmodulated.
    Cw,
    /// FM by a voice-like message m(u) = sum_k a_k (1 + d sin(2 pi g_k u + p_k)) cos(2 pi f_k u + q_k),
    /// |m| <= 1, frequency deviation `deviation_hz * m(u)`. The phase is its integral in closed
    /// form: a sum of sinusoids at f_k and f_k +- g_k.
    Fm {
        /// Peak frequency deviation, Hz.
        deviation_hz: f64,
        /// Phase components (cycles).
        components: Box<[PhaseComponent; FM_COMPONENTS]>,
    },
    /// MSK: the phase moves linearly by +-1/4 cycle per symbol.
    Msk {
        /// Symbols per second.
        symbol_rate: f64,
        /// Per-transmitter key of the symbol hash.
        key: u64,
    },
}

/// A transmitter's waveform: its modulation and its gate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Waveform {
    pub modulation: Modulation,
    pub gate: Gate,
}

impl Waveform {
    /// The waveform of transmitter `index` of a scene seeded with `seed`.
    pub(crate) fn new(tx: &TransmitterConfig, index: usize, seed: u64) -> Self {
        let key = hash_words(&[seed, index as u64]);
        let (modulation, ramp_s) = match tx.kind {
            SignalKind::Cw => (Modulation::Cw, KEY_RAMP_S),
            SignalKind::Fm => (fm_message(tx.bandwidth_hz, key), KEY_RAMP_S),
            SignalKind::Bursts => {
                // MSK's main lobe is 1.5 x the symbol rate wide.
                let symbol_rate = tx.bandwidth_hz / 1.5;
                (
                    Modulation::Msk { symbol_rate, key },
                    BURST_RAMP_SYMBOLS / symbol_rate,
                )
            }
        };
        Self {
            modulation,
            gate: Gate::new(tx.schedule, ramp_s),
        }
    }
}

/// A voice-like FM message whose Carson bandwidth 2 (deviation + highest component) equals
/// `bandwidth_hz`. Tones, syllabic rates and phases are drawn from `key`.
fn fm_message(bandwidth_hz: f64, key: u64) -> Modulation {
    let mut rng = SmallRng::seed_from_u64(key);
    // Narrow channels scale the voice band down so the deviation keeps at least half of it.
    let top = VOICE_TOP_HZ.min(bandwidth_hz / 4.0);
    // Low, middle and high tones (speech puts most energy low).
    let bands = [(0.10, 0.20, 0.5), (0.30, 0.50, 0.3), (0.70, 0.95, 0.2)];
    let mut tones = [(0.0, 0.0, 0.0, 0.0, 0.0); VOICE_TONES];
    for (tone, &(lo, hi, weight)) in tones.iter_mut().zip(&bands) {
        let f = top * rng.random_range(lo..hi);
        // Syllabic rate 2-6 Hz, far below any tone.
        let g = rng.random_range(2.0..6.0);
        *tone = (
            weight / (1.0 + SYLLABIC_DEPTH),
            f,
            g,
            rng.random::<f64>(),
            rng.random::<f64>(),
        );
    }
    let highest = tones.iter().map(|t| t.1 + t.2).fold(0.0, f64::max);
    let deviation_hz = bandwidth_hz / 2.0 - highest;
    // a cos(B) + a d sin(A) cos(B), A = 2 pi (g u + p), B = 2 pi (f u + q), is a sum of cosines
    //   a cos(B) + (a d / 2) cos(A + B - pi/2) + (a d / 2) cos(B - A + pi/2),
    // and each term c cos(2 pi (F u + P)) integrates to a phase of
    //   deviation * c / F * sin(2 pi (F u + P)) / (2 pi)  cycles.
    let mut components = [PhaseComponent {
        cycles: 0.0,
        freq_hz: 1.0,
        phase_cycles: 0.0,
    }; FM_COMPONENTS];
    for (k, &(a, f, g, p, q)) in tones.iter().enumerate() {
        let side = a * SYLLABIC_DEPTH / 2.0;
        let terms = [
            (a, f, q),
            (side, f + g, q + p - 0.25),
            (side, f - g, q - p + 0.25),
        ];
        for (slot, &(c, freq, phase)) in components[3 * k..3 * k + 3].iter_mut().zip(&terms) {
            *slot = PhaseComponent {
                cycles: deviation_hz * c / (freq * std::f64::consts::TAU),
                freq_hz: freq,
                phase_cycles: phase,
            };
        }
    }
    Modulation::Fm {
        deviation_hz,
        components: Box::new(components),
    }
}

impl Modulation {
    /// The FM message m(u) (-1..=1) by its defining formula, for tests of the closed form.
    #[cfg(test)]
    pub(crate) fn fm_message_direct(&self, u: f64) -> f64 {
        let Modulation::Fm { components, .. } = self else {
            return 0.0;
        };
        let tau = std::f64::consts::TAU;
        components
            .iter()
            .map(|c| c.cycles * tau * c.freq_hz * (tau * (c.freq_hz * u + c.phase_cycles)).cos())
            .sum::<f64>()
            / self.fm_deviation()
    }

    /// The main tone of each of an FM message's voice tones, strongest first: (frequency Hz,
    /// share of the peak deviation); empty for other modulations.
    pub(crate) fn fm_tones(&self) -> Vec<(f64, f64)> {
        let Modulation::Fm {
            deviation_hz,
            components,
        } = self
        else {
            return Vec::new();
        };
        // Components come three per tone, the tone itself first (see `fm_message`).
        let mut tones: Vec<(f64, f64)> = components
            .iter()
            .step_by(3)
            .map(|c| {
                (
                    c.freq_hz,
                    c.cycles * std::f64::consts::TAU * c.freq_hz / deviation_hz,
                )
            })
            .collect();
        tones.sort_by(|a, b| b.1.total_cmp(&a.1));
        tones
    }

    #[cfg(test)]
    pub(crate) fn fm_deviation(&self) -> f64 {
        match self {
            Modulation::Fm { deviation_hz, .. } => *deviation_hz,
            _ => 0.0,
        }
    }
}

/// Where an MSK symbol stream stands: symbol `symbol` of repetition `window`, the phase
/// accumulated before it (quarter cycles, mod 4) and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SymbolCursor {
    pub window: i64,
    pub symbol: i64,
    /// Sum of earlier symbols of this segment, mod 4 (each symbol moves the phase +-1/4 cycle).
    pub quarter_turns: u8,
    /// This symbol: +1 or -1.
    pub value: i8,
}

impl SymbolCursor {
    /// The cursor at `symbol` of `window`, summing from its segment's start.
    pub(crate) fn at(key: u64, window: i64, symbol: i64) -> Self {
        let start = symbol.div_euclid(MSK_SEGMENT_SYMBOLS) * MSK_SEGMENT_SYMBOLS;
        let mut cursor = Self {
            window,
            symbol: start,
            quarter_turns: 0,
            value: symbol_value(key, window, start, 0),
        };
        while cursor.symbol < symbol {
            cursor.advance(key);
        }
        cursor
    }

    /// Moves to the next symbol.
    #[inline]
    pub(crate) fn advance(&mut self, key: u64) {
        self.quarter_turns = (self.quarter_turns as i8 + self.value).rem_euclid(4) as u8;
        self.symbol += 1;
        if self.symbol.rem_euclid(MSK_SEGMENT_SYMBOLS) == 0 {
            debug_assert_eq!(self.quarter_turns, 0, "segment phase must close");
            self.quarter_turns = 0;
        }
        self.value = symbol_value(key, self.window, self.symbol, self.quarter_turns);
    }
}

/// Symbol `symbol` of repetition `window`: random bits, except the last two of each segment,
/// which bring the segment's phase sum back to a whole number of cycles. The sum of the first
/// `S - 2` symbols is even (an even count of odd numbers), so it is 0 or 2 mod 4; +1 then
/// -1 or +1 closes it.
#[inline]
fn symbol_value(key: u64, window: i64, symbol: i64, quarter_turns_before: u8) -> i8 {
    let position = symbol.rem_euclid(MSK_SEGMENT_SYMBOLS);
    if position == MSK_SEGMENT_SYMBOLS - 2 {
        1
    } else if position == MSK_SEGMENT_SYMBOLS - 1 {
        if quarter_turns_before == 3 {
            1
        } else {
            -1
        }
    } else if mix64(mix64(key ^ window as u64) ^ symbol as u64) & 1 == 1 {
        1
    } else {
        -1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msk_segments_close_and_cursors_agree_wherever_they_start() {
        let key = 42;
        let mut walked = SymbolCursor::at(key, 3, -5000);
        for _ in 0..10_000 {
            walked.advance(key);
            assert_eq!(walked, SymbolCursor::at(key, 3, walked.symbol));
        }
    }

    #[test]
    fn fm_phase_components_integrate_the_voice_message() {
        // Check d(phase)/du = deviation * m(u) with m from its product-form definition,
        // by central differences (h = 1 us); tolerance 1e-4 of the deviation.
        let tx = TransmitterConfig {
            id: "fm".into(),
            name: String::new(),
            latitude: 0.0,
            longitude: 0.0,
            frequency_hz: 1e8,
            bandwidth_hz: 12_500.0,
            power_dbm: 0.0,
            kind: SignalKind::Fm,
            schedule: None,
        };
        let wave = Waveform::new(&tx, 0, 9);
        let Modulation::Fm {
            deviation_hz,
            components,
        } = &wave.modulation
        else {
            panic!("not fm")
        };
        // Carson: 2 (deviation + highest component) = 12.5 kHz.
        let highest = components.iter().map(|c| c.freq_hz).fold(0.0, f64::max);
        assert!((2.0 * (*deviation_hz + highest) - 12_500.0).abs() < 1e-6);
        let phase = |u: f64| {
            components
                .iter()
                .map(|c| c.cycles * (std::f64::consts::TAU * (c.freq_hz * u + c.phase_cycles)).sin())
                .sum::<f64>()
        };
        let mut rng = SmallRng::seed_from_u64(hash_words(&[9, 0]));
        let tones: Vec<(f64, f64, f64, f64, f64)> = {
            // Re-draw the same tones as fm_message to evaluate the product form.
            let top = VOICE_TOP_HZ.min(12_500.0 / 4.0);
            [(0.10, 0.20, 0.5), (0.30, 0.50, 0.3), (0.70, 0.95, 0.2)]
                .iter()
                .map(|&(lo, hi, w)| {
                    let f = top * rng.random_range(lo..hi);
                    let g = rng.random_range(2.0..6.0);
                    (
                        w / (1.0 + SYLLABIC_DEPTH),
                        f,
                        g,
                        rng.random::<f64>(),
                        rng.random::<f64>(),
                    )
                })
                .collect()
        };
        let tau = std::f64::consts::TAU;
        let h = 1e-6;
        for i in 0..2000 {
            let u = i as f64 * 1.37e-3 - 0.5;
            let m: f64 = tones
                .iter()
                .map(|&(a, f, g, p, q)| {
                    a * (1.0 + SYLLABIC_DEPTH * (tau * (g * u + p)).sin()) * (tau * (f * u + q)).cos()
                })
                .sum();
            assert!(m.abs() <= 1.0);
            let freq = (phase(u + h) - phase(u - h)) / (2.0 * h);
            assert!(
                (freq - deviation_hz * m).abs() < 1e-4 * deviation_hz,
                "u {u}: {freq} vs {}",
                deviation_hz * m
            );
            assert!((wave.modulation.fm_message_direct(u) - m).abs() < 1e-9);
        }
    }

    #[test]
    fn gate_windows_cover_exactly_the_on_times() {
        let gate = Gate::new(
            Some(ScheduleConfig {
                period_s: 4.0,
                on_s: 0.3,
                offset_s: 1.0,
            }),
            0.001,
        );
        let mut windows = Vec::new();
        gate.for_each_window(-3.5, 9.2, |w| windows.push((w.start, w.end, w.index)));
        assert_eq!(
            windows,
            vec![(-3.0, -2.7, -1), (1.0, 1.3, 0), (5.0, 5.3, 1), (9.0, 9.3, 2)]
        );
        assert!(gate.is_on(5.1) && !gate.is_on(5.31) && !gate.is_on(0.99) && gate.is_on(-2.9));
        let always = Gate::new(
            Some(ScheduleConfig {
                period_s: 1.0,
                on_s: 1.0,
                offset_s: 0.3,
            }),
            0.001,
        );
        assert!(always.is_on(0.2) && always.ramp_s() == 0.0);
    }
}
