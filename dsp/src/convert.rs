//! Conversion of the native sample formats of real devices and recordings to `Complex32`.
//!
//! Scaling: integer formats map their full scale to +-1.0 (CS16: `x / 32768`, CS8: `x / 128`,
//! CU8: `(x - 127.5) / 127.5`, the RTL-SDR convention with no DC offset); CF32 is copied.
//!
//! # Speed and exactness
//! Every kernel is one `chunks_exact` loop over whole samples with a fixed-size decode, so the
//! compiler unrolls and vectorises it (widening integer loads, integer-to-float conversion and a
//! multiply per lane). Division by a power of two is exact in binary floating point, so the CS8
//! and CS16 kernels multiply by `1 / 128` and `1 / 32768` and still give the same bits as the
//! textbook division; CU8 divides by 127.5 as written, because its reciprocal is not exact. The
//! tests hold every kernel bit-exact against a scalar reference for every byte value.
//!
//! On x86-64 the kernels are compiled twice, for the SSE2 baseline and for AVX2, and the AVX2
//! copy is chosen at run time when the CPU has it (rustfft does the same for its FFTs): the
//! same safe source, twice the lanes, and `vpmovsx` sign extension for the integer formats.
//!
//! [`convert_windowed`] fuses the conversion with the window multiply of
//! [`crate::spectrum::Welch::push_bytes`], so the raw bytes are read once and the converted
//! samples never take a trip through memory. It gives the same bits as [`convert`] followed by
//! the multiply.

use num_complex::Complex32;
use std::fmt;
use std::str::FromStr;

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
    /// 32-bit float big-endian I, Q (SigMF `cf32_be`).
    Cf32Be,
}

/// A sample-format name that [`SampleFormat::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sample format {0:?}: expected one of cu8, cs8, cs16le, cs16be, cf32le, cf32be")]
pub struct UnknownFormat(pub String);

/// Full scale of 16-bit samples: `x / 32768` maps `i16::MIN` to exactly -1.
const CS16_SCALE: f32 = 1.0 / 32768.0;
/// Full scale of signed 8-bit samples.
const CS8_SCALE: f32 = 1.0 / 128.0;
/// Mid-scale and half-range of unsigned 8-bit samples (the RTL-SDR convention).
const CU8_OFFSET: f32 = 127.5;

impl SampleFormat {
    /// Every format.
    pub const ALL: [SampleFormat; 6] = [
        SampleFormat::Cu8,
        SampleFormat::Cs8,
        SampleFormat::Cs16Le,
        SampleFormat::Cs16Be,
        SampleFormat::Cf32Le,
        SampleFormat::Cf32Be,
    ];

    /// Bytes per complex sample.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            SampleFormat::Cu8 | SampleFormat::Cs8 => 2,
            SampleFormat::Cs16Le | SampleFormat::Cs16Be => 4,
            SampleFormat::Cf32Le | SampleFormat::Cf32Be => 8,
        }
    }

    /// Short name: "cu8", "cs8", "cs16le", "cs16be", "cf32le" or "cf32be".
    pub fn as_str(self) -> &'static str {
        match self {
            SampleFormat::Cu8 => "cu8",
            SampleFormat::Cs8 => "cs8",
            SampleFormat::Cs16Le => "cs16le",
            SampleFormat::Cs16Be => "cs16be",
            SampleFormat::Cf32Le => "cf32le",
            SampleFormat::Cf32Be => "cf32be",
        }
    }
}

impl fmt::Display for SampleFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SampleFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SampleFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// Converts whole samples of `bytes` into `out` (cleared first; it only allocates when it must
/// grow). Trailing bytes that do not make a whole sample are ignored; returns how many bytes
/// were consumed.
pub fn convert(format: SampleFormat, bytes: &[u8], out: &mut Vec<Complex32>) -> usize {
    let size = format.bytes_per_sample();
    let count = bytes.len() / size;
    out.clear();
    out.resize(count, Complex32::default());
    convert_into(format, &bytes[..count * size], out);
    count * size
}

