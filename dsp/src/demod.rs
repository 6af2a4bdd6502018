//! Audio demodulation of one channel of a receiver's IQ stream: what a listener hears.
//!
//! A [`Demodulator`] takes complex baseband blocks at the receiver's rate (8 kHz to 100 MS/s,
//! not necessarily a multiple of the audio rate), centred on the receiver's centre frequency,
//! and appends real audio at 12 kHz ([`AUDIO_RATE_HZ`]; 48 kHz for wide FM,
//! [`WFM_AUDIO_RATE_HZ`]) in -1..=1. One demodulator serves one listener. Parts of a passband
//! that lie outside the receiver's band are silent.
//!
//! # Chain
//! 1. **Mix.** An oscillator (the `nco` module: tabulated, f64 phase) moves the middle of
//!    the passband to 0 Hz: the channel at `offset_hz` from the receiver centre, plus the
//!    passband's own centre (+1500 Hz for the default USB passband), so the filters that
//!    follow are real low-passes of half the passband's width. Phase-continuous across blocks.
//! 2. **Decimate.** Integer stages of Kaiser-windowed-sinc FIRs, computing only the outputs
//!    kept, from the input rate towards the channel rate (12 kHz for AM, SSB and CW, 24 kHz for
//!    NFM, 240 kHz for WFM), then, unless a whole factor reaches it, a polyphase fractional
//!    resampler to the exact channel rate (it also resamples up, for a 12 kHz KiwiSDR stream
//!    into the 24 kHz NFM channel). The factors are chosen in the constructor to minimise the
//!    multiply-adds (2.4 MS/s to the 24 kHz NFM channel: 20 then 5); every stage keeps the channel
//!    [`CHAIN_ATTENUATION_DB`] clear of aliases and lets the rest alias elsewhere.
//! 3. **Channel filter.** A low-pass whose -6 dB points are the passband edges, with a
//!    transition of 5 % of the passband width (at least 100 Hz, less where the channel rate
//!    leaves no room) and [`CHANNEL_ATTENUATION_DB`] beyond it. For SSB this is the sideband
//!    filter: a tone in the opposite sideband more than half a transition outside the passband
//!    is rejected by at least that much (the tests measure the rejection).
//! 4. **Detect** (see the `detector` module): AM envelope less its mean; FM phase-difference
//!    discriminator scaled so that the peak deviation is full scale, optional de-emphasis, DC
//!    blocker; SSB and CW the real part after shifting the listened frequency to 0 Hz (SSB) or
//!    to the BFO pitch (CW: a carrier at the listened frequency gives a `cw_bfo_hz` tone, one
//!    100 Hz higher a tone 100 Hz higher).
//! 5. **Audio filter** (FM only): low-pass and decimate to the audio rate, flat to 4 kHz for
//!    NFM and 15 kHz for WFM (which removes the 19 kHz stereo pilot), [`AUDIO_ATTENUATION_DB`]
//!    down beyond 5 kHz and 19 kHz. AM, SSB and CW are already at the audio rate.
//! 6. **Clip** at +-1.
//!
//! The first two latencies of audio (the chain's impulse response, a few to 50 ms) are
//! silent: the filters start from zero history, and their start-up would click.
//!
//! # Levels
//! - AM: with AGC the output is the modulation m(t) (the carrier is the gain reference), so
//!   50 % modulation by a tone is a tone of amplitude 0.5; without, |z| - carrier.
//! - NFM and WFM: the instantaneous frequency over `fm_deviation_hz`, so a tone at 3 kHz of a
//!   5 kHz deviation is amplitude 0.6 (times the de-emphasis gain at its frequency). AGC has no
//!   effect on FM.
//! - USB, LSB and CW: with AGC the envelope peak is brought to [`AGC_TARGET`] (attack
//!   [`AGC_ATTACK_S`], decay [`AGC_DECAY_S`], at most [`AGC_MAX_GAIN_DB`]); without, a complex
//!   tone of amplitude a is a real tone of amplitude a.
//!
//! # Squelch
//! The channel power (mean |z|^2 after the channel filter over [`SQUELCH_POWER_TIME_S`], in
//! dBFS: a full-scale complex tone is 0 dBFS) is measured in every mode, FM included, and
//! shown by [`Demodulator::channel_power_dbfs`]. With a squelch level the output is zero while
//! the power is below it: the squelch opens above the level and closes
//! [`SQUELCH_HYSTERESIS_DB`] below it.
//!
//! # Latency and cost
//! [`Demodulator::latency_s`] is the group delay of the FIR chain: an event at input time t
//! is in output sample (t + latency) * output rate. (The one-pole de-emphasis adds its own
//! frequency-dependent delay, at most its time constant.) It is 6-7 ms for AM and NFM, under
//! 1 ms for WFM, 19 ms for SSB and 23 ms for CW, whose steeper channel filters are longer. A
//! listener on a 2.4 MS/s stream costs 0.3-0.4 % of one core for NFM or SSB and 1.2-1.6 % for
//! WFM (AVX2, on a shared 2-core machine; see `benches/demod.rs`); nothing is allocated after
//! the constructor (size `out` with [`Demodulator::max_output_len`]).
//!
//! ```
//! use sdrhub_dsp::demod::{DemodConfig, Demodulator, Mode};
//! use sdrhub_dsp::Complex32;
//! use std::f64::consts::TAU;
//!
//! // NFM at 25 kHz above the centre of a 240 kS/s receiver: a 1 kHz tone at 3 kHz deviation.
//! let (rate, offset) = (240e3, 25e3);
//! let input: Vec<Complex32> = (0..60_000)
//!     .map(|n| {
//!         let t = n as f64 / rate;
//!         let phase = TAU * offset * t + 3.0 * (TAU * 1e3 * t).sin();
//!         Complex32::new(phase.cos() as f32, phase.sin() as f32) * 0.1
//!     })
//!     .collect();
//! let config = DemodConfig::new("nfm".parse::<Mode>().unwrap(), rate, offset);
//! let mut demod = Demodulator::new(&config).unwrap();
//! let mut audio = Vec::with_capacity(demod.max_output_len(input.len()));
//! demod.process(&input, &mut audio);
//! assert_eq!(demod.output_rate_hz(), 12e3);
//! assert_eq!(audio.len(), 3000);
//! // 3 kHz of the default 5 kHz deviation: amplitude 0.6.
//! let peak = audio[1500..].iter().fold(0.0f32, |m, y| m.max(y.abs()));
//! assert!((peak - 0.6).abs() < 0.02, "{peak}");
//! ```

