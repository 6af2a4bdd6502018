//! SigMF `core:datatype` names, and the encoding of samples for writing.

use num_complex::Complex32;
use sdrhub_dsp::convert::SampleFormat;

/// The SigMF datatypes sdrhub reads and writes (complex, one channel).
pub const SUPPORTED: [&str; 6] = ["cf32_le", "cf32_be", "ci16_le", "ci16_be", "ci8", "cu8"];

/// The SigMF name of `format` (`cf32_le`, `cf32_be`, `ci16_le`, `ci16_be`, `ci8`, `cu8`).
pub fn datatype_name(format: SampleFormat) -> &'static str {
    match format {
        SampleFormat::Cf32Le => "cf32_le",
        SampleFormat::Cf32Be => "cf32_be",
        SampleFormat::Cs16Le => "ci16_le",
        SampleFormat::Cs16Be => "ci16_be",
        SampleFormat::Cs8 => "ci8",
        SampleFormat::Cu8 => "cu8",
    }
}

/// The sample format of a SigMF datatype, or why it is refused.
///
/// 8-bit types have no byte order; the `_le`/`_be` suffix the schema allows on them is accepted.
pub fn parse_datatype(name: &str) -> Result<SampleFormat, &'static str> {
    Ok(match name {
        "cf32_le" => SampleFormat::Cf32Le,
        "cf32_be" => SampleFormat::Cf32Be,
        "ci16_le" => SampleFormat::Cs16Le,
        "ci16_be" => SampleFormat::Cs16Be,
        "ci8" | "ci8_le" | "ci8_be" => SampleFormat::Cs8,
        "cu8" | "cu8_le" | "cu8_be" => SampleFormat::Cu8,
        _ => return Err(refusal(name)),
    })
}

/// Why `name` (not a supported type) is refused: says whether it is SigMF at all.
fn refusal(name: &str) -> &'static str {
    let body = name
        .strip_suffix("_le")
        .or_else(|| name.strip_suffix("_be"))
        .unwrap_or(name);
    let known = ["f32", "f64", "i32", "i16", "u32", "u16", "i8", "u8"];
    match body.split_at_checked(1) {
        Some(("r", rest)) if known.contains(&rest) => "real-valued samples cannot hold IQ",
        Some(("c", rest)) if known.contains(&rest) => "this complex sample type is not supported",
        _ => "not a SigMF datatype",
    }
}

/// Appends `samples` encoded as `format` to `out`: the inverse of
/// [`sdrhub_dsp::convert::convert`]'s scaling, rounded to nearest and clipped to the format's
/// range (integer formats cannot hold more than full scale).
pub fn encode(format: SampleFormat, samples: &[Complex32], out: &mut Vec<u8>) {
    out.reserve(samples.len() * format.bytes_per_sample());
    let i16_of = |x: f32| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
    let i8_of = |x: f32| (x * 128.0).round().clamp(-128.0, 127.0) as i8;
    let u8_of = |x: f32| (x * 127.5 + 127.5).round().clamp(0.0, 255.0) as u8;
    for s in samples {
        match format {
            SampleFormat::Cf32Le => {
                out.extend_from_slice(&s.re.to_le_bytes());
                out.extend_from_slice(&s.im.to_le_bytes());
            }
            SampleFormat::Cf32Be => {
                out.extend_from_slice(&s.re.to_be_bytes());
                out.extend_from_slice(&s.im.to_be_bytes());
            }
            SampleFormat::Cs16Le => {
                out.extend_from_slice(&i16_of(s.re).to_le_bytes());
                out.extend_from_slice(&i16_of(s.im).to_le_bytes());
            }
            SampleFormat::Cs16Be => {
                out.extend_from_slice(&i16_of(s.re).to_be_bytes());
                out.extend_from_slice(&i16_of(s.im).to_be_bytes());
            }
            SampleFormat::Cs8 => out.extend_from_slice(&[i8_of(s.re) as u8, i8_of(s.im) as u8]),
            SampleFormat::Cu8 => out.extend_from_slice(&[u8_of(s.re), u8_of(s.im)]),
        }
    }
}
