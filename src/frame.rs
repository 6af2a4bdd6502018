//! WebSocket frames the server writes (RFC 6455 §5.2): final, unmasked, never fragmented.
//!
//! Server frames carry no mask, so a frame's bytes do not depend on who receives it: an event
//! is framed once by the hub and the same reference-counted bytes are written to every
//! subscriber's socket.

use actix_web::web::Bytes;

const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;
/// Control frames carry at most 125 bytes (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

fn encode(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// A text frame.
pub fn text(payload: &str) -> Bytes {
    encode(OP_TEXT, payload.as_bytes())
}

/// A binary frame.
pub fn binary(payload: &[u8]) -> Bytes {
    encode(OP_BINARY, payload)
}

/// A ping (payload cut to 125 bytes).
pub fn ping(payload: &[u8]) -> Bytes {
    encode(OP_PING, &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)])
}

/// A pong answering a ping with this payload (cut to 125 bytes).
pub fn pong(payload: &[u8]) -> Bytes {
    encode(OP_PONG, &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)])
}

/// A close frame; the reason is cut (at a character boundary) to fit a control frame.
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    encode(OP_CLOSE, &payload)
}

/// Where a frame's payload starts.
pub fn payload_offset(frame: &[u8]) -> usize {
    match frame.get(1).map(|b| b & 0x7f) {
        Some(126) => 4,
        Some(127) => 10,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_codec::Decoder;
    use actix_http::ws::{Codec, Frame};
    use actix_web::web::BytesMut;

    /// Decodes with actix's client-side codec (which expects unmasked server frames).
    fn decode(bytes: &[u8]) -> Frame {
        let mut buf = BytesMut::from(bytes);
        let frame = Codec::new()
            .client_mode()
            .max_size(1 << 20)
            .decode(&mut buf)
            .expect("a valid frame")
            .expect("a whole frame");
        assert!(buf.is_empty(), "the frame is exactly its bytes");
        frame
    }

    #[test]
    fn text_frames_of_every_length_class_decode_to_their_payload() {
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 200_000] {
            let payload = "x".repeat(len);
            let bytes = text(&payload);
            match decode(&bytes) {
                Frame::Text(decoded) => assert_eq!(decoded.len(), len),
                other => panic!("{len}: {other:?}"),
            }
            assert_eq!(bytes.len() - payload_offset(&bytes), len);
        }
    }

    #[test]
    fn control_frames_are_valid_and_bounded() {
        assert!(matches!(decode(&ping(b"sdrhub")), Frame::Ping(p) if &p[..] == b"sdrhub"));
        assert!(matches!(decode(&pong(&[7; 300])), Frame::Pong(p) if p.len() == 125));
        let long = "é".repeat(100);
        match decode(&close(1013, &long)) {
            Frame::Close(Some(reason)) => {
                assert_eq!(u16::from(reason.code), 1013);
                let description = reason.description.expect("a reason");
                assert!(description.len() <= 123 && long.starts_with(&description));
            }
            other => panic!("{other:?}"),
        }
    }
}