mod agc;
mod design;
mod detector;
mod fir;
mod fractional;
mod nco;
mod plan;
mod squelch;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;

pub use agc::{AGC_ATTACK_S, AGC_DECAY_S, AGC_MAX_GAIN_DB, AGC_TARGET};
pub use detector::{AM_CARRIER_S, DC_BLOCK_HZ};
pub use squelch::{HYSTERESIS_DB as SQUELCH_HYSTERESIS_DB, POWER_TIME_S as SQUELCH_POWER_TIME_S};

use crate::Complex32;
use detector::Detector;
use fir::Fir;
use fractional::Fractional;
use nco::Nco;
use squelch::Squelch;
use std::fmt;
use std::str::FromStr;

/// Audio rate of every mode but WFM, Hz: voice needs under 6 kHz, and it is the KiwiSDR's rate.
pub const AUDIO_RATE_HZ: f64 = 12_000.0;
/// Audio rate of wide FM, Hz: holds the 15 kHz broadcast audio band.
pub const WFM_AUDIO_RATE_HZ: f64 = 48_000.0;
/// Lowest input rate, Hz: a KiwiSDR's 12 kHz IQ with room below it.
pub const MIN_INPUT_RATE_HZ: f64 = 8_000.0;
/// Highest input rate, Hz: above any receiver sdrhub drives (61.44 MS/s for an AD9361); the
/// decimation planner's work grows with the ratio to the channel rate.
pub const MAX_INPUT_RATE_HZ: f64 = 100e6;
/// Alias rejection of the decimation stages, dB: a signal 80 dB stronger than the channel,
/// anywhere in the receiver's band, still lands below the channel's own noise.
pub const CHAIN_ATTENUATION_DB: f64 = 80.0;
/// Stopband of the channel filter, dB: adjacent channels and the opposite sideband.
pub const CHANNEL_ATTENUATION_DB: f64 = 70.0;
/// Stopband of the FM audio filter, dB: discriminator noise above the audio band and the
/// 19 kHz pilot.
pub const AUDIO_ATTENUATION_DB: f64 = 60.0;
/// Passband edges (after the CW BFO shift) may reach this fraction of the channel rate: the
/// rest up to half of it is the channel filter's transition band.
pub const MAX_EDGE_FRACTION: f64 = 0.45;
/// Default CW beat frequency, Hz: a comfortable pitch, well above hum.
pub const DEFAULT_CW_BFO_HZ: f64 = 700.0;
/// Default WFM de-emphasis, microseconds (Europe; 75 in the Americas and Korea).
pub const DEFAULT_WFM_DEEMPHASIS_US: f64 = 50.0;