/// Converts exactly `out.len()` samples from `bytes`. Allocates nothing.
///
/// # Panics
/// If `bytes` is not `out.len()` samples long.
pub fn convert_into(format: SampleFormat, bytes: &[u8], out: &mut [Complex32]) {
    assert_eq!(
        bytes.len(),
        out.len() * format.bytes_per_sample(),
        "byte count does not match the output length"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; the function is otherwise the
        // same safe code as the fallback.
        unsafe { convert_into_avx2(format, bytes, out) };
        return;
    }
    convert_into_generic(format, bytes, out);
}

/// [`convert_into`] compiled for AVX2 (see [`convert_windowed_avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn convert_into_avx2(format: SampleFormat, bytes: &[u8], out: &mut [Complex32]) {
    convert_into_generic(format, bytes, out);
}

#[inline(always)]
fn convert_into_generic(format: SampleFormat, bytes: &[u8], out: &mut [Complex32]) {
    match format {
        SampleFormat::Cu8 => kernel(bytes, out, cu8),
        SampleFormat::Cs8 => kernel(bytes, out, cs8),
        SampleFormat::Cs16Le => kernel(bytes, out, cs16le),
        SampleFormat::Cs16Be => kernel(bytes, out, cs16be),
        SampleFormat::Cf32Le => kernel(bytes, out, cf32le),
        SampleFormat::Cf32Be => kernel(bytes, out, cf32be),
    }
}

/// Converts exactly `out.len()` samples from `bytes` and multiplies sample `i` by the window
/// coefficient `window[i]`, given as a pair `[w, w]` (the same coefficient for I and Q, stored
/// twice so that the multiply lines up with the interleaved output and needs no shuffles): the
/// same bits as [`convert_into`] followed by the multiply, in one pass. Allocates nothing.
///
/// # Panics
/// If `bytes` is not `out.len()` samples long or `window` is not `out.len()` long.
pub fn convert_windowed(format: SampleFormat, bytes: &[u8], window: &[[f32; 2]], out: &mut [Complex32]) {
    assert_eq!(
        bytes.len(),
        out.len() * format.bytes_per_sample(),
        "byte count does not match the output length"
    );
    assert_eq!(window.len(), out.len(), "window length does not match the output");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; the function is otherwise the
        // same safe code as the fallback.
        unsafe { convert_windowed_avx2(format, bytes, window, out) };
        return;
    }
    convert_windowed_generic(format, bytes, window, out);
}

/// [`convert_windowed`] compiled for AVX2: the same source, widened to 8 lanes and with
/// `vpmovsx` sign extension, which the x86-64 baseline (SSE2) lacks. Measured at N = 4096 it
/// halves the conversion's share of the pipeline.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn convert_windowed_avx2(
    format: SampleFormat,
    bytes: &[u8],
    window: &[[f32; 2]],
    out: &mut [Complex32],
) {
    convert_windowed_generic(format, bytes, window, out);
}

#[inline(always)]
fn convert_windowed_generic(format: SampleFormat, bytes: &[u8], window: &[[f32; 2]], out: &mut [Complex32]) {
    match format {
        SampleFormat::Cu8 => windowed_kernel(bytes, window, out, cu8),
        SampleFormat::Cs8 => windowed_kernel(bytes, window, out, cs8),
        SampleFormat::Cs16Le => windowed_kernel(bytes, window, out, cs16le),
        SampleFormat::Cs16Be => windowed_kernel(bytes, window, out, cs16be),
        SampleFormat::Cf32Le => windowed_kernel(bytes, window, out, cf32le),
        SampleFormat::Cf32Be => windowed_kernel(bytes, window, out, cf32be),
    }
}

// The decoders take fixed-size arrays so that, inlined into the kernels, every index is known at
// compile time and the loop body is straight-line code the vectoriser can widen.

#[inline(always)]
fn cu8(s: [u8; 2]) -> (f32, f32) {
    (
        (s[0] as f32 - CU8_OFFSET) / CU8_OFFSET,
        (s[1] as f32 - CU8_OFFSET) / CU8_OFFSET,
    )
}

