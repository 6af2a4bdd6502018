//! The file name `kiwirecorder.py` gives its recordings, `YYYYMMDDTHHMMSSZ_<frequency Hz>_
//! <station>_<mode>.wav` (e.g. `20200813T065220Z_77500_JO51xl_iq.wav`), which is how users and
//! the public TDoA tools refer to a station.
//!
//! A `kiwirecorder --kiwi-wav` file holds nothing else about where and when it was made: the
//! name gives the station, the RF frequency the receiver was tuned to (the IQ centre), and the
//! UTC date and time the recording started, which resolves the GPS week its stamps lack.
//! Without a station (`kiwirecorder` without `--station`) the name has three parts.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Format of the time part: UTC, to the second.
const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// Highest frequency a name may give, Hz: a KiwiSDR covers 0-32 MHz; anything far beyond is
/// not a frequency but another number.
const MAX_FREQUENCY_HZ: f64 = 1e9;

/// What a `kiwirecorder` file name says.
#[derive(Debug, Clone, PartialEq)]
pub struct KiwiRecorderName {
    /// When the recording started, ns since the Unix epoch (UTC, to the second).
    pub start_ns: i64,
    /// The frequency the receiver was tuned to: the IQ centre, Hz.
    pub frequency_hz: f64,
    /// The station (`--station`), as written in the name; `None` without one.
    pub station: Option<String>,
    /// The mode (`iq`, `usb`, ...).
    pub mode: String,
}

impl KiwiRecorderName {
    /// Parses a file name (with or without its directory and `.wav`); `None` when it is not a
    /// `kiwirecorder` name.
    pub fn parse(name: &str) -> Option<Self> {
        let file = name.rsplit(['/', '\\']).next()?;
        let stem = file
            .strip_suffix(".wav")
            .or_else(|| file.strip_suffix(".WAV"))
            .unwrap_or(file);
        let mut parts = stem.split('_');
        let time = parts.next()?;
        let frequency = parts.next()?;
        let rest: Vec<&str> = parts.collect();
        let (mode, station) = rest.split_last()?;
        let start = NaiveDateTime::parse_from_str(time, TIME_FORMAT).ok()?;
        if !frequency.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return None;
        }
        let frequency_hz: f64 = frequency.parse().ok()?;
        if !(frequency_hz.is_finite() && (0.0..=MAX_FREQUENCY_HZ).contains(&frequency_hz)) {
            return None;
        }
        if mode.is_empty() || !mode.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let station = station.join("_");
        Some(Self {
            start_ns: start.and_utc().timestamp_nanos_opt()?,
            frequency_hz,
            station: (!station.is_empty()).then_some(station),
            mode: mode.to_string(),
        })
    }

    /// The name `kiwirecorder --kiwi-wav -m iq --station <station>` would give a recording
    /// started at `start_ns` at `frequency_hz`.
    pub fn format(start_ns: i64, frequency_hz: f64, station: Option<&str>) -> String {
        let time = DateTime::<Utc>::from_timestamp_nanos(start_ns).format(TIME_FORMAT);
        // The frequency is written in whole Hz, as kiwirecorder does.
        let frequency = frequency_hz.round().max(0.0) as u64;
        match station {
            Some(station) if !station.is_empty() => {
                // A path separator or space would make another file name; kiwirecorder users
                // encode '/' (portable callsigns) as '-'.
                let station: String = station
                    .chars()
                    .map(|c| {
                        if c == '/' || c == '\\' || c.is_whitespace() {
                            '-'
                        } else {
                            c
                        }
                    })
                    .collect();
                format!("{time}_{frequency}_{station}_iq.wav")
            }
            _ => format!("{time}_{frequency}_iq.wav"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_kiwirecorder_names_parse() {
        let name = KiwiRecorderName::parse("iq/20200813T065220Z_77500_JO51xl_iq.wav").unwrap();
        assert_eq!(name.station.as_deref(), Some("JO51xl"));
        assert_eq!(name.frequency_hz, 77_500.0);
        assert_eq!(name.mode, "iq");
        // 2020-08-13T06:52:20Z
        assert_eq!(name.start_ns, 1_597_301_540_000_000_000);
        let portable = KiwiRecorderName::parse("20180707T211018Z_77500_F1JEK-P_iq.wav").unwrap();
        assert_eq!(portable.station.as_deref(), Some("F1JEK-P"));
        let underscored = KiwiRecorderName::parse("20171127T104156Z_10000000_my_kiwi_iq.wav").unwrap();
        assert_eq!(underscored.station.as_deref(), Some("my_kiwi"));
        let anonymous = KiwiRecorderName::parse("20171127T104156Z_77500_iq.wav").unwrap();
        assert_eq!(anonymous.station, None);
    }

    #[test]
    fn other_names_are_not_taken_for_kiwirecorder_names() {
        for name in [
            "kiwi-brest.wav",
            "capture_77500_x_iq.wav",
            "20171327T104156Z_77500_x_iq.wav",
            "20171127T104156Z_7e4_x_iq.wav",
            "20171127T104156Z_77500.wav",
            "",
        ] {
            assert_eq!(KiwiRecorderName::parse(name), None, "{name}");
        }
    }

    #[test]
    fn formatted_names_parse_back() {
        let start = 1_597_301_540_000_000_000;
        let name = KiwiRecorderName::format(start + 400_000_000, 9_998_000.4, Some("kiwi/brest 2"));
        assert_eq!(name, "20200813T065220Z_9998000_kiwi-brest-2_iq.wav");
        let parsed = KiwiRecorderName::parse(&name).unwrap();
        assert_eq!((parsed.start_ns, parsed.frequency_hz), (start, 9_998_000.0));
        assert_eq!(
            KiwiRecorderName::format(start, 77_500.0, None),
            "20200813T065220Z_77500_iq.wav"
        );
    }
}
