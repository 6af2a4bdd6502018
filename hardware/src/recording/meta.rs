//! The SigMF metadata (`.sigmf-meta`) sdrhub reads and writes.
//!
//! Reading is lenient where SigMF is (unknown keys, extensions and absent optional keys are
//! fine) and strict about what sdrhub needs to interpret the samples: `core:datatype` (one of
//! [`super::datatype::SUPPORTED`]) and a positive `core:sample_rate`. Writing produces
//! metadata that the official `sigmf` Python package's validator accepts.

use super::datatype::{datatype_name, parse_datatype};
use super::error::RecordingError;
use chrono::{DateTime, SecondsFormat, Utc};
use sdrhub_dsp::convert::SampleFormat;
use sdrhub_dsp::geo::GeoPoint;
use serde_json::{json, Map, Value};
use std::path::Path;

/// The SigMF specification version written to `core:version`: the oldest release that defines
/// every key sdrhub writes, so that readers of any 1.x version accept the files.
pub const SIGMF_VERSION: &str = "1.0.0";

/// One capture segment: where the receiver was tuned from sample `sample_start` on.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// First sample (index into the dataset) the segment applies to.
    pub sample_start: u64,
    /// Centre frequency, Hz (`core:frequency`), if recorded.
    pub frequency_hz: Option<f64>,
    /// Time of `sample_start`, ns since the Unix epoch (`core:datetime`), if recorded.
    pub time_ns: Option<i64>,
}

/// One annotation: a feature (here: a detected signal) in time and frequency.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// First sample of the feature.
    pub sample_start: u64,
    /// Samples the feature lasts.
    pub sample_count: u64,
    /// Lower edge of the feature, Hz (RF when the capture has a frequency); NaN when the
    /// annotation has no frequency edges (then neither edge is written).
    pub freq_lower_edge_hz: f64,
    /// Upper edge of the feature, Hz; NaN when the annotation has no frequency edges.
    pub freq_upper_edge_hz: f64,
    /// Short label (SigMF recommends at most 20 characters).
    pub label: Option<String>,
    /// Longer human-readable text.
    pub comment: Option<String>,
    /// Who made the annotation.
    pub generator: Option<String>,
}

/// The parts of a recording's metadata sdrhub uses.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingMeta {
    /// Sample format of the dataset.
    pub format: SampleFormat,
    /// Complex sample rate, Hz (> 0).
    pub sample_rate_hz: f64,
    /// Capture segments, by `sample_start`; never empty (SigMF implies one at sample 0).
    pub captures: Vec<Capture>,
    /// `core:description`.
    pub description: Option<String>,
    /// `core:hw`: the hardware that made the recording.
    pub hw: Option<String>,
    /// `core:recorder`: the software that made the recording.
    pub recorder: Option<String>,
    /// `core:geolocation`: where the antenna was.
    pub position: Option<GeoPoint>,
    /// Annotations, by `sample_start`.
    pub annotations: Vec<Annotation>,
    /// `core:dataset`: the data file's name when it is not `<base>.sigmf-data`.
    pub dataset: Option<String>,
    /// Bytes before the first sample in the data file (the first capture's `core:header_bytes`).
    pub header_bytes: u64,
    /// Bytes after the last sample in the data file (`core:trailing_bytes`).
    pub trailing_bytes: u64,
}

impl RecordingMeta {
    /// Metadata for samples of `format` at `sample_rate_hz` tuned to `center_hz`, with nothing
    /// else known (a raw file, or the start of a new recording).
    pub fn new(format: SampleFormat, sample_rate_hz: f64, center_hz: f64) -> Self {
        Self {
            format,
            sample_rate_hz,
            captures: vec![Capture {
                sample_start: 0,
                frequency_hz: Some(center_hz),
                time_ns: None,
            }],
            description: None,
            hw: None,
            recorder: None,
            position: None,
            annotations: Vec::new(),
            dataset: None,
            header_bytes: 0,
            trailing_bytes: 0,
        }
    }

    /// Centre frequency of the first capture, Hz (0, i.e. baseband, when not recorded).
    pub fn center_hz(&self) -> f64 {
        self.captures.first().and_then(|c| c.frequency_hz).unwrap_or(0.0)
    }

