//! SoapySDR device argument strings (`driver=rtlsdr,serial=00000001`), checked before they
//! reach SoapySDR: its own parser silently turns `driver rtlsdr` into a key with no value and
//! then enumerates every driver, which is slow, may probe the network, and explains nothing.

use crate::source::SourceError;

/// Parsed device arguments, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceArgs {
    pairs: Vec<(String, String)>,
}

impl DeviceArgs {
    /// Parses `key=value` pairs separated by commas. Whitespace around keys and values is
    /// ignored, as are empty items (a trailing comma).
    ///
    /// # Errors
    /// [`SourceError::Config`] naming `args` when an item has no `=`, an empty key, a key given
    /// twice, or `driver=` with no value.
    pub fn parse(args: &str) -> Result<Self, SourceError> {
        let bad = |why: String| {
            SourceError::Config(format!(
                "args = {args:?} is malformed: {why}; expected comma-separated key=value pairs such as \
                 \"driver=rtlsdr,serial=00000001\""
            ))
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        for item in args.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let Some((key, value)) = item.split_once('=') else {
                return Err(bad(format!("{item:?} is not key=value")));
            };
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(bad(format!("{item:?} has no valid key")));
            }
            if value.contains('\0') || key.contains('\0') {
                return Err(bad(format!("{item:?} contains a NUL byte")));
            }
            if pairs.iter().any(|(k, _)| k == key) {
                return Err(bad(format!("key {key:?} is given twice")));
            }
            if key == "driver" && value.is_empty() {
                return Err(bad("driver= has no value".to_owned()));
            }
            pairs.push((key.to_owned(), value.to_owned()));
        }
        Ok(Self { pairs })
    }

    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The `driver` value, if given.
    pub fn driver(&self) -> Option<&str> {
        self.get("driver")
    }

    /// The pairs, in the order given.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether no pair was given (SoapySDR would then open whichever device it finds first).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl std::fmt::Display for DeviceArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (key, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{key}={value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_with_spaces_and_a_trailing_comma() {
        let args = DeviceArgs::parse(" driver=redpitaya , addr=127.0.0.1,port=1001,").unwrap();
        assert_eq!(args.driver(), Some("redpitaya"));
        assert_eq!(args.get("port"), Some("1001"));
        assert_eq!(args.to_string(), "driver=redpitaya,addr=127.0.0.1,port=1001");
        assert!(DeviceArgs::parse("").unwrap().is_empty());
        // A value may be empty (some drivers take flags), and may hold '='.
        assert_eq!(DeviceArgs::parse("driver=x,flag=").unwrap().get("flag"), Some(""));
        assert_eq!(DeviceArgs::parse("driver=x,k=a=b").unwrap().get("k"), Some("a=b"));
    }

    #[test]
    fn rejects_malformed_strings_naming_args() {
        for bad in [
            "driver rtlsdr",
            "=rtlsdr",
            "driver=",
            "driver=a,driver=b",
            "my key=1",
        ] {
            let error = DeviceArgs::parse(bad).unwrap_err();
            let SourceError::Config(message) = &error else {
                panic!("{bad}: {error:?}");
            };
            assert!(message.starts_with("args = "), "{message}");
            assert!(message.contains("key=value"), "{message}");
        }
    }
}