/// Input samples handled at once: bounds the scratch buffers, which the constructor sizes.
const CHUNK: usize = 8192;
/// Channel filter transition: this fraction of the passband width...
const TRANSITION_FRACTION: f64 = 0.05;
/// ... but at least this, Hz, so that CW filters stay a few hundred taps long.
const MIN_TRANSITION_HZ: f64 = 100.0;
/// Flat audio band and stop edge of the NFM audio filter, Hz: speech and sub-audible tones
/// pass, discriminator noise above 5 kHz (which rises with frequency) does not.
const NFM_AUDIO_HZ: (f64, f64) = (4_000.0, 5_000.0);
/// Flat audio band and stop edge of the WFM audio filter, Hz: broadcast audio to 15 kHz, the
/// stereo pilot at 19 kHz removed.
const WFM_AUDIO_HZ: (f64, f64) = (15_000.0, 19_000.0);

/// Demodulation modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Amplitude modulation, envelope detector.
    Am,
    /// Narrow-band FM (voice, 5 kHz deviation), 12 kHz audio.
    Nfm,
    /// Wide-band FM (broadcast, 75 kHz deviation, mono), 48 kHz audio.
    Wfm,
    /// Upper sideband.
    Usb,
    /// Lower sideband.
    Lsb,
    /// Morse: a narrow filter around the carrier and a beat frequency oscillator.
    Cw,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 6] = [Mode::Am, Mode::Nfm, Mode::Wfm, Mode::Usb, Mode::Lsb, Mode::Cw];

    /// The lowercase name: "am", "nfm", "wfm", "usb", "lsb" or "cw".
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Am => "am",
            Mode::Nfm => "nfm",
            Mode::Wfm => "wfm",
            Mode::Usb => "usb",
            Mode::Lsb => "lsb",
            Mode::Cw => "cw",
        }
    }

    /// The mode called `name` (lowercase, as [`Mode::as_str`]).
    pub fn parse(name: &str) -> Result<Mode, DemodError> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == name)
            .ok_or_else(|| DemodError::UnknownMode(name.to_owned()))
    }

    /// The usual passband, relative to the listened frequency: AM +-5 kHz, NFM +-6 kHz
    /// (12.5 kHz channels), WFM +-100 kHz, USB 300..2700 Hz, LSB -2700..-300 Hz, CW +-200 Hz.
    pub fn default_passband(self) -> Passband {
        let (low_hz, high_hz) = match self {
            Mode::Am => (-5_000.0, 5_000.0),
            Mode::Nfm => (-6_000.0, 6_000.0),
            Mode::Wfm => (-100_000.0, 100_000.0),
            Mode::Usb => (300.0, 2_700.0),
            Mode::Lsb => (-2_700.0, -300.0),
            Mode::Cw => (-200.0, 200.0),
        };
        Passband { low_hz, high_hz }
    }

    /// The usual peak deviation of the FM modes, Hz (75 kHz for WFM, 5 kHz otherwise).
    pub fn default_deviation_hz(self) -> f64 {
        if self == Mode::Wfm {
            75_000.0
        } else {
            5_000.0
        }
    }

    /// The audio rate, Hz.
    pub fn output_rate_hz(self) -> f64 {
        if self == Mode::Wfm {
            WFM_AUDIO_RATE_HZ
        } else {
            AUDIO_RATE_HZ
        }
    }

    /// The complex channel rate the mode is filtered and detected at, Hz: the audio rate for
    /// AM, SSB and CW; twice it for NFM (a 12.5 kHz channel does not fit 12 kHz); 240 kHz for
    /// WFM (its +-100 kHz).
    pub fn channel_rate_hz(self) -> f64 {
        match self {
            Mode::Nfm => 2.0 * AUDIO_RATE_HZ,
            Mode::Wfm => 5.0 * WFM_AUDIO_RATE_HZ,
            _ => AUDIO_RATE_HZ,
        }
    }

    fn is_fm(self) -> bool {
        matches!(self, Mode::Nfm | Mode::Wfm)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = DemodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::parse(s)
    }
}

