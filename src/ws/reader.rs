//! Frames from a client (RFC 6455 §5): decoded incrementally, unmasked, reassembled, with every
//! limit checked as early as the bytes allow.
//!
//! Memory is bounded whatever the peer sends: a frame whose header declares more than
//! `max_message` bytes (or that would make a fragmented message larger) is refused as soon as its
//! header is parsed, before any of its payload is buffered, and the reader never asks the socket
//! for more than one largest frame ([`Reader::room`]). So a connection holds at most one frame
//! in its read buffer and one message being joined: about twice `max_message`.
//!
//! Everything the RFC asks a server to fail the connection for is a [`Violation`] with its close
//! code: reserved bits or opcodes, unmasked frames, fragmented or oversized control frames,
//! broken fragmentation, invalid close payloads (1002), text that is not UTF-8 (1007, found at
//! the first fragment that cannot be completed), messages over the limit (1009). After a
//! violation the reader is done: its buffer is freed and it yields nothing more.

use actix_web::web::{BufMut, Bytes, BytesMut};
use std::io;
use tokio::net::TcpStream;

/// Longest frame header: 2 bytes, a 64-bit length and the mask.
pub const MAX_HEADER: usize = 14;
/// Most a read asks the socket for at once.
const READ_CHUNK: usize = 64 * 1024;
/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// A whole message (or control frame) from the client.
#[derive(Debug, PartialEq)]
pub enum Message {
    /// A text message, valid UTF-8.
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping with its payload.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// A close frame: its code and reason, if it had any.
    Close(Option<(u16, String)>),
}

/// Why the connection must be failed, with the close code to send (RFC 6455 §7.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// 1002: the frames break the protocol.
    Protocol(String),
    /// 1007: a text message (or close reason) that is not UTF-8.
    InvalidData(String),
    /// 1009: a frame or message over the limit.
    TooBig(String),
}

impl Violation {
    /// The close code.
    pub fn code(&self) -> u16 {
        match self {
            Violation::Protocol(_) => 1002,
            Violation::InvalidData(_) => 1007,
            Violation::TooBig(_) => 1009,
        }
    }

    /// The close reason.
    pub fn reason(&self) -> &str {
        match self {
            Violation::Protocol(r) | Violation::InvalidData(r) | Violation::TooBig(r) => r,
        }
    }
}

/// What a read from the socket gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Fill {
    /// Bytes arrived.
    Data,
    /// Nothing to read now.
    WouldBlock,
    /// The peer closed its side.
    Eof,
}

/// A frame header, parsed.
struct Head {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    len: usize,
    header_len: usize,
}

/// A fragmented message being joined.
struct Partial {
    text: bool,
    bytes: BytesMut,
    /// Bytes of a text message already checked to be UTF-8 (an incomplete character at the
    /// end is left for the next fragment).
    checked: usize,
}

/// See the module documentation.
pub struct Reader {
    buf: BytesMut,
    partial: Option<Partial>,
    max_message: usize,
    failed: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("buffered", &self.buf.len())
            .field("joining", &self.partial.as_ref().map(|p| p.bytes.len()))
            .field("failed", &self.failed)
            .finish()
    }
}

impl Reader {
    /// A reader of messages up to `max_message` bytes, starting with bytes that arrived
    /// behind the handshake.
    pub fn new(early: BytesMut, max_message: usize) -> Self {
        Self {
            buf: early,
            partial: None,
            max_message,
            failed: false,
        }
    }

