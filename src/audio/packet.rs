//! The binary WebSocket frame that carries one packet of a listener's audio. Little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0 | kind: 1 = audio |
//! | 1 | codec: 1 = IMA ADPCM, 4 bits a sample |
//! | 2-5 | `seq`: u32, 0 for the first packet of a `listen`, +1 for each after (a gap is loss) |
//! | 6-13 | `time_ns`: i64, when the antenna received the packet's first sample, ns since the epoch |
//! | 14-15 | ADPCM predictor at the packet's start: i16 |
//! | 16 | ADPCM step index at the packet's start: u8 (0-88) |
//! | 17 | flags: bit 0 = squelch open |
//! | 18-19 | channel power: i16, 0.01 dBFS |
//! | 20-21 | samples in the packet: u16 |
//! | 22- | the samples, two a byte, the first in the low nibble |
//!
//! Every packet carries the coder state it starts from, so it decodes alone: a dropped packet
//! is a gap of its length, nothing more.

use super::adpcm::{self, State};
use actix_web::web::Bytes;

/// Header bytes before the samples.
pub const HEADER_BYTES: usize = 22;
/// Byte 0 of an audio packet.
pub const KIND_AUDIO: u8 = 1;
/// Byte 1: IMA ADPCM.
pub const CODEC_IMA_ADPCM: u8 = 1;

/// One packet, decoded (what a client reads; tests use it).
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Sequence number within the `listen`.
    pub seq: u32,
    /// When the antenna received the first sample, ns since the epoch.
    pub time_ns: i64,
    /// Whether the squelch was open.
    pub squelch_open: bool,
    /// Channel power, dBFS.
    pub power_dbfs: f32,
    /// The samples, full scale +-1.
    pub samples: Vec<f32>,
}

/// What a packet is made of, before encoding.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// Sequence number within the `listen`.
    pub seq: u32,
    /// When the antenna received the first sample, ns since the epoch.
    pub time_ns: i64,
    /// Whether the squelch was open.
    pub squelch_open: bool,
    /// Channel power, dBFS.
    pub power_dbfs: f32,
}

/// The payload of the binary frame of `samples` (at most `u16::MAX`), encoded from `state`
/// (which moves on).
pub fn encode(header: Header, state: &mut State, samples: &[f32]) -> Vec<u8> {
    let count = samples.len().min(usize::from(u16::MAX));
    let mut out = Vec::with_capacity(HEADER_BYTES + count.div_ceil(2));
    out.push(KIND_AUDIO);
    out.push(CODEC_IMA_ADPCM);
    out.extend_from_slice(&header.seq.to_le_bytes());
    out.extend_from_slice(&header.time_ns.to_le_bytes());
    out.extend_from_slice(&state.predictor.to_le_bytes());
    out.push(state.index);
    out.push(u8::from(header.squelch_open));
    let power = (header.power_dbfs * 100.0).round().clamp(-32768.0, 32767.0) as i16;
    out.extend_from_slice(&power.to_le_bytes());
    out.extend_from_slice(&(count as u16).to_le_bytes());
    adpcm::encode(state, &samples[..count], &mut out);
    out
}

/// The WebSocket binary frame of a packet payload.
pub fn frame(payload: &[u8]) -> Bytes {
    crate::frame::binary(payload)
}

/// Reads a packet payload; `None` when it is not one.
pub fn decode(payload: &[u8]) -> Option<Packet> {
    if payload.len() < HEADER_BYTES || payload[0] != KIND_AUDIO || payload[1] != CODEC_IMA_ADPCM {
        return None;
    }
    let u16_at = |i: usize| u16::from_le_bytes([payload[i], payload[i + 1]]);
    let seq = u32::from_le_bytes(payload[2..6].try_into().ok()?);
    let time_ns = i64::from_le_bytes(payload[6..14].try_into().ok()?);
    let mut state = State {
        predictor: u16_at(14) as i16,
        index: payload[16].min(88),
    };
    let count = usize::from(u16_at(20));
    let data = &payload[HEADER_BYTES..];
    if data.len() < count.div_ceil(2) {
        return None;
    }
    let mut samples = Vec::with_capacity(count);
    adpcm::decode(&mut state, data, count, &mut samples);
    Some(Packet {
        seq,
        time_ns,
        squelch_open: payload[17] & 1 != 0,
        power_dbfs: f32::from(u16_at(18) as i16) / 100.0,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_round_trips() {
        let samples: Vec<f32> = (0..481).map(|n| (n as f32 * 0.05).sin() * 0.4).collect();
        let header = Header {
            seq: 7,
            time_ns: 1_765_000_000_123_456_789,
            squelch_open: true,
            power_dbfs: -42.37,
        };
        let mut state = State {
            predictor: -1234,
            index: 40,
        };
        let payload = encode(header, &mut state, &samples);
        assert_eq!(payload.len(), HEADER_BYTES + 241);
        let packet = decode(&payload).expect("a packet");
        assert_eq!(
            (packet.seq, packet.time_ns, packet.squelch_open),
            (7, header.time_ns, true)
        );
        assert!((packet.power_dbfs + 42.37).abs() < 0.006);
        assert_eq!(packet.samples.len(), 481);
        let worst = samples
            .iter()
            .zip(&packet.samples)
            .skip(20)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 0.05, "{worst}");
        assert!(decode(&payload[..10]).is_none());
    }
}
