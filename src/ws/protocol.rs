//! Parsing of client messages. Every rejection carries an error code and a message naming
//! what was wrong, so a client developer can fix it from the `error` event alone.

use crate::events::{quoted, ErrorReport, Topic};

/// A valid client message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// Add these topics.
    Subscribe(Vec<Topic>),
    /// Remove these topics.
    Unsubscribe(Vec<Topic>),
    /// Ask for a `pong`.
    Ping,
    /// Start hearing a frequency (replacing the client's listener, if any).
    Listen(crate::audio::ListenRequest),
    /// Stop hearing.
    Unlisten,
    /// Start recording what is heard, naming the signal (optional).
    Record(Option<String>),
    /// Finish the recording.
    RecordStop,
}

fn reject(code: &'static str, message: impl Into<String>) -> ErrorReport {
    ErrorReport {
        code,
        message: message.into(),
    }
}

/// Parses one text frame from a client.
pub fn parse(text: &str) -> Result<ClientMessage, ErrorReport> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| reject("bad_json", format!("not valid JSON: {e}")))?;
    let object = value.as_object().ok_or_else(|| {
        reject(
            "bad_message",
            "a message must be a JSON object with \"event\" and \"data\"",
        )
    })?;
    let event = match object.get("event") {
        Some(serde_json::Value::String(event)) => event.as_str(),
        Some(_) => return Err(reject("bad_message", "\"event\" must be a string")),
        None => return Err(reject("bad_message", "missing \"event\"")),
    };
    let data = object.get("data");
    match event {
        "ping" => match data {
            None | Some(serde_json::Value::Object(_)) | Some(serde_json::Value::Null) => {
                Ok(ClientMessage::Ping)
            }
            Some(_) => Err(reject("bad_message", "\"data\" of ping must be an object")),
        },
        "subscribe" | "unsubscribe" => {
            let topics = topics(event, data)?;
            Ok(if event == "subscribe" {
                ClientMessage::Subscribe(topics)
            } else {
                ClientMessage::Unsubscribe(topics)
            })
        }
        "listen" => listen(data).map(ClientMessage::Listen),
        "unlisten" => Ok(ClientMessage::Unlisten),
        "record" => {
            let signal = data.and_then(|d| d.get("signal_id"));
            match signal {
                None | Some(serde_json::Value::Null) => Ok(ClientMessage::Record(None)),
                Some(serde_json::Value::String(id)) if id.len() <= 64 => Ok(ClientMessage::Record(Some(id.clone()))),
                Some(_) => Err(reject("bad_message", "record: \"signal_id\" must be a signal id (a string), or absent")),
            }
        }
        "record_stop" => Ok(ClientMessage::RecordStop),
        other => Err(reject(
            "unknown_event",
            format!("unknown event {}; expected subscribe, unsubscribe, ping, listen, unlisten, record or record_stop", quoted(other)),
        )),
    }
}

/// `listen`'s `data`: `receiver`, `frequency_hz`, `mode`, and optionally `passband_hz`
/// (`[low, high]` relative to the frequency) and `squelch_dbfs`.
fn listen(data: Option<&serde_json::Value>) -> Result<crate::audio::ListenRequest, ErrorReport> {
    use sdrhub_dsp::demod::{Mode, Passband};
    let data = data.and_then(|d| d.as_object()).ok_or_else(|| {
        reject(
            "bad_message",
            "listen needs \"data\": {\"receiver\", \"frequency_hz\", \"mode\"}",
        )
    })?;
    let receiver = data.get("receiver").and_then(|r| r.as_str()).ok_or_else(|| {
        reject(
            "bad_message",
            "listen: \"receiver\" must be a receiver id (a string)",
        )
    })?;
    let frequency_hz = data
        .get("frequency_hz")
        .and_then(|f| f.as_f64())
        .filter(|f| f.is_finite() && *f > 0.0)
        .ok_or_else(|| {
            reject(
                "bad_message",
                "listen: \"frequency_hz\" must be a positive number of Hz",
            )
        })?;
    let mode = data
        .get("mode")
        .and_then(|m| m.as_str())
        .ok_or_else(|| {
            reject(
                "bad_message",
                "listen: \"mode\" must be one of am, nfm, wfm, usb, lsb, cw",
            )
        })
        .and_then(|m| {
            Mode::parse(m).map_err(|_| {
                let known: Vec<&str> = Mode::ALL.iter().map(|m| m.as_str()).collect();
                reject(
                    "bad_message",
                    format!(
                        "listen: unknown mode {}; expected one of {}",
                        quoted(m),
                        known.join(", ")
                    ),
                )
            })
        })?;
    let passband = match data.get("passband_hz") {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => {
            let edges: Option<Vec<f64>> = value
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_f64()).collect());
            match edges.as_deref() {
                Some(&[low_hz, high_hz]) if low_hz < high_hz => Some(Passband { low_hz, high_hz }),
                _ => return Err(reject(
                    "bad_message",
                    "listen: \"passband_hz\" must be [low, high] in Hz relative to the frequency, low < high",
                )),
            }
        }
    };
    let squelch_dbfs = match data.get("squelch_dbfs") {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => Some(
            value
                .as_f64()
                .filter(|v| (-200.0..=0.0).contains(v))
                .ok_or_else(|| {
                    reject(
                        "bad_message",
                        "listen: \"squelch_dbfs\" must be a number from -200 to 0, or null",
                    )
                })? as f32,
        ),
    };
    Ok(crate::audio::ListenRequest {
        receiver: receiver.to_string(),
        frequency_hz,
        mode,
        passband,
        squelch_dbfs,
    })
}