/// The band that is listened to, relative to the listened frequency, Hz.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Passband {
    /// Lower edge (the channel filter's -6 dB point), Hz; negative below the listened frequency.
    pub low_hz: f64,
    /// Upper edge, Hz.
    pub high_hz: f64,
}

/// What one listener wants to hear.
#[derive(Debug, Clone, PartialEq)]
pub struct DemodConfig {
    /// The receiver's (input) sample rate, Hz.
    pub input_rate_hz: f64,
    /// The listened frequency minus the receiver's centre frequency, Hz.
    pub offset_hz: f64,
    /// Demodulation mode.
    pub mode: Mode,
    /// Passband relative to the listened frequency.
    pub passband: Passband,
    /// Automatic gain control (AM, SSB, CW; no effect on FM).
    pub agc: bool,
    /// Squelch level, dBFS of channel power; `None`: always open.
    pub squelch_dbfs: Option<f32>,
    /// FM peak deviation that comes out at full scale, Hz.
    pub fm_deviation_hz: f64,
    /// FM de-emphasis time constant, microseconds (50 or 75 for WFM); `None`: off.
    pub deemphasis_us: Option<f64>,
    /// CW beat frequency: the audio pitch of a carrier at the listened frequency, Hz.
    pub cw_bfo_hz: f64,
}

impl DemodConfig {
    /// The mode's defaults: its usual passband and deviation, AGC on, squelch off, de-emphasis
    /// 50 us for WFM and off otherwise, a 700 Hz BFO.
    pub fn new(mode: Mode, input_rate_hz: f64, offset_hz: f64) -> Self {
        Self {
            input_rate_hz,
            offset_hz,
            mode,
            passband: mode.default_passband(),
            agc: true,
            squelch_dbfs: None,
            fm_deviation_hz: mode.default_deviation_hz(),
            deemphasis_us: (mode == Mode::Wfm).then_some(DEFAULT_WFM_DEEMPHASIS_US),
            cw_bfo_hz: DEFAULT_CW_BFO_HZ,
        }
    }
}

/// Why a [`DemodConfig`] cannot be demodulated, or a mode name is unknown.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DemodError {
    /// The input rate is not a number within the supported range.
    #[error("input sample rate {rate_hz} Hz is outside {MIN_INPUT_RATE_HZ}..={MAX_INPUT_RATE_HZ} Hz")]
    InputRate {
        /// The rate given.
        rate_hz: f64,
    },
    /// The listened frequency is outside the receiver's band.
    #[error("channel offset {offset_hz} Hz is outside the input band: it must be within +-{limit_hz} Hz (half the sample rate)")]
    OffsetOutsideInput {
        /// The offset given.
        offset_hz: f64,
        /// Half the input rate.
        limit_hz: f64,
    },
    /// The passband is empty, not finite, or wider than the mode's channel can carry.
    #[error(
        "passband [{low_hz}, {high_hz}] Hz does not fit {mode}: the edges must be increasing and, \
         shifted by the BFO ({bfo_hz} Hz) in cw, within +-{limit_hz} Hz ({MAX_EDGE_FRACTION} of the \
         {channel_rate_hz} Hz channel rate)"
    )]
    Passband {
        /// The mode.
        mode: Mode,
        /// Lower edge given.
        low_hz: f64,
        /// Upper edge given.
        high_hz: f64,
        /// The BFO shift (CW only, 0 otherwise).
        bfo_hz: f64,
        /// Largest allowed |edge|.
        limit_hz: f64,
        /// The mode's channel rate.
        channel_rate_hz: f64,
    },
    /// Another setting is out of range.
    #[error("{name} = {value} is invalid: expected {expected}")]
    Parameter {
        /// The config field.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The allowed range.
        expected: &'static str,
    },
    /// A mode name that [`Mode::parse`] does not know.
    #[error("unknown mode {0:?}: expected one of am, nfm, wfm, usb, lsb, cw")]
    UnknownMode(String),
}