    /// Time of sample 0, ns since the Unix epoch, when the first capture records it.
    pub fn start_time_ns(&self) -> Option<i64> {
        self.captures.first().and_then(|c| c.time_ns)
    }

    /// Parses the text of a `.sigmf-meta` file; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, RecordingError> {
        let root: Value = serde_json::from_str(text).map_err(|source| RecordingError::InvalidJson {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| RecordingError::InvalidMeta {
            path: path.to_path_buf(),
            message,
        };
        let global = root
            .get("global")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("no \"global\" object (is this a SigMF metadata file?)".into()))?;
        let datatype = global
            .get("core:datatype")
            .ok_or_else(|| invalid("global core:datatype is missing".into()))?
            .as_str()
            .ok_or_else(|| invalid("global core:datatype must be a string".into()))?;
        let format = parse_datatype(datatype).map_err(|reason| RecordingError::UnsupportedDatatype {
            path: path.to_path_buf(),
            datatype: datatype.to_string(),
            reason,
        })?;
        let sample_rate_hz = match global.get("core:sample_rate") {
            None => {
                return Err(invalid(
                    "global core:sample_rate is missing (the sample rate is needed to place signals in frequency and time)".into(),
                ))
            }
            Some(value) => value
                .as_f64()
                .filter(|r| r.is_finite() && *r > 0.0)
                .ok_or_else(|| invalid(format!("global core:sample_rate = {value}: must be a number > 0")))?,
        };
        if let Some(value) = global.get("core:num_channels") {
            if value.as_u64() != Some(1) {
                return Err(invalid(format!(
                    "global core:num_channels = {value}: only single-channel recordings are supported"
                )));
            }
        }
        let text_of = |key: &str| global.get(key).and_then(Value::as_str).map(str::to_string);
        let count_of = |object: &Map<String, Value>, key: &str, scope: &str| -> Result<u64, RecordingError> {
            match object.get(key) {
                None => Ok(0),
                Some(value) => value
                    .as_u64()
                    .ok_or_else(|| invalid(format!("{scope} {key} = {value}: must be a whole number >= 0"))),
            }
        };
        let trailing_bytes = count_of(global, "core:trailing_bytes", "global")?;
        let position = global.get("core:geolocation").and_then(parse_point);

        let mut captures = Vec::new();
        let mut header_bytes = 0;
        if let Some(list) = root.get("captures") {
            let list = list
                .as_array()
                .ok_or_else(|| invalid("\"captures\" must be an array".into()))?;
            for (i, item) in list.iter().enumerate() {
                let scope = format!("captures[{i}]");
                let object = item
                    .as_object()
                    .ok_or_else(|| invalid(format!("{scope} must be an object")))?;
                let sample_start = count_of(object, "core:sample_start", &scope)?;
                let frequency_hz = match object.get("core:frequency") {
                    None => None,
                    Some(value) => Some(value.as_f64().filter(|f| f.is_finite()).ok_or_else(|| {
                        invalid(format!("{scope} core:frequency = {value}: must be a number"))
                    })?),
                };
                let time_ns = match object.get("core:datetime") {
                    None => None,
                    Some(value) => Some(value.as_str().and_then(parse_datetime_ns).ok_or_else(|| {
                        invalid(format!(
                            "{scope} core:datetime = {value}: must be an RFC 3339 time such as \"2026-01-02T03:04:05.678Z\""
                        ))
                    })?),
                };
                if i == 0 {
                    header_bytes = count_of(object, "core:header_bytes", &scope)?;
                }
                captures.push(Capture {
                    sample_start,
                    frequency_hz,
                    time_ns,
                });
            }
        }
        if captures.is_empty() {
            captures.push(Capture {
                sample_start: 0,
                frequency_hz: None,
                time_ns: None,
            });
        }

        let mut annotations = Vec::new();
        if let Some(list) = root.get("annotations").and_then(Value::as_array) {
            for item in list.iter().filter_map(Value::as_object) {
                let number = |key: &str| item.get(key).and_then(Value::as_f64);
                let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_string);
                annotations.push(Annotation {
                    sample_start: item.get("core:sample_start").and_then(Value::as_u64).unwrap_or(0),
                    sample_count: item.get("core:sample_count").and_then(Value::as_u64).unwrap_or(0),
                    freq_lower_edge_hz: number("core:freq_lower_edge").unwrap_or(f64::NAN),
                    freq_upper_edge_hz: number("core:freq_upper_edge").unwrap_or(f64::NAN),
                    label: text("core:label"),
                    comment: text("core:comment"),
                    generator: text("core:generator"),
                });
            }
        }

