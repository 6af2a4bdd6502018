//! Opening a recording (SigMF or raw) and streaming its samples in chunks.

use super::error::RecordingError;
use super::meta::RecordingMeta;
use num_complex::Complex32;
use sdrhub_dsp::convert::{convert, SampleFormat};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Extension of a SigMF metadata file.
pub const META_EXTENSION: &str = ".sigmf-meta";
/// Extension of a SigMF dataset file.
pub const DATA_EXTENSION: &str = ".sigmf-data";

/// What to do with a dataset whose length is not a whole number of samples (a recorder that
/// was killed mid-write leaves one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncation {
    /// Refuse the recording with [`RecordingError::Truncated`] (the default: a truncated file
    /// may also be a file of another format).
    #[default]
    Refuse,
    /// Read the whole samples and ignore the stray bytes at the end.
    IgnorePartialSample,
}

/// The base path of a SigMF recording given as its base name, its metadata file or its dataset
/// file (`rec`, `rec.sigmf-meta` and `rec.sigmf-data` all give `rec`).
pub fn sigmf_base(path: &Path) -> PathBuf {
    let text = path.as_os_str().to_string_lossy();
    for extension in [META_EXTENSION, DATA_EXTENSION] {
        if let Some(base) = text.strip_suffix(extension) {
            return PathBuf::from(base);
        }
    }
    path.to_path_buf()
}

/// `base` with `extension` appended (not replacing anything after a dot in the base name).
pub fn with_extension(base: &Path, extension: &str) -> PathBuf {
    let mut text = base.as_os_str().to_os_string();
    text.push(extension);
    PathBuf::from(text)
}

/// Whether `path` names a SigMF recording: it has a SigMF extension, or `path.sigmf-meta` or
/// `path.sigmf-data` exists.
pub fn looks_like_sigmf(path: &Path) -> bool {
    let base = sigmf_base(path);
    base.as_path() != path
        || with_extension(&base, META_EXTENSION).exists()
        || with_extension(&base, DATA_EXTENSION).exists()
}

/// An opened recording: its metadata and where its samples are. Nothing is read until
/// [`Recording::reader`].
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    meta: RecordingMeta,
    meta_path: Option<PathBuf>,
    data_path: PathBuf,
    samples: u64,
    stray_bytes: u64,
}