/// One listener's demodulator: filters are designed and every buffer allocated in
/// [`Demodulator::new`]; [`Demodulator::process`] allocates nothing.
#[derive(Clone)]
pub struct Demodulator {
    config: DemodConfig,
    mixer: Nco,
    stages: Vec<Fir>,
    resampler: Option<Fractional>,
    channel: Fir,
    detector: Detector,
    squelch: Squelch,
    audio: Option<Fir>,
    /// Two buffers the chunk moves between, each sized for the largest intermediate block.
    scratch: [Vec<f32>; 2],
    /// Middle of the passband relative to the listened frequency, Hz (the mixer adds it).
    passband_centre_hz: f64,
    latency_s: f64,
    factors: Vec<usize>,
}

impl fmt::Debug for Demodulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Demodulator")
            .field("config", &self.config)
            .field("factors", &self.factors)
            .field("resampler", &self.resampler.is_some())
            .field("latency_s", &self.latency_s)
            .finish_non_exhaustive()
    }
}

impl Demodulator {
    /// Validates `config`, designs the filters and allocates every buffer.
    pub fn new(config: &DemodConfig) -> Result<Self, DemodError> {
        validate(config)?;
        let mode = config.mode;
        let input_rate = config.input_rate_hz;
        let channel_rate = mode.channel_rate_hz();
        let Passband { low_hz, high_hz } = config.passband;
        let centre = (low_hz + high_hz) / 2.0;
        let half_width = (high_hz - low_hz) / 2.0;
        let shift = if mode == Mode::Cw { config.cw_bfo_hz } else { 0.0 };
        let edge = (low_hz + shift).abs().max((high_hz + shift).abs());
        // No wider than the passband (its flat part then shrinks to 0 Hz at worst), and the stop
        // edge within 47.5 % of the channel rate, leaving the last decimation stage at least
        // 5 % of it for its transition.
        let transition = (TRANSITION_FRACTION * 2.0 * half_width)
            .max(MIN_TRANSITION_HZ)
            .min(2.0 * half_width)
            .min(2.0 * ((MAX_EDGE_FRACTION + 0.025) * channel_rate - edge));
        // The chain keeps everything the channel filter can pass.
        let keep = half_width + transition / 2.0;

        let plan = plan::plan(input_rate, channel_rate, keep, CHAIN_ATTENUATION_DB);
        let mut latency_s = 0.0;
        let mut rate = input_rate;
        let mut block = CHUNK;
        let mut largest = CHUNK;
        let mut stages = Vec::with_capacity(plan.factors.len());
        for &factor in &plan.factors {
            let stop = rate / factor as f64 - keep;
            let taps = design::lowpass(keep / rate, stop / rate, CHAIN_ATTENUATION_DB);
            let stage = Fir::new(&taps, 2, factor, block);
            latency_s += stage.delay() / rate;
            block = stage.max_output(block);
            rate /= factor as f64;
            stages.push(stage);
        }
        let resampler = plan.resample.then(|| {
            let resampler = Fractional::new(rate, channel_rate, keep, CHAIN_ATTENUATION_DB, block);
            latency_s += resampler.delay() / rate;
            block = resampler.max_output(block);
            largest = largest.max(block);
            resampler
        });
        let channel_taps = design::lowpass(
            (half_width - transition / 2.0) / channel_rate,
            keep / channel_rate,
            CHANNEL_ATTENUATION_DB,
        );
        let channel = Fir::new(&channel_taps, 2, 1, block);
        latency_s += channel.delay() / channel_rate;
        // The start-up transient lasts as long as the chain's impulse response, twice its
        // group delay.
        let mute = (2.0 * latency_s * channel_rate).ceil() as u32;
        let audio = mode.is_fm().then(|| {
            let (pass, stop) = if mode == Mode::Wfm {
                WFM_AUDIO_HZ
            } else {
                NFM_AUDIO_HZ
            };
            let taps = design::lowpass(pass / channel_rate, stop / channel_rate, AUDIO_ATTENUATION_DB);
            let factor = (channel_rate / mode.output_rate_hz()).round() as usize;
            let audio = Fir::new(&taps, 1, factor, block);
            // The discriminator's phase step belongs midway between its two samples.
            latency_s += audio.delay() / channel_rate + 0.5 / channel_rate;
            audio
        });
        let detector = match mode {
            Mode::Am => Detector::am(channel_rate, config.agc, mute),
            Mode::Nfm | Mode::Wfm => Detector::fm(
                channel_rate,
                config.fm_deviation_hz,
                -centre,
                config.deemphasis_us.map(|us| us * 1e-6),
                mute,
            ),
            Mode::Usb | Mode::Lsb | Mode::Cw => {
                Detector::product(channel_rate, centre + shift, config.agc, mute)
            }
        };
        let scratch_len = 2 * (largest + 16);
        Ok(Self {
            config: config.clone(),
            mixer: Nco::new(-(config.offset_hz + centre), input_rate),
            stages,
            resampler,
            channel,
            detector,
            squelch: Squelch::new(channel_rate, config.squelch_dbfs),
            audio,
            scratch: [Vec::with_capacity(scratch_len), Vec::with_capacity(scratch_len)],
            passband_centre_hz: centre,
            latency_s,
            factors: plan.factors,
        })
    }