#[inline(always)]
fn cs8(s: [u8; 2]) -> (f32, f32) {
    (s[0] as i8 as f32 * CS8_SCALE, s[1] as i8 as f32 * CS8_SCALE)
}

#[inline(always)]
fn cs16le(s: [u8; 4]) -> (f32, f32) {
    (
        i16::from_le_bytes([s[0], s[1]]) as f32 * CS16_SCALE,
        i16::from_le_bytes([s[2], s[3]]) as f32 * CS16_SCALE,
    )
}

#[inline(always)]
fn cs16be(s: [u8; 4]) -> (f32, f32) {
    (
        i16::from_be_bytes([s[0], s[1]]) as f32 * CS16_SCALE,
        i16::from_be_bytes([s[2], s[3]]) as f32 * CS16_SCALE,
    )
}

#[inline(always)]
fn cf32le(s: [u8; 8]) -> (f32, f32) {
    (
        f32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        f32::from_le_bytes([s[4], s[5], s[6], s[7]]),
    )
}

#[inline(always)]
fn cf32be(s: [u8; 8]) -> (f32, f32) {
    (
        f32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        f32::from_be_bytes([s[4], s[5], s[6], s[7]]),
    )
}

/// Splits `bytes` into `B`-byte samples; the caller has checked the lengths.
#[inline(always)]
fn samples<const B: usize>(bytes: &[u8]) -> impl Iterator<Item = [u8; B]> + '_ {
    // chunks_exact(B) only yields B-byte slices, so the conversion to [u8; B] cannot fail;
    // the compiler sees that too and removes the check.
    bytes
        .chunks_exact(B)
        .map(|s| <[u8; B]>::try_from(s).expect("B-byte chunk"))
}

#[inline(always)]
fn kernel<const B: usize>(bytes: &[u8], out: &mut [Complex32], decode: fn([u8; B]) -> (f32, f32)) {
    for (o, s) in out.iter_mut().zip(samples::<B>(bytes)) {
        let (re, im) = decode(s);
        *o = Complex32::new(re, im);
    }
}

