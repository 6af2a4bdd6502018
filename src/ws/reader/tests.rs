use super::*;

/// A masked client frame (RFC 6455 §5.3), as a browser would send it; `first_byte` holds FIN,
/// RSV and the opcode.
pub(crate) fn client_frame(first_byte: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = header(first_byte, payload.len() as u64, mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Just the header of a masked client frame declaring `len` payload bytes.
pub(crate) fn header(first_byte: u8, len: u64, mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![first_byte];
    match len {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 65_535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out
}

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn reader_with(bytes: &[u8], limit: usize) -> Reader {
    let mut reader = Reader::new(BytesMut::new(), limit);
    assert_eq!(reader.feed(bytes), bytes.len(), "the bytes fit the reader");
    reader
}

fn read_all(reader: &mut Reader) -> Result<Vec<Message>, Violation> {
    let mut messages = Vec::new();
    while let Some(message) = reader.next()? {
        messages.push(message);
    }
    Ok(messages)
}

fn violation(bytes: &[u8]) -> Violation {
    read_all(&mut reader_with(bytes, 1024)).expect_err("a violation")
}

#[test]
fn a_declared_length_over_the_limit_is_refused_from_the_header_alone() {
    // 4 GiB declared; not one byte of payload has arrived.
    let mut reader = reader_with(&header(0x81, 4 << 30, MASK), 64 * 1024);
    let refused = reader.next().expect_err("refused at the header");
    assert_eq!(refused.code(), 1009);
    assert_eq!(reader.buffered(), 0, "nothing kept after the refusal");
    assert_eq!(reader.room(), 0, "a failed reader reads nothing more");
    // A 16-bit length over a small limit, and a binary frame, likewise.
    assert_eq!(violation(&header(0x82, 2000, MASK)).code(), 1009);
}

#[test]
fn a_fragmented_message_is_refused_when_its_next_header_would_exceed_the_limit() {
    let mut bytes = client_frame(0x01, &[b'a'; 600], MASK);
    bytes.extend(header(0x80, 600, MASK));
    let mut reader = reader_with(&bytes, 1024);
    assert_eq!(reader.next().expect_err("too big").code(), 1009);
}

#[test]
fn the_read_buffer_never_asks_for_more_than_one_largest_frame() {
    let reader = Reader::new(BytesMut::new(), 1000);
    assert_eq!(reader.room(), 1000 + MAX_HEADER);
    let mut reader = Reader::new(BytesMut::new(), 1000);
    // Half a frame in: the room left is what completes a largest frame.
    reader.feed(&header(0x81, 1000, MASK));
    reader.feed(&[0; 500]);
    assert_eq!(reader.next(), Ok(None));
    assert_eq!(reader.room(), 1000 + MAX_HEADER - 8 - 500);
}

#[test]
fn fragments_are_joined_and_control_frames_pass_between_them() {
    let mut bytes = client_frame(0x01, br#"{"event":"#, MASK);
    bytes.extend(client_frame(0x89, b"hi", MASK));
    bytes.extend(client_frame(0x80, br#""ping"}"#, MASK));
    bytes.extend(client_frame(0x82, &[1, 2, 3], MASK));
    let mut reader = reader_with(&bytes, 1024);
    let messages = read_all(&mut reader).expect("valid frames");
    assert_eq!(
        messages,
        [
            Message::Ping(Bytes::from_static(b"hi")),
            Message::Text(Bytes::from_static(br#"{"event":"ping"}"#)),
            Message::Binary(Bytes::from_static(&[1, 2, 3])),
        ]
    );
    reader.release_if_idle();
    assert_eq!(reader.buf.capacity(), 0, "an idle reader holds no buffer");
}

#[test]
fn each_protocol_violation_gets_1002() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unmasked", vec![0x81, 0x02, b'h', b'i']),
        ("reserved bit", client_frame(0xC1, b"x", MASK)),
        ("reserved opcode", client_frame(0x83, b"x", MASK)),
        ("reserved control opcode", client_frame(0x8B, b"", MASK)),
        ("fragmented ping", client_frame(0x09, b"x", MASK)),
        ("long ping", client_frame(0x89, &[0; 126], MASK)),
        ("lone continuation", client_frame(0x80, b"x", MASK)),
        ("one-byte close", client_frame(0x88, &[3], MASK)),
        (
            "close code 1005",
            client_frame(0x88, &1005u16.to_be_bytes(), MASK),
        ),
        ("close code 999", client_frame(0x88, &999u16.to_be_bytes(), MASK)),
        (
            "close code 5000",
            client_frame(0x88, &5000u16.to_be_bytes(), MASK),
        ),
        ("top length bit", header(0x81, 1 << 63, MASK)),
    ];
    for (name, bytes) in cases {
        assert_eq!(violation(&bytes).code(), 1002, "{name}");
    }
    let mut interleaved = client_frame(0x01, b"a", MASK);
    interleaved.extend(client_frame(0x81, b"b", MASK));
    assert_eq!(
        violation(&interleaved).code(),
        1002,
        "new message inside a fragmented one"
    );
}

#[test]
fn invalid_utf8_gets_1007_at_the_first_fragment_that_cannot_be_completed() {
    assert_eq!(
        violation(&client_frame(0x81, &[0xce, 0xba, 0xff], MASK)).code(),
        1007
    );
    let mut reason = 1000u16.to_be_bytes().to_vec();
    reason.extend([0xff, 0xfe]);
    assert_eq!(violation(&client_frame(0x88, &reason, MASK)).code(), 1007);
    // A character split over two fragments is fine...
    let mut split = client_frame(0x01, &[b'a', 0xce], MASK);
    split.extend(client_frame(0x80, &[0xba], MASK));
    let text = read_all(&mut reader_with(&split, 1024)).expect("valid");
    assert_eq!(text, [Message::Text(Bytes::from("aκ"))]);
    // ...but a byte that can never start UTF-8 fails before the message ends.
    let mut reader = reader_with(&client_frame(0x01, &[b'a', 0xff], MASK), 1024);
    assert_eq!(reader.next().expect_err("fail fast").code(), 1007);
    // An incomplete character at the end of the message is invalid.
    assert_eq!(violation(&client_frame(0x81, &[b'a', 0xce], MASK)).code(), 1007);
}

#[test]
fn close_frames_carry_their_code_and_reason() {
    let mut payload = 4001u16.to_be_bytes().to_vec();
    payload.extend(b"bye");
    let mut reader = reader_with(&client_frame(0x88, &payload, MASK), 1024);
    assert_eq!(
        reader.next(),
        Ok(Some(Message::Close(Some((4001, "bye".into())))))
    );
    let mut reader = reader_with(&client_frame(0x88, b"", MASK), 1024);
    assert_eq!(reader.next(), Ok(Some(Message::Close(None))));
}

#[test]
fn unmasking_matches_the_definition_for_every_length() {
    for len in 0..40 {
        let payload: Vec<u8> = (0..len as u8).collect();
        let mut reader = reader_with(&client_frame(0x82, &payload, MASK), 1024);
        assert_eq!(reader.next(), Ok(Some(Message::Binary(Bytes::from(payload)))));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]
    // Untrusted input, the fuzz target of the frame reader: whatever bytes a client sends, in
    // whatever pieces, the reader never panics, never buffers more than one largest frame plus
    // one message being joined, and never hands over a message larger than the limit.
    #[test]
    fn the_frame_reader_is_total_and_bounded(
        chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..12),
        limit in 16usize..512,
    ) {
        let mut reader = Reader::new(BytesMut::new(), limit);
        'feeding: for chunk in chunks {
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                let taken = reader.feed(rest);
                rest = &rest[taken..];
                proptest::prop_assert!(reader.buf.len() <= limit.max(125) + MAX_HEADER);
                proptest::prop_assert!(reader.buffered() <= limit + limit.max(125) + MAX_HEADER);
                match read_all(&mut reader) {
                    Ok(messages) => {
                        for message in messages {
                            match message {
                                Message::Text(bytes) => {
                                    proptest::prop_assert!(bytes.len() <= limit);
                                    proptest::prop_assert!(std::str::from_utf8(&bytes).is_ok());
                                }
                                Message::Binary(bytes) => proptest::prop_assert!(bytes.len() <= limit),
                                Message::Ping(bytes) => proptest::prop_assert!(bytes.len() <= 125),
                                _ => {}
                            }
                        }
                    }
                    Err(_) => {
                        proptest::prop_assert_eq!(reader.buffered(), 0);
                        break 'feeding;
                    }
                }
                if taken == 0 {
                    // A full buffer that parses to nothing would be a bug: the limit holds a frame.
                    proptest::prop_assert!(false, "reader stuck with a full buffer");
                }
            }
        }
    }

    // Well-formed traffic, cut anywhere, comes out exactly as sent.
    #[test]
    fn valid_fragmented_messages_round_trip(
        text in "\\PC{0,200}",
        cuts in proptest::collection::vec(0usize..200, 0..4),
        split_at in proptest::collection::vec(1usize..50, 1..20),
        mask in proptest::array::uniform4(proptest::num::u8::ANY),
    ) {
        let payload = text.as_bytes();
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(payload.len())).collect();
        points.sort_unstable();
        points.dedup();
        let mut bounds = vec![0];
        bounds.extend(points.into_iter().filter(|&p| p > 0 && p < payload.len()));
        bounds.push(payload.len());
        let pieces: Vec<&[u8]> = bounds.windows(2).map(|w| &payload[w[0]..w[1]]).collect();
        let mut bytes = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let fin = if i + 1 == pieces.len() { 0x80 } else { 0 };
            let opcode = if i == 0 { 0x01 } else { 0x00 };
            bytes.extend(client_frame(fin | opcode, piece, mask));
        }
        let mut reader = Reader::new(BytesMut::new(), 1024);
        let mut messages = Vec::new();
        let mut at = 0;
        for step in split_at.iter().cycle() {
            if at >= bytes.len() {
                break;
            }
            let end = (at + step).min(bytes.len());
            reader.feed(&bytes[at..end]);
            at = end;
            messages.extend(read_all(&mut reader).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:?}")))?);
        }
        proptest::prop_assert_eq!(messages, vec![Message::Text(Bytes::copy_from_slice(payload))]);
    }
}