        Ok(Self {
            format,
            sample_rate_hz,
            captures,
            description: text_of("core:description"),
            hw: text_of("core:hw"),
            recorder: text_of("core:recorder"),
            position,
            annotations,
            dataset: text_of("core:dataset"),
            header_bytes,
            trailing_bytes,
        })
    }

    /// The metadata as SigMF JSON (`core:version` [`SIGMF_VERSION`]); captures and annotations
    /// are written sorted by `sample_start`, as SigMF requires.
    pub fn to_json(&self) -> Value {
        let mut global = Map::new();
        global.insert("core:datatype".into(), json!(datatype_name(self.format)));
        global.insert("core:sample_rate".into(), json!(self.sample_rate_hz));
        global.insert("core:version".into(), json!(SIGMF_VERSION));
        for (key, value) in [
            ("core:description", &self.description),
            ("core:hw", &self.hw),
            ("core:recorder", &self.recorder),
            ("core:dataset", &self.dataset),
        ] {
            if let Some(value) = value {
                global.insert(key.into(), json!(value));
            }
        }
        if self.trailing_bytes > 0 {
            global.insert("core:trailing_bytes".into(), json!(self.trailing_bytes));
        }
        if let Some(p) = self.position {
            // GeoJSON order: longitude, latitude.
            global.insert(
                "core:geolocation".into(),
                json!({"type": "Point", "coordinates": [p.lon_deg, p.lat_deg]}),
            );
        }
        let mut captures: Vec<&Capture> = self.captures.iter().collect();
        captures.sort_by_key(|c| c.sample_start);
        let captures: Vec<Value> = captures
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut object = Map::new();
                object.insert("core:sample_start".into(), json!(c.sample_start));
                if let Some(f) = c.frequency_hz {
                    object.insert("core:frequency".into(), json!(f));
                }
                if let Some(t) = c.time_ns {
                    object.insert("core:datetime".into(), json!(format_datetime(t)));
                }
                if i == 0 && self.header_bytes > 0 {
                    object.insert("core:header_bytes".into(), json!(self.header_bytes));
                }
                Value::Object(object)
            })
            .collect();
        let mut annotations: Vec<&Annotation> = self.annotations.iter().collect();
        annotations.sort_by_key(|a| a.sample_start);
        let annotations: Vec<Value> = annotations
            .iter()
            .map(|a| {
                let mut object = Map::new();
                object.insert("core:sample_start".into(), json!(a.sample_start));
                object.insert("core:sample_count".into(), json!(a.sample_count));
                if a.freq_lower_edge_hz.is_finite() && a.freq_upper_edge_hz.is_finite() {
                    object.insert("core:freq_lower_edge".into(), json!(a.freq_lower_edge_hz));
                    object.insert("core:freq_upper_edge".into(), json!(a.freq_upper_edge_hz));
                }
                for (key, value) in [
                    ("core:label", &a.label),
                    ("core:comment", &a.comment),
                    ("core:generator", &a.generator),
                ] {
                    if let Some(value) = value {
                        object.insert(key.into(), json!(value));
                    }
                }
                Value::Object(object)
            })
            .collect();
        json!({"global": global, "captures": captures, "annotations": annotations})
    }
}

/// A GeoJSON point `{"type": "Point", "coordinates": [lon, lat(, alt)]}`.
fn parse_point(value: &Value) -> Option<GeoPoint> {
    let coordinates = value.get("coordinates")?.as_array()?;
    let lon = coordinates.first()?.as_f64()?;
    let lat = coordinates.get(1)?.as_f64()?;
    Some(GeoPoint::new(lat, lon))
}

/// Parses an RFC 3339 time to ns since the Unix epoch (`None` if invalid or out of range).
pub fn parse_datetime_ns(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text).ok()?.timestamp_nanos_opt()
}

/// Formats ns since the Unix epoch as SigMF wants a `core:datetime`: RFC 3339, UTC, `Z`, with
/// as many fractional digits as needed (up to ns).
pub fn format_datetime(time_ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(time_ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
