//! The wire types of the answers a client gets to its own messages (`pong`, `error`,
//! `subscriptions`).

use super::Timestamp;
use serde::Serialize;

/// Payload of `pong`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pong {
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}

/// Payload of `error`: what was wrong with a client message. The connection stays open.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorReport {
    /// Machine-readable code: `bad_json`, `bad_message`, `unknown_event`, `unknown_topic`,
    /// `unsupported_frame`, and for `listen`: `listen_refused` (a setting that cannot work:
    /// the message says which), `forbidden_audio`, `too_many_listeners`.
    pub code: &'static str,
    /// What was wrong, for humans.
    pub message: String,
}

/// Characters of a client's own text an error message repeats at most.
pub const QUOTED_CHARS: usize = 64;

/// `text` as an error message quotes it: in quotes and escaped as Rust's `{:?}` does, cut after
/// [`QUOTED_CHARS`] characters with the length it had (a client's 60 kB "receiver name" is not
/// sent back to it whole, nor written whole into the logs).
pub fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        None => format!("{text:?}"),
        Some((end, _)) => format!("{:?}... ({} bytes)", &text[..end], text.len()),
    }
}

/// Payload of `subscriptions`: the client's topics after a `subscribe` or `unsubscribe`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionsReport {
    /// Topics now subscribed, in wire order.
    pub events: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_text_is_quoted_whole_and_a_long_one_is_cut_on_a_character_boundary() {
        assert_eq!(quoted("rx\"1"), r#""rx\"1""#);
        assert_eq!(
            quoted(&"a".repeat(QUOTED_CHARS)),
            format!("{:?}", "a".repeat(QUOTED_CHARS))
        );
        let long = "é".repeat(1000);
        assert_eq!(
            quoted(&long),
            format!("{:?}... (2000 bytes)", "é".repeat(QUOTED_CHARS))
        );
    }
}