    /// Bytes buffered now (read from the socket but not yet parsed, plus a message being joined).
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.partial.as_ref().map_or(0, |p| p.bytes.len())
    }

    /// Whether bytes wait to be parsed.
    pub fn has_unparsed(&self) -> bool {
        !self.failed && !self.buf.is_empty()
    }

    /// The most the read buffer may hold: one whole frame of the largest allowed size (a
    /// control frame may always carry its 125 bytes).
    fn limit(&self) -> usize {
        self.max_message
            .max(MAX_CONTROL_PAYLOAD as usize)
            .saturating_add(MAX_HEADER)
    }

    /// How many more bytes may be read now.
    pub fn room(&self) -> usize {
        if self.failed {
            return 0;
        }
        self.limit().saturating_sub(self.buf.len())
    }

    /// Reads what the socket has, up to [`Reader::room`], without waiting.
    ///
    /// # Errors
    /// The socket's.
    pub fn fill(&mut self, stream: &TcpStream) -> io::Result<Fill> {
        let room = self.room();
        if room == 0 {
            // Cannot happen while frames are parsed before reading again (a buffer at its
            // limit holds a whole frame); reading nothing is the safe answer.
            return Ok(Fill::WouldBlock);
        }
        let want = room.min(READ_CHUNK);
        if self.buf.capacity() - self.buf.len() < want.min(1024) {
            self.buf.reserve(want.min(8 * 1024));
        }
        // Never more than the room left, whatever capacity the buffer happens to have.
        let result = stream.try_read_buf(&mut (&mut self.buf).limit(want));
        match result {
            Ok(0) => Ok(Fill::Eof),
            Ok(_) => Ok(Fill::Data),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Fill::WouldBlock),
            Err(e) => Err(e),
        }
    }

    /// Appends bytes as if read from the socket (tests and fuzzing); at most [`Reader::room`]
    /// of them are taken. Returns how many were.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        let taken = bytes.len().min(self.room());
        self.buf.extend_from_slice(&bytes[..taken]);
        taken
    }

    /// Frees the buffers of a connection with nothing left to parse.
    pub fn release_if_idle(&mut self) {
        if self.buf.is_empty() && self.partial.is_none() {
            self.buf = BytesMut::new();
        }
    }

    fn fail(&mut self, violation: Violation) -> Result<Option<Message>, Violation> {
        self.failed = true;
        self.buf = BytesMut::new();
        self.partial = None;
        Err(violation)
    }

    /// The next whole message in the buffer, if any.
    ///
    /// # Errors
    /// A [`Violation`]: the connection must be failed with its code.
    #[allow(clippy::should_implement_trait)] // Fallible, so not an Iterator.
    pub fn next(&mut self) -> Result<Option<Message>, Violation> {
        if self.failed {
            return Ok(None);
        }
        loop {
            let head = match self.head() {
                Ok(Some(head)) => head,
                Ok(None) => return Ok(None),
                Err(violation) => return self.fail(violation),
            };
            if self.buf.len() < head.header_len + head.len {
                return Ok(None);
            }
            let _ = self.buf.split_to(head.header_len);
            let mut payload = self.buf.split_to(head.len);
            unmask(&mut payload, head.mask);
            let result = match head.opcode {
                0x8 => close_message(&payload).map(Some),
                0x9 => Ok(Some(Message::Ping(payload.freeze()))),
                0xA => Ok(Some(Message::Pong)),
                _ => self.data(head.opcode, head.fin, payload),
            };
            match result {
                Ok(Some(message)) => return Ok(Some(message)),
                Ok(None) => continue,
                Err(violation) => return self.fail(violation),
            }
        }
    }

    /// Parses and checks the header at the front of the buffer; `None` until it is whole.
    fn head(&self) -> Result<Option<Head>, Violation> {
        let bytes = &self.buf[..];
        if bytes.len() < 2 {
            return Ok(None);
        }
        let (first, second) = (bytes[0], bytes[1]);
        let fin = first & 0x80 != 0;
        let opcode = first & 0x0F;
        if first & 0x70 != 0 {
            return Err(Violation::Protocol(
                "reserved bits set (no extension was negotiated)".into(),
            ));
        }
        let control = match opcode {
            0x0..=0x2 => false,
            0x8..=0xA => true,
            other => return Err(Violation::Protocol(format!("reserved opcode {other:#x}"))),
        };
        if second & 0x80 == 0 {
            return Err(Violation::Protocol("client frames must be masked".into()));
        }
        let short = u64::from(second & 0x7F);
        if control && !fin {
            return Err(Violation::Protocol(
                "control frames must not be fragmented".into(),
            ));
        }
        if control && short > MAX_CONTROL_PAYLOAD {
            return Err(Violation::Protocol("control frame payload over 125 bytes".into()));
        }
        let (len, at) = match short {
            126 => match bytes.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match bytes.get(2..10) {
                Some(b) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(b);
                    (u64::from_be_bytes(be), 10)
                }
                None => return Ok(None),
            },
            n => (n, 2),
        };
        if len >> 63 != 0 {
            return Err(Violation::Protocol("payload length has its top bit set".into()));
        }
        if !control {
            let joined = self.partial.as_ref().map_or(0, |p| p.bytes.len() as u64);
            match (opcode, &self.partial) {
                (0x0, None) => {
                    return Err(Violation::Protocol(
                        "continuation frame without a message to continue".into(),
                    ))
                }
                (0x1 | 0x2, Some(_)) => {
                    return Err(Violation::Protocol(
                        "a new message started before the fragmented one ended".into(),
                    ))
                }
                _ => {}
            }
            // The declared length decides, before a byte of the payload is kept.
            if len.saturating_add(joined) > self.max_message as u64 {
                let what = if self.partial.is_some() || !fin {
                    "message"
                } else {
                    "frame"
                };
                return Err(Violation::TooBig(format!(
                    "{what} larger than {} bytes (server.max_message_bytes)",
                    self.max_message
                )));
            }
        }
        let Some(mask) = bytes.get(at..at + 4) else {
            return Ok(None);
        };
        Ok(Some(Head {
            fin,
            opcode,
            mask: [mask[0], mask[1], mask[2], mask[3]],
            // Invariant: at most max_message (a usize) for data, 125 for control frames.
            len: len as usize,
            header_len: at + 4,
        }))
    }

    /// A data frame: a whole message, or a fragment joined to the one in progress.
    fn data(&mut self, opcode: u8, fin: bool, payload: BytesMut) -> Result<Option<Message>, Violation> {
        if opcode != 0 && fin {
            return if opcode == 0x1 {
                check_utf8(&payload)?;
                Ok(Some(Message::Text(payload.freeze())))
            } else {
                Ok(Some(Message::Binary(payload.freeze())))
            };
        }
        let partial = self.partial.get_or_insert_with(|| Partial {
            text: opcode == 0x1,
            bytes: BytesMut::new(),
            checked: 0,
        });
        partial.bytes.extend_from_slice(&payload);
        if partial.text {
            // Fail fast: text that can no longer become UTF-8 ends the connection now.
            match std::str::from_utf8(&partial.bytes[partial.checked..]) {
                Ok(_) => partial.checked = partial.bytes.len(),
                Err(e) if e.error_len().is_none() && !fin => partial.checked += e.valid_up_to(),
                Err(_) => return Err(Violation::InvalidData("text message is not valid UTF-8".into())),
            }
        }
        if !fin {
            return Ok(None);
        }
        let Some(Partial { text, bytes, .. }) = self.partial.take() else {
            return Ok(None);
        };
        Ok(Some(if text {
            Message::Text(bytes.freeze())
        } else {
            Message::Binary(bytes.freeze())
        }))
    }
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let value = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&value.to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i];
    }
}

fn check_utf8(bytes: &[u8]) -> Result<(), Violation> {
    std::str::from_utf8(bytes)
        .map(|_| ())
        .map_err(|_| Violation::InvalidData("text message is not valid UTF-8".into()))
}

/// Whether a peer may send this close code (RFC 6455 §7.4.1 and the IANA registry).
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A close frame's payload: empty, or a valid code and a UTF-8 reason.
fn close_message(payload: &[u8]) -> Result<Message, Violation> {
    match payload.len() {
        0 => Ok(Message::Close(None)),
        1 => Err(Violation::Protocol("close payload of one byte".into())),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !valid_close_code(code) {
                return Err(Violation::Protocol(format!("invalid close code {code}")));
            }
            let reason = std::str::from_utf8(&payload[2..])
                .map_err(|_| Violation::InvalidData("close reason is not valid UTF-8".into()))?;
            Ok(Message::Close(Some((code, reason.to_string()))))
        }
    }
}

#[cfg(test)]
mod tests;