    /// Demodulates `input` (IQ at the input rate, continuing the previous block) and appends the
    /// audio to `out`. Blocks of any length are accepted; the output depends only on the
    /// samples, not on how they were split into blocks. Allocates nothing if `out` has room for
    /// [`Demodulator::max_output_len`] of `input.len()` more samples.
    pub fn process(&mut self, input: &[Complex32], out: &mut Vec<f32>) {
        self.run(input, out, None);
    }

    /// [`Demodulator::process`], also appending to `channel` the complex channel it
    /// demodulates: after the channel filter, at [`Demodulator::channel_rate_hz`], centred
    /// [`Demodulator::channel_offset_hz`] from the listened frequency (what a recording of the
    /// channel keeps). Allocates nothing if `channel` has room.
    pub fn process_with_channel(
        &mut self,
        input: &[Complex32],
        out: &mut Vec<f32>,
        channel: &mut Vec<Complex32>,
    ) {
        self.run(input, out, Some(channel));
    }

    /// The complex channel rate, Hz (the mode's [`Mode::channel_rate_hz`]).
    pub fn channel_rate_hz(&self) -> f64 {
        self.config.mode.channel_rate_hz()
    }

    /// Where the channel is centred relative to the listened frequency, Hz: the middle of the
    /// passband (as the mixer tunes it).
    pub fn channel_offset_hz(&self) -> f64 {
        self.passband_centre_hz
    }

    fn run(&mut self, input: &[Complex32], out: &mut Vec<f32>, mut channel: Option<&mut Vec<Complex32>>) {
        for chunk in input.chunks(CHUNK) {
            let [a, b] = &mut self.scratch;
            a.clear();
            self.mixer.mix(chunk, a);
            for stage in &mut self.stages {
                b.clear();
                stage.process(a, b);
                std::mem::swap(a, b);
            }
            if let Some(resampler) = &mut self.resampler {
                b.clear();
                resampler.process(a, b);
                std::mem::swap(a, b);
            }
            b.clear();
            self.channel.process(a, b);
            if let Some(channel) = channel.as_deref_mut() {
                // The scratch holds I and Q interleaved.
                channel.extend(b.chunks_exact(2).map(|iq| Complex32::new(iq[0], iq[1])));
            }
            a.clear();
            self.detector.process(b, &mut self.squelch, a);
            let start = out.len();
            match &mut self.audio {
                Some(audio) => audio.process(a, out),
                None => out.extend_from_slice(a),
            }
            for y in &mut out[start..] {
                *y = y.clamp(-1.0, 1.0);
            }
        }
    }

    /// Moves the channel to `offset_hz` from the receiver centre (click-to-tune), continuing the
    /// mixer's phase; the filters and their state are kept. Allocates nothing.
    pub fn retune(&mut self, offset_hz: f64) -> Result<(), DemodError> {
        check_offset(offset_hz, self.config.input_rate_hz)?;
        self.config.offset_hz = offset_hz;
        self.mixer
            .retune(-(offset_hz + self.passband_centre_hz), self.config.input_rate_hz);
        Ok(())
    }

