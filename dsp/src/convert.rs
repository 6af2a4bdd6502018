//! Conversion of the native sample formats of real devices and recordings to `Complex32`.
//!
//! Scaling: integer formats map their full scale to +-1.0 (CS16: `x / 32768`, CS8: `x / 128`,
//! CU8: `(x - 127.5) / 127.5`, the RTL-SDR convention with no DC offset); CF32 is copied.

use num_complex::Complex32;

/// An interleaved I/Q sample format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleFormat {
    /// Unsigned 8-bit I, Q (RTL-SDR, SigMF `cu8`).
    Cu8,
    /// Signed 8-bit I, Q (HackRF, SigMF `ci8`).
    Cs8,
    /// Signed 16-bit little-endian I, Q (most SDRs, SigMF `ci16_le`).
    Cs16Le,
    /// Signed 16-bit big-endian I, Q (SigMF `ci16_be`).
    Cs16Be,
    /// 32-bit float little-endian I, Q (SigMF `cf32_le`).
    Cf32Le,
}

impl SampleFormat {
    /// Bytes per complex sample.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            SampleFormat::Cu8 | SampleFormat::Cs8 => 2,
            SampleFormat::Cs16Le | SampleFormat::Cs16Be => 4,
            SampleFormat::Cf32Le => 8,
        }
    }
}

/// Converts whole samples of `bytes` into `out` (cleared first; it only allocates when it must
/// grow). Trailing bytes that do not make a whole sample are ignored; returns how many bytes
/// were consumed.
pub fn convert(format: SampleFormat, bytes: &[u8], out: &mut Vec<Complex32>) -> usize {
    let size = format.bytes_per_sample();
    out.clear();
    out.extend(bytes.chunks_exact(size).map(|s| match format {
        SampleFormat::Cu8 => Complex32::new((s[0] as f32 - 127.5) / 127.5, (s[1] as f32 - 127.5) / 127.5),
        SampleFormat::Cs8 => Complex32::new(s[0] as i8 as f32 / 128.0, s[1] as i8 as f32 / 128.0),
        SampleFormat::Cs16Le => Complex32::new(
            i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0,
            i16::from_le_bytes([s[2], s[3]]) as f32 / 32768.0,
        ),
        SampleFormat::Cs16Be => Complex32::new(
            i16::from_be_bytes([s[0], s[1]]) as f32 / 32768.0,
            i16::from_be_bytes([s[2], s[3]]) as f32 / 32768.0,
        ),
        SampleFormat::Cf32Le => Complex32::new(
            f32::from_le_bytes([s[0], s[1], s[2], s[3]]),
            f32::from_le_bytes([s[4], s[5], s[6], s[7]]),
        ),
    }));
    bytes.len() / size * size
}