#[inline(always)]
fn windowed_kernel<const B: usize>(
    bytes: &[u8],
    window: &[[f32; 2]],
    out: &mut [Complex32],
    decode: fn([u8; B]) -> (f32, f32),
) {
    for ((o, s), w) in out.iter_mut().zip(samples::<B>(bytes)).zip(window) {
        let (re, im) = decode(s);
        *o = Complex32::new(re * w[0], im * w[1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// The textbook conversion, one sample at a time, written independently of the kernels.
    fn reference(format: SampleFormat, s: &[u8]) -> Complex32 {
        let f32_at = |i: usize, big: bool| {
            let b = [s[i], s[i + 1], s[i + 2], s[i + 3]];
            if big {
                f32::from_bits(u32::from_be_bytes(b))
            } else {
                f32::from_bits(u32::from_le_bytes(b))
            }
        };
        match format {
            SampleFormat::Cu8 => Complex32::new((s[0] as f32 - 127.5) / 127.5, (s[1] as f32 - 127.5) / 127.5),
            SampleFormat::Cs8 => Complex32::new(s[0] as i8 as f32 / 128.0, s[1] as i8 as f32 / 128.0),
            SampleFormat::Cs16Le => Complex32::new(
                ((s[1] as i16) << 8 | s[0] as i16) as f32 / 32768.0,
                ((s[3] as i16) << 8 | s[2] as i16) as f32 / 32768.0,
            ),
            SampleFormat::Cs16Be => Complex32::new(
                ((s[0] as i16) << 8 | s[1] as i16) as f32 / 32768.0,
                ((s[2] as i16) << 8 | s[3] as i16) as f32 / 32768.0,
            ),
            SampleFormat::Cf32Le => Complex32::new(f32_at(0, false), f32_at(4, false)),
            SampleFormat::Cf32Be => Complex32::new(f32_at(0, true), f32_at(4, true)),
        }
    }

    /// Bit patterns, so that NaN payloads and signed zeros count too.
    fn bits(x: &[Complex32]) -> Vec<(u32, u32)> {
        x.iter().map(|c| (c.re.to_bits(), c.im.to_bits())).collect()
    }

    /// Inputs for `format`: for the 8- and 16-bit formats, every value in both I and Q (every
    /// byte pair, and every 16-bit word with a random partner); for the float formats, 64 Ki
    /// random bit patterns (NaNs, infinities and subnormals included) plus the special values.
    /// An odd number of samples plus trailing bytes, so the kernels' tails are exercised.
    fn inputs(format: SampleFormat, rng: &mut SmallRng) -> Vec<u8> {
        let mut bytes = Vec::new();
        match format {
            SampleFormat::Cu8 | SampleFormat::Cs8 => {
                for i in 0..=255u8 {
                    for q in 0..=255u8 {
                        bytes.extend([i, q]);
                    }
                }
            }
            SampleFormat::Cs16Le | SampleFormat::Cs16Be => {
                for v in 0..=u16::MAX {
                    let other: u16 = rng.random();
                    bytes.extend(v.to_le_bytes());
                    bytes.extend(other.to_le_bytes());
                    bytes.extend(other.to_le_bytes());
                    bytes.extend(v.to_le_bytes());
                }
            }
            SampleFormat::Cf32Le | SampleFormat::Cf32Be => {
                for _ in 0..65_536 {
                    bytes.extend(rng.random::<u32>().to_le_bytes());
                }
                for v in [
                    0.0f32,
                    -0.0,
                    1.0,
                    -1.0,
                    f32::MAX,
                    f32::MIN_POSITIVE,
                    1e-45,
                    f32::INFINITY,
                    f32::NAN,
                ] {
                    bytes.extend(v.to_le_bytes());
                    bytes.extend(v.to_be_bytes());
                }
            }
        }
        bytes.extend(&bytes[..format.bytes_per_sample()].to_vec());
        bytes.push(0x5a);
        bytes
    }

    /// Every kernel is bit-exact against the scalar reference for every input of `inputs`, and
    /// consumes only whole samples.
    #[test]
    fn kernels_are_bit_exact_against_scalar_reference() {
        let mut rng = SmallRng::seed_from_u64(31);
        let mut out = Vec::new();
        for format in SampleFormat::ALL {
            let bytes = inputs(format, &mut rng);
            let size = format.bytes_per_sample();
            let consumed = convert(format, &bytes, &mut out);
            assert_eq!(consumed, bytes.len() - 1, "{format}");
            let want: Vec<Complex32> = bytes[..consumed]
                .chunks_exact(size)
                .map(|s| reference(format, s))
                .collect();
            assert_eq!(bits(&out), bits(&want), "{format}");
        }
    }

    /// The fused window kernel gives exactly the bits of conversion followed by the multiply.
    #[test]
    fn windowed_conversion_is_bit_exact() {
        let mut rng = SmallRng::seed_from_u64(32);
        for format in SampleFormat::ALL {
            let bytes = inputs(format, &mut rng);
            let size = format.bytes_per_sample();
            let count = bytes.len() / size;
            let window: Vec<[f32; 2]> = (0..count).map(|_| [rng.random::<f32>() * 1e-3; 2]).collect();
            let mut fused = vec![Complex32::default(); count];
            convert_windowed(format, &bytes[..count * size], &window, &mut fused);
            let want: Vec<Complex32> = bytes
                .chunks_exact(size)
                .zip(&window)
                .map(|(s, w)| reference(format, s) * w[0])
                .collect();
            assert_eq!(bits(&fused), bits(&want), "{format}");
        }
    }

    #[test]
    fn names_round_trip() {
        for format in SampleFormat::ALL {
            assert_eq!(format.as_str().parse::<SampleFormat>(), Ok(format));
        }
        assert!("cs12".parse::<SampleFormat>().is_err());
    }
}
