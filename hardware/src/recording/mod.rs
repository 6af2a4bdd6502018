//! Recordings: SigMF metadata and datasets, raw IQ files, and their replay as a source.
//!
//! - [`Recording`] opens a SigMF recording (`rec.sigmf-meta` + `rec.sigmf-data`, given as `rec`
//!   or either file) or a raw file of interleaved samples, checks it (datatype, sample rate,
//!   whole number of samples, not empty) and gives a [`RecordingReader`] that streams the
//!   samples in chunks, converted to `Complex32` by `sdrhub_dsp::convert`.
//! - [`SigmfWriter`] writes a recording: the dataset streamed to disk, the metadata (with
//!   captures and annotations) kept valid at every moment.
//! - [`RecordingBuilder`] replays a recording as an [`crate::IqSource`] of kind
//!   [`crate::SourceKind::File`], paced in real time or as fast as it reads.
//!
//! - [`KiwiWav`] / [`KiwiWavWriter`]: the `kiwirecorder --kiwi-wav` format (IQ frames with their
//!   GPS stamps, timed by the robust fit of [`crate::kiwi::timing`]), and [`KiwiWavBuilder`] to
//!   replay one as a source; [`KiwiRecorderName`]: what a `kiwirecorder` file name says
//!   (station, RF frequency, start date).
//!
//! Datatypes: `cf32_le`, `cf32_be`, `ci16_le`, `ci16_be`, `ci8` and `cu8` (complex, one
//! channel).
//!
//! ```
//! use sdrhub_dsp::convert::SampleFormat;
//! use sdrhub_hardware::recording::{Recording, RecordingMeta, SigmfWriter, Truncation};
//! use sdrhub_dsp::Complex32;
//!
//! let base = std::env::temp_dir().join(format!("sdrhub-doc-{}", std::process::id()));
//! let meta = RecordingMeta::new(SampleFormat::Cs16Le, 48_000.0, 145e6);
//! let mut writer = SigmfWriter::create(&base, meta, true)?;
//! writer.write(&[Complex32::new(0.5, -0.25); 1000])?;
//! writer.finish()?;
//!
//! let recording = Recording::open_sigmf(&base, Truncation::Refuse)?;
//! assert_eq!((recording.samples(), recording.meta().center_hz()), (1000, 145e6));
//! let mut samples = Vec::new();
//! recording.reader()?.read(4096, &mut samples)?;
//! assert_eq!(samples[0], Complex32::new(0.5, -0.25));
//! # std::fs::remove_file(base.with_extension("sigmf-meta")).ok();
//! # std::fs::remove_file(base.with_extension("sigmf-data")).ok();
//! # Ok::<(), sdrhub_hardware::recording::RecordingError>(())
//! ```

mod datatype;
mod error;
mod kiwi_name;
mod kiwi_wav;
mod meta;
mod reader;
mod source;
#[cfg(test)]
mod tests;
mod writer;

pub use datatype::{datatype_name, encode, parse_datatype, SUPPORTED as SUPPORTED_DATATYPES};
pub use error::RecordingError;
pub use kiwi_name::KiwiRecorderName;
pub use kiwi_wav::{
    FileTiming, FrameIndex, GpsStamp, KiwiWav, KiwiWavBuilder, KiwiWavInfo, KiwiWavReader, KiwiWavSource,
    KiwiWavWriter,
};
pub use meta::{format_datetime, parse_datetime_ns, Annotation, Capture, RecordingMeta, SIGMF_VERSION};
pub use reader::{
    looks_like_sigmf, sigmf_base, with_extension, Recording, RecordingReader, Truncation, DATA_EXTENSION,
    META_EXTENSION,
};
pub use source::{RecordingBuilder, RecordingSource, ReplayClock, DEFAULT_BLOCK_SAMPLES, MAX_BLOCK_SAMPLES};
pub use writer::SigmfWriter;