impl Recording {
    /// Opens a SigMF recording given as its base name, metadata file or dataset file.
    ///
    /// Errors name the file and the problem: missing metadata or dataset, invalid JSON,
    /// unsupported datatype, missing or non-positive sample rate, an empty or (unless
    /// `truncation` allows it) truncated dataset.
    pub fn open_sigmf(path: &Path, truncation: Truncation) -> Result<Self, RecordingError> {
        let base = sigmf_base(path);
        let meta_path = with_extension(&base, META_EXTENSION);
        let text = match std::fs::read_to_string(&meta_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RecordingError::MissingMeta(meta_path))
            }
            Err(e) => return Err(RecordingError::io(meta_path, e)),
        };
        let meta = RecordingMeta::parse(&text, &meta_path)?;
        let data_path = match &meta.dataset {
            // A non-conforming dataset lives beside the metadata under its own name.
            Some(name) => meta_path.parent().unwrap_or(Path::new("")).join(name),
            None => with_extension(&base, DATA_EXTENSION),
        };
        Self::with_data(meta, Some(meta_path), data_path, truncation)
    }

    /// Opens a raw file of interleaved I/Q samples of `format`, sampled at `sample_rate_hz`
    /// around `center_hz`.
    pub fn open_raw(
        path: &Path,
        format: SampleFormat,
        sample_rate_hz: f64,
        center_hz: f64,
        truncation: Truncation,
    ) -> Result<Self, RecordingError> {
        if !(sample_rate_hz.is_finite() && sample_rate_hz > 0.0) {
            return Err(RecordingError::Invalid(format!(
                "{}: the sample rate must be > 0 (got {sample_rate_hz})",
                path.display()
            )));
        }
        if !center_hz.is_finite() {
            return Err(RecordingError::Invalid(format!(
                "{}: the centre frequency must be a finite number (got {center_hz})",
                path.display()
            )));
        }
        let meta = RecordingMeta::new(format, sample_rate_hz, center_hz);
        Self::with_data(meta, None, path.to_path_buf(), truncation)
    }

    fn with_data(
        meta: RecordingMeta,
        meta_path: Option<PathBuf>,
        data_path: PathBuf,
        truncation: Truncation,
    ) -> Result<Self, RecordingError> {
        let length = match std::fs::metadata(&data_path) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => {
                return Err(RecordingError::Invalid(format!(
                    "{}: not a regular file",
                    data_path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(if meta_path.is_some() {
                    RecordingError::MissingData(data_path)
                } else {
                    RecordingError::io(data_path, e)
                })
            }
            Err(e) => return Err(RecordingError::io(data_path, e)),
        };
        let framing = meta.header_bytes.saturating_add(meta.trailing_bytes);
        if framing > length {
            return Err(RecordingError::Invalid(format!(
                "{}: {length} bytes cannot hold the {} header and {} trailing bytes the metadata declares",
                data_path.display(),
                meta.header_bytes,
                meta.trailing_bytes
            )));
        }
        let bytes = length - framing;
        let size = meta.format.bytes_per_sample() as u64;
        let (samples, stray_bytes) = (bytes / size, bytes % size);
        if stray_bytes != 0 && truncation == Truncation::Refuse {
            return Err(RecordingError::Truncated {
                path: data_path,
                bytes,
                sample_bytes: size as usize,
            });
        }
        if samples == 0 {
            return Err(RecordingError::Empty(data_path));
        }
        Ok(Self {
            meta,
            meta_path,
            data_path,
            samples,
            stray_bytes,
        })
    }

    /// The metadata (synthesized for a raw file).
    pub fn meta(&self) -> &RecordingMeta {
        &self.meta
    }

    /// The metadata file (`None` for a raw file).
    pub fn meta_path(&self) -> Option<&Path> {
        self.meta_path.as_deref()
    }

    /// The file holding the samples.
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// Whole samples in the dataset.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Bytes after the last whole sample that were ignored (0 unless the file is truncated and
    /// [`Truncation::IgnorePartialSample`] was chosen).
    pub fn stray_bytes(&self) -> u64 {
        self.stray_bytes
    }

    /// Duration of the recording, s.
    pub fn duration_s(&self) -> f64 {
        self.samples as f64 / self.meta.sample_rate_hz
    }

    /// A reader positioned at the first sample.
    pub fn reader(&self) -> Result<RecordingReader, RecordingError> {
        let mut file = File::open(&self.data_path).map_err(|e| RecordingError::io(&self.data_path, e))?;
        file.seek(SeekFrom::Start(self.meta.header_bytes))
            .map_err(|e| RecordingError::io(&self.data_path, e))?;
        Ok(RecordingReader {
            file,
            path: self.data_path.clone(),
            format: self.meta.format,
            header_bytes: self.meta.header_bytes,
            samples: self.samples,
            position: 0,
            bytes: Vec::new(),
        })
    }
}

/// Streams a recording's samples as `Complex32`, converted from the file's format, in chunks of
/// whatever size the caller asks for; only one chunk is in memory at a time.
#[derive(Debug)]
pub struct RecordingReader {
    file: File,
    path: PathBuf,
    format: SampleFormat,
    header_bytes: u64,
    samples: u64,
    position: u64,
    /// The raw bytes of the last chunk (kept to reuse the allocation).
    bytes: Vec<u8>,
}

impl RecordingReader {
    /// Index of the next sample [`Self::read`] returns.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Samples not read yet.
    pub fn remaining(&self) -> u64 {
        self.samples - self.position
    }

    /// Reads up to `max_samples` samples into `out` (cleared first); returns how many (0 at the
    /// end). Allocates only while `out` and the byte buffer grow to the largest chunk.
    pub fn read(&mut self, max_samples: usize, out: &mut Vec<Complex32>) -> Result<usize, RecordingError> {
        let count = self.remaining().min(max_samples as u64) as usize;
        let size = self.format.bytes_per_sample();
        self.bytes.resize(count * size, 0);
        self.file.read_exact(&mut self.bytes).map_err(|e| {
            let e = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                std::io::Error::new(e.kind(), "the file got shorter while it was being read")
            } else {
                e
            };
            RecordingError::io(&self.path, e)
        })?;
        convert(self.format, &self.bytes, out);
        self.position += count as u64;
        Ok(count)
    }

    /// Makes sample `sample` (clamped to the end) the next one read.
    pub fn seek(&mut self, sample: u64) -> Result<(), RecordingError> {
        let sample = sample.min(self.samples);
        let offset = self.header_bytes + sample * self.format.bytes_per_sample() as u64;
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| RecordingError::io(&self.path, e))?;
        self.position = sample;
        Ok(())
    }
}
