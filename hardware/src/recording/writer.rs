//! Writing a SigMF recording: the dataset streamed to disk, the metadata rewritten as it grows.

use super::datatype::encode;
use super::error::RecordingError;
use super::meta::RecordingMeta;
use super::reader::{sigmf_base, with_extension, DATA_EXTENSION, META_EXTENSION};
use num_complex::Complex32;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes `<base>.sigmf-data` and `<base>.sigmf-meta`.
///
/// The metadata is written when the writer is created and again by [`SigmfWriter::write_meta`]
/// and [`SigmfWriter::finish`], each time to a temporary file renamed over the old one, so the
/// pair on disk is a valid recording at every moment (an interrupted recording keeps the
/// samples written so far, without the annotations of the end).
#[derive(Debug)]
pub struct SigmfWriter {
    meta_path: PathBuf,
    data_path: PathBuf,
    data: BufWriter<File>,
    meta: RecordingMeta,
    samples: u64,
    bytes: Vec<u8>,
}

impl SigmfWriter {
    /// Creates the recording at `path` (a base name; a `.sigmf-meta` or `.sigmf-data` extension
    /// is stripped) with `meta` (its `format` is the dataset's; `dataset`, `header_bytes` and
    /// `trailing_bytes` are cleared: sdrhub writes conforming datasets). Existing files are
    /// refused unless `overwrite`.
    pub fn create(path: &Path, mut meta: RecordingMeta, overwrite: bool) -> Result<Self, RecordingError> {
        if !(meta.sample_rate_hz.is_finite() && meta.sample_rate_hz > 0.0) {
            return Err(RecordingError::Invalid(format!(
                "cannot record at a sample rate of {} Hz",
                meta.sample_rate_hz
            )));
        }
        let base = sigmf_base(path);
        let meta_path = with_extension(&base, META_EXTENSION);
        let data_path = with_extension(&base, DATA_EXTENSION);
        if !overwrite {
            for existing in [&meta_path, &data_path] {
                if existing.exists() {
                    return Err(RecordingError::Invalid(format!(
                        "{}: already exists (choose another name or allow overwriting)",
                        existing.display()
                    )));
                }
            }
        }
        let mut options = OpenOptions::new();
        options.write(true);
        if overwrite {
            options.create(true).truncate(true);
        } else {
            options.create_new(true);
        }
        let file = options
            .open(&data_path)
            .map_err(|e| RecordingError::io(&data_path, e))?;
        meta.dataset = None;
        meta.header_bytes = 0;
        meta.trailing_bytes = 0;
        let mut writer = Self {
            meta_path,
            data_path,
            data: BufWriter::with_capacity(1 << 20, file),
            meta,
            samples: 0,
            bytes: Vec::new(),
        };
        writer.write_meta()?;
        Ok(writer)
    }

    /// The metadata file.
    pub fn meta_path(&self) -> &Path {
        &self.meta_path
    }

    /// The dataset file.
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// Samples written so far (the index the next sample will have).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The metadata, to add captures and annotations (written by the next
    /// [`Self::write_meta`] or [`Self::finish`]).
    pub fn meta_mut(&mut self) -> &mut RecordingMeta {
        &mut self.meta
    }

    /// Appends samples to the dataset, encoded in the recording's format.
    pub fn write(&mut self, samples: &[Complex32]) -> Result<(), RecordingError> {
        self.bytes.clear();
        encode(self.meta.format, samples, &mut self.bytes);
        self.data
            .write_all(&self.bytes)
            .map_err(|e| RecordingError::io(&self.data_path, e))?;
        self.samples += samples.len() as u64;
        Ok(())
    }

    /// Writes the metadata as it is now (atomically: a temporary file renamed into place).
    pub fn write_meta(&mut self) -> Result<(), RecordingError> {
        let mut text = serde_json::to_string_pretty(&self.meta.to_json())
            // Invariant: a `serde_json::Value` always serializes.
            .expect("JSON values serialize");
        text.push('\n');
        let temporary = with_extension(&self.meta_path, ".tmp");
        std::fs::write(&temporary, text).map_err(|e| RecordingError::io(&temporary, e))?;
        std::fs::rename(&temporary, &self.meta_path).map_err(|e| RecordingError::io(&self.meta_path, e))
    }

    /// Flushes the dataset to disk and writes the final metadata; returns the metadata.
    pub fn finish(mut self) -> Result<RecordingMeta, RecordingError> {
        self.data
            .flush()
            .map_err(|e| RecordingError::io(&self.data_path, e))?;
        self.data
            .get_ref()
            .sync_all()
            .map_err(|e| RecordingError::io(&self.data_path, e))?;
        self.write_meta()?;
        Ok(self.meta)
    }
}
