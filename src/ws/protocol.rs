//! Parsing of client messages. Every rejection carries an error code and a message naming
//! what was wrong, so a client developer can fix it from the `error` event alone.

use crate::events::{ErrorReport, Topic};

/// A valid client message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// Add these topics.
    Subscribe(Vec<Topic>),
    /// Remove these topics.
    Unsubscribe(Vec<Topic>),
    /// Ask for a `pong`.
    Ping,
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
        other => Err(reject(
            "unknown_event",
            format!("unknown event {other:?}; expected subscribe, unsubscribe or ping"),
        )),
    }
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
    format!("unknown topic {name:?}; known topics: {}", known.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_messages_parse() {
        assert_eq!(parse(r#"{"event":"ping","data":{}}"#), Ok(ClientMessage::Ping));
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
        assert_eq!(
            code(r#"{"event":"subscribe","data":{"events":["weather"]}}"#),
            "unknown_topic"
        );
    }
}
