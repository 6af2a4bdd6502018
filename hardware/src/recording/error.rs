//! Why a recording cannot be read or written.

use std::path::PathBuf;

/// Why a recording cannot be read or written. Every message names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// A file could not be opened, read, created or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The recording's metadata file does not exist.
    #[error("{}: missing (the SigMF metadata of the recording; for a raw IQ file give the sample rate and format)", .0.display())]
    MissingMeta(PathBuf),
    /// The recording's data file does not exist.
    #[error("{}: missing (the SigMF dataset of the recording)", .0.display())]
    MissingData(PathBuf),
    /// The metadata file is not valid JSON.
    #[error("{}: not valid JSON: {source}", .path.display())]
    InvalidJson {
        /// The metadata file.
        path: PathBuf,
        /// Where and why parsing stopped.
        #[source]
        source: serde_json::Error,
    },
    /// The metadata is JSON but not usable SigMF: a required key is missing or mistyped.
    #[error("{}: {message}", .path.display())]
    InvalidMeta {
        /// The metadata file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The dataset's sample format is one sdrhub cannot read.
    #[error("{}: unsupported core:datatype {datatype:?}: {reason} (supported: {})", .path.display(), super::datatype::SUPPORTED.join(", "))]
    UnsupportedDatatype {
        /// The metadata file.
        path: PathBuf,
        /// The datatype as written.
        datatype: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The dataset's length is not a whole number of samples (a recording cut short).
    #[error(
        "{}: truncated: {bytes} bytes of samples is not a whole number of {sample_bytes}-byte samples ({} stray bytes at the end)",
        .path.display(),
        .bytes % *.sample_bytes as u64
    )]
    Truncated {
        /// The data file.
        path: PathBuf,
        /// Bytes of sample data (header and trailing bytes excluded).
        bytes: u64,
        /// Bytes per complex sample of the format.
        sample_bytes: usize,
    },
    /// The dataset holds no samples.
    #[error("{}: holds no samples", .0.display())]
    Empty(PathBuf),
    /// A setting of the reader or writer cannot work (zero sample rate, zero block size...).
    #[error("{0}")]
    Invalid(String),
}

impl RecordingError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RecordingError::Io {
            path: path.into(),
            source,
        }
    }
}