    /// The configuration (with the offset of the last [`Demodulator::retune`]).
    pub fn config(&self) -> &DemodConfig {
        &self.config
    }

    /// The audio sample rate, Hz.
    pub fn output_rate_hz(&self) -> f64 {
        self.config.mode.output_rate_hz()
    }

    /// The group delay of the chain, seconds: an event at input time t is heard at output
    /// time t + latency.
    pub fn latency_s(&self) -> f64 {
        self.latency_s
    }

    /// [`Demodulator::latency_s`] in output samples.
    pub fn latency_samples(&self) -> f64 {
        self.latency_s * self.output_rate_hz()
    }

    /// The channel power measured for the squelch, dBFS (a full-scale complex tone in the
    /// passband is 0 dBFS; -300 before any input).
    pub fn channel_power_dbfs(&self) -> f32 {
        self.squelch.power_dbfs()
    }

    /// Whether the squelch is open (always, without a squelch level).
    pub fn squelch_open(&self) -> bool {
        self.squelch.is_open()
    }

    /// The most audio samples one [`Demodulator::process`] call with `input_len` samples can
    /// append.
    pub fn max_output_len(&self, input_len: usize) -> usize {
        let ratio = self.output_rate_hz() / self.config.input_rate_hz;
        (input_len as f64 * ratio).ceil() as usize + self.factors.len() + 3
    }
}

fn check_offset(offset_hz: f64, input_rate: f64) -> Result<(), DemodError> {
    let limit_hz = input_rate / 2.0;
    if offset_hz.is_finite() && offset_hz.abs() < limit_hz {
        Ok(())
    } else {
        Err(DemodError::OffsetOutsideInput { offset_hz, limit_hz })
    }
}

fn validate(config: &DemodConfig) -> Result<(), DemodError> {
    let rate = config.input_rate_hz;
    if !(MIN_INPUT_RATE_HZ..=MAX_INPUT_RATE_HZ).contains(&rate) {
        return Err(DemodError::InputRate { rate_hz: rate });
    }
    check_offset(config.offset_hz, rate)?;
    let mode = config.mode;
    let channel_rate = mode.channel_rate_hz();
    if mode == Mode::Cw && !(config.cw_bfo_hz.is_finite() && config.cw_bfo_hz.abs() < channel_rate / 2.0) {
        return Err(DemodError::Parameter {
            name: "cw_bfo_hz",
            value: config.cw_bfo_hz,
            expected: "a frequency within the audio band",
        });
    }
    let bfo_hz = if mode == Mode::Cw { config.cw_bfo_hz } else { 0.0 };
    let Passband { low_hz, high_hz } = config.passband;
    let limit_hz = MAX_EDGE_FRACTION * channel_rate;
    // Written so that NaN edges fail too.
    let fits =
        low_hz < high_hz && (low_hz + bfo_hz).abs() <= limit_hz && (high_hz + bfo_hz).abs() <= limit_hz;
    if !fits {
        return Err(DemodError::Passband {
            mode,
            low_hz,
            high_hz,
            bfo_hz,
            limit_hz,
            channel_rate_hz: channel_rate,
        });
    }
    if mode.is_fm() {
        let deviation = config.fm_deviation_hz;
        if !(deviation > 0.0 && deviation <= channel_rate / 2.0) {
            return Err(DemodError::Parameter {
                name: "fm_deviation_hz",
                value: deviation,
                expected: "a positive deviation within half the channel rate",
            });
        }
        if let Some(us) = config.deemphasis_us {
            if !(us > 0.0 && us <= 10_000.0) {
                return Err(DemodError::Parameter {
                    name: "deemphasis_us",
                    value: us,
                    expected: "0 < us <= 10000 (50 or 75 for WFM)",
                });
            }
        }
    }
    if let Some(level) = config.squelch_dbfs {
        if !level.is_finite() {
            return Err(DemodError::Parameter {
                name: "squelch_dbfs",
                value: f64::from(level),
                expected: "a finite level in dBFS",
            });
        }
    }
    Ok(())
}
