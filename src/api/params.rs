//! Query parameters of the history endpoints, read by hand rather than by a typed extractor so
//! that every problem is a 400 naming the parameter (actix's `Query` answers in plain text and
//! names the first problem only by its position).
//!
//! - An empty value (`from=`) is the same as no parameter: a search form sends its empty fields.
//! - A parameter the endpoint does not take, or one given twice, is refused: a misspelt filter
//!   (`freqmin=`) would otherwise silently return everything. `token` (see `crate::auth`) is
//!   taken everywhere.
//! - Times are RFC 3339 (`2026-11-22T10:00:00Z`, the events' format) or Unix seconds
//!   (`1795341600`, `1795341600.5`).

use super::error::ApiError;
use crate::events::{quoted, Timestamp, QUOTED_CHARS};

/// The answer formats of the history endpoints (`format=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `json`, the default.
    Json,
    /// `csv`: a header row, then one row per record.
    Csv,
    /// `geojson`: a FeatureCollection (localizations only).
    GeoJson,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::GeoJson => "geojson",
        }
    }
}

/// A request's query parameters.
#[derive(Debug)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// Parameters every endpoint takes (the access token).
const ALWAYS_TAKEN: [&str; 1] = ["token"];

impl Params {
    /// The parameters of `query`, refusing any not in `taken` and any given twice.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] naming the parameter.
    pub fn parse(query: &str, taken: &[&str]) -> Result<Params, ApiError> {
        let pairs = actix_web::web::Query::<Vec<(String, String)>>::from_query(query)
            .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))?
            .into_inner();
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !taken.contains(&name.as_str()) && !ALWAYS_TAKEN.contains(&name.as_str()) {
                // The message starts with the name as given; a long one is quoted in part.
                let shown = if name.chars().count() > QUOTED_CHARS {
                    quoted(name)
                } else {
                    name.clone()
                };
                return Err(ApiError::BadRequest(format!(
                    "{shown}: unknown parameter (this endpoint takes {})",
                    taken.join(", ")
                )));
            }
            if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::BadRequest(format!("{name}: given more than once")));
            }
        }
        Ok(Params { pairs })
    }

    /// The value of `name`; `None` when absent or empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A time (see the module documentation).
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] naming the parameter when it is not a time.
    pub fn time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        self.text(name)
            .map(|text| {
                parse_time(text).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{name} = {}: must be an RFC 3339 time (2026-11-22T10:00:00Z) or Unix seconds",
                        quoted(text)
                    ))
                })
            })
            .transpose()
    }

    /// A finite number.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] naming the parameter when it is not one.
    pub fn number(&self, name: &str, unit: &str) -> Result<Option<f64>, ApiError> {
        self.text(name)
            .map(|text| {
                text.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| {
                    ApiError::BadRequest(format!("{name} = {}: must be a number, {unit}", quoted(text)))
                })
            })
            .transpose()
    }

    /// A whole number (its range is checked by the store, which knows the limits).
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] naming the parameter when it is not one.
    pub fn count(&self, name: &str) -> Result<Option<usize>, ApiError> {
        self.text(name)
            .map(|text| {
                text.parse::<usize>().map_err(|_| {
                    ApiError::BadRequest(format!("{name} = {}: must be a whole number", quoted(text)))
                })
            })
            .transpose()
    }

    /// `format`, one of `allowed` (the first is the default).
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] naming `format` and the allowed values.
    pub fn format(&self, allowed: &[Format]) -> Result<Format, ApiError> {
        let Some(text) = self.text("format") else {
            return Ok(allowed[0]);
        };
        allowed.iter().copied().find(|f| f.name() == text).ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|f| f.name()).collect();
            ApiError::BadRequest(format!(
                "format = {}: must be one of {}",
                quoted(text),
                names.join(", ")
            ))
        })
    }
}

/// RFC 3339, or Unix seconds with up to 9 decimals; `None` when it is neither or out of the
/// range of [`Timestamp`] (years 1677 to 2262).
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let rfc3339 = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
    };
    if let Some(ns) = rfc3339(text) {
        return Some(Timestamp(ns));
    }
    // An offset's `+` arrives as a space when the client did not encode it as %2B.
    if text.contains(' ') {
        if let Some(ns) = rfc3339(&text.replace(' ', "+")) {
            return Some(Timestamp(ns));
        }
    }
    unix_seconds(text).map(Timestamp)
}

/// Decimal seconds to nanoseconds, exactly (a float would round to ~256 ns at today's times).
fn unix_seconds(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 9 {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    let ns = whole.checked_mul(1_000_000_000)?.checked_add(fraction)?;
    Some(if negative { -ns } else { ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_unix_seconds() {
        let t = |s: &str| parse_time(s).map(|t| t.0);
        assert_eq!(t("2026-11-22T10:00:00Z"), Some(1_795_341_600_000_000_000));
        assert_eq!(t("2026-11-22T11:00:00+01:00"), Some(1_795_341_600_000_000_000));
        assert_eq!(
            t("2026-11-22T11:00:00 01:00"),
            Some(1_795_341_600_000_000_000),
            "+ sent unencoded"
        );
        assert_eq!(t("1795341600"), Some(1_795_341_600_000_000_000));
        assert_eq!(t("1795341600.000000001"), Some(1_795_341_600_000_000_001));
        assert_eq!(t("1795341600.5"), Some(1_795_341_600_500_000_000));
        assert_eq!(t("-1.5"), Some(-1_500_000_000));
        for bad in [
            "",
            "yesterday",
            "1e9",
            "1.0000000001",
            "99999999999",
            ".5",
            "1.2.3",
            "NaN",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_repeated_and_malformed_parameters_are_named() {
        let refused = |query: &str| match Params::parse(query, &["from", "limit", "format"]) {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("{query}: {other:?}"),
        };
        assert!(refused("freqmin=1").starts_with("freqmin: unknown parameter"));
        // A long name is quoted in part, with its length.
        let long = refused(&format!("{}=1", "q".repeat(10_000)));
        assert!(long.len() < 300 && long.contains("(10000 bytes)"), "{long}");
        assert!(refused("from=1&from=2").starts_with("from: given more than once"));
        let p = Params::parse("from=&limit=x&format=xml&token=t", &["from", "limit", "format"]).unwrap();
        assert_eq!(p.time("from").unwrap(), None, "empty is absent");
        assert!(matches!(p.count("limit"), Err(ApiError::BadRequest(m)) if m.starts_with("limit = \"x\"")));
        assert!(
            matches!(p.format(&[Format::Json, Format::Csv]), Err(ApiError::BadRequest(m)) if m == "format = \"xml\": must be one of json, csv")
        );
        let p = Params::parse("format=csv", &["format"]).unwrap();
        assert_eq!(p.format(&[Format::Json, Format::Csv]).unwrap(), Format::Csv);
    }
}