fn topics(event: &str, data: Option<&serde_json::Value>) -> Result<Vec<Topic>, ErrorReport> {
    let list = data.and_then(|d| d.get("events")).ok_or_else(|| {
        reject(
            "bad_message",
            format!("{event} needs \"data\": {{\"events\": [...]}}"),
        )
    })?;
    let list = list
        .as_array()
        .ok_or_else(|| reject("bad_message", "\"data.events\" must be an array of event names"))?;
    list.iter()
        .map(|item| {
            let name = item
                .as_str()
                .ok_or_else(|| reject("bad_message", "\"data.events\" must contain only strings"))?;
            Topic::parse(name).ok_or_else(|| reject("unknown_topic", unknown_topic(name)))
        })
        .collect()
}

/// The message for a topic name that does not exist.
pub fn unknown_topic(name: &str) -> String {
    let known: Vec<&str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
    format!(
        "unknown topic {}; known topics: {}",
        quoted(name),
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_messages_parse() {
        assert_eq!(parse(r#"{"event":"ping","data":{}}"#), Ok(ClientMessage::Ping));
        assert_eq!(
            parse(r#"{"event":"unlisten","data":{}}"#),
            Ok(ClientMessage::Unlisten)
        );
        let Ok(ClientMessage::Listen(request)) = parse(
            r#"{"event":"listen","data":{"receiver":"rx1","frequency_hz":145350000,"mode":"nfm","passband_hz":[-6000,6000]}}"#,
        ) else {
            panic!("a listen")
        };
        assert_eq!(
            (request.receiver.as_str(), request.frequency_hz, request.mode),
            ("rx1", 145_350_000.0, sdrhub_dsp::demod::Mode::Nfm)
        );
        assert_eq!(
            request.passband.map(|p| (p.low_hz, p.high_hz)),
            Some((-6000.0, 6000.0))
        );
        assert_eq!(
            parse(r#"{"event":"subscribe","data":{"events":["signals:detected"]}}"#),
            Ok(ClientMessage::Subscribe(vec![Topic::SignalsDetected]))
        );
    }

    #[test]
    fn each_kind_of_bad_input_has_its_own_code() {
        let code = |text: &str| parse(text).unwrap_err().code;
        assert_eq!(code("{not json"), "bad_json");
        assert_eq!(code("[1,2]"), "bad_message");
        assert_eq!(code(r#"{"event": 5}"#), "bad_message");
        assert_eq!(
            code(r#"{"event":"subscribe","data":{"events":"signals:detected"}}"#),
            "bad_message"
        );
        assert_eq!(
            code(r#"{"event":"subscribe","data":{"events":[3]}}"#),
            "bad_message"
        );
        assert_eq!(code(r#"{"event":"dance","data":{}}"#), "unknown_event");
        assert_eq!(code(r#"{"event":"listen","data":{}}"#), "bad_message");
        assert_eq!(
            code(r#"{"event":"listen","data":{"receiver":"rx1","frequency_hz":1e8,"mode":"fm"}}"#),
            "bad_message"
        );
        assert_eq!(
            code(
                r#"{"event":"listen","data":{"receiver":"rx1","frequency_hz":1e8,"mode":"nfm","passband_hz":[5,-5]}}"#
            ),
            "bad_message"
        );
        assert_eq!(
            code(r#"{"event":"subscribe","data":{"events":["weather"]}}"#),
            "unknown_topic"
        );
    }
}
