//! The KiwiSDR wire format: server frames (`MSG`, `SND`, `W/F`, `EXT`), the `MSG` name/value
//! pairs, the `SND` header of IQ mode, and the client's `SET` commands.
//!
//! Everything here is pure and total: any byte string given to a parser yields a value or an
//! error, never a panic (the property tests in `tests.rs` feed them arbitrary bytes). Encoders
//! are the exact inverses, used by the emulator.

use num_complex::Complex32;
use sdrhub_dsp::geo::GeoPoint;

/// Samples in one IQ `SND` frame of a real KiwiSDR.
pub const SAMPLES_PER_FRAME: usize = 512;
/// Bytes of the `SND` header in IQ mode (tag, flags, sequence, S-meter, GPS fields).
pub const SND_IQ_HEADER_LEN: usize = 20;
/// Bytes of the `SND` header in audio (non-IQ) mode.
pub const SND_AUDIO_HEADER_LEN: usize = 10;
/// Bytes of one IQ sample pair (two int16).
pub const BYTES_PER_IQ_SAMPLE: usize = 4;
/// Largest frame accepted from a receiver. A real IQ frame is 2068 bytes and a waterfall frame
/// about 1 KiB; anything bigger is a broken or hostile server, and refusing it bounds memory.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Value of "seconds since the last GPS solution" meaning the receiver never had a fix.
pub const NO_GPS_FIX: u8 = 255;

/// `SND` flag bits.
pub mod flags {
    /// The ADC clipped during this frame.
    pub const ADC_OVERFLOW: u8 = 0x02;
    /// The receiver was retuned.
    pub const NEW_FREQUENCY: u8 = 0x04;
    /// Stereo / IQ samples.
    pub const IQ: u8 = 0x08;
    /// IMA-ADPCM compressed (never in IQ mode).
    pub const COMPRESSED: u8 = 0x10;
    /// The audio pipeline restarted.
    pub const RESTART: u8 = 0x20;
    /// Samples are little-endian.
    pub const LITTLE_ENDIAN: u8 = 0x80;
}

/// Why a server frame could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than its header.
    #[error("{tag} frame of {len} bytes is shorter than its {need}-byte header")]
    Truncated {
        /// The frame's tag.
        tag: &'static str,
        /// Its length.
        len: usize,
        /// The header length.
        need: usize,
    },
    /// Not one of `MSG`, `SND`, `W/F`, `EXT`.
    #[error("unknown frame tag {0:?}")]
    UnknownTag(String),
    /// Larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    Oversized(usize),
    /// An `SND` frame that is not IQ (audio mode, compressed), which this client never asks for.
    #[error("SND frame is not IQ (flags {0:#04x})")]
    NotIq(u8),
    /// An IQ payload that is not a whole number of sample pairs.
    #[error("IQ payload of {0} bytes is not a whole number of 4-byte samples")]
    Ragged(usize),
    /// A `MSG` that is not UTF-8 text.
    #[error("MSG frame is not UTF-8 text")]
    NotText,
}

/// The header of an IQ-mode `SND` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SndHeader {
    /// Flag bits ([`flags`]).
    pub flags: u8,
    /// Frame sequence number, +1 per frame.
    pub sequence: u32,
    /// S-meter raw value: dBm = 0.1 v - 127.
    pub smeter: u16,
    /// Seconds since the last GPS solution: 0 = fresh, up to 252; [`NO_GPS_FIX`] = never.
    pub last_gps_solution: u8,
    /// GPS seconds of the week of the frame's first sample.
    pub gps_sec: u32,
    /// Nanoseconds of that second.
    pub gps_nsec: u32,
}

impl SndHeader {
    /// The S-meter reading, dBm.
    pub fn smeter_dbm(&self) -> f64 {
        0.1 * f64::from(self.smeter) - 127.0
    }

    /// The ADC clipped during the frame.
    pub fn adc_overflow(&self) -> bool {
        self.flags & flags::ADC_OVERFLOW != 0
    }

    /// Whether the frame carries a GPS time: the receiver has (had) a fix and GPS timestamps
    /// are switched on (a server with them off sends zeros in all three fields).
    pub fn has_gps_time(&self) -> bool {
        self.last_gps_solution != NO_GPS_FIX && !(self.gps_sec == 0 && self.gps_nsec == 0)
    }
}

/// One frame from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame<'a> {
    /// A `MSG` text message (the part after `MSG `).
    Msg(&'a str),
    /// An IQ `SND` frame: its header and the raw sample bytes.
    Snd {
        /// The header.
        header: SndHeader,
        /// 4 bytes per sample: I then Q, int16, byte order per [`flags::LITTLE_ENDIAN`].
        samples: &'a [u8],
    },
    /// A waterfall frame (ignored by the IQ client).
    Waterfall,
    /// An extension frame (ignored).
    Ext,
}

/// Parses one binary frame from the server.
///
/// # Errors
/// A [`FrameError`] saying what is wrong; the frame should be counted and skipped.
pub fn parse_frame(payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    if payload.len() > MAX_FRAME_BYTES {
        return Err(FrameError::Oversized(payload.len()));
    }
    if payload.len() < 3 {
        return Err(FrameError::Truncated {
            tag: "untagged",
            len: payload.len(),
            need: 3,
        });
    }
    match &payload[..3] {
        b"MSG" => {
            let text = std::str::from_utf8(&payload[3..]).map_err(|_| FrameError::NotText)?;
            Ok(Frame::Msg(
                text.trim_start_matches(' ').trim_end_matches(['\0', '\n', '\r']),
            ))
        }
        b"SND" => parse_snd(payload),
        b"W/F" => Ok(Frame::Waterfall),
        b"EXT" => Ok(Frame::Ext),
        tag => Err(FrameError::UnknownTag(String::from_utf8_lossy(tag).into_owned())),
    }
}

fn parse_snd(payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    if payload.len() < 4 {
        return Err(FrameError::Truncated {
            tag: "SND",
            len: payload.len(),
            need: SND_IQ_HEADER_LEN,
        });
    }
    let flag_bits = payload[3];
    if flag_bits & flags::IQ == 0 || flag_bits & flags::COMPRESSED != 0 {
        return Err(FrameError::NotIq(flag_bits));
    }
    if payload.len() < SND_IQ_HEADER_LEN {
        return Err(FrameError::Truncated {
            tag: "SND",
            len: payload.len(),
            need: SND_IQ_HEADER_LEN,
        });
    }
    let u32_le =
        |at: usize| u32::from_le_bytes([payload[at], payload[at + 1], payload[at + 2], payload[at + 3]]);
    let header = SndHeader {
        flags: flag_bits,
        sequence: u32_le(4),
        smeter: u16::from_be_bytes([payload[8], payload[9]]),
        last_gps_solution: payload[10],
        gps_sec: u32_le(12),
        gps_nsec: u32_le(16),
    };
    let samples = &payload[SND_IQ_HEADER_LEN..];
    if samples.len() % BYTES_PER_IQ_SAMPLE != 0 {
        return Err(FrameError::Ragged(samples.len()));
    }
    Ok(Frame::Snd { header, samples })
}

/// Full scale of the int16 samples: a sample of `FULL_SCALE` reads 1.0.
pub const FULL_SCALE: f32 = 32768.0;

/// Appends the IQ samples of an `SND` payload to `out`, scaled so int16 full scale is 1.0.
pub fn decode_iq(samples: &[u8], little_endian: bool, out: &mut Vec<Complex32>) {
    let scale = 1.0 / FULL_SCALE;
    out.extend(samples.chunks_exact(BYTES_PER_IQ_SAMPLE).map(|s| {
        let (i, q) = if little_endian {
            (i16::from_le_bytes([s[0], s[1]]), i16::from_le_bytes([s[2], s[3]]))
        } else {
            (i16::from_be_bytes([s[0], s[1]]), i16::from_be_bytes([s[2], s[3]]))
        };
        Complex32::new(f32::from(i) * scale, f32::from(q) * scale)
    }));
}

/// A sample converted to int16, rounded and clipped at full scale.
pub fn to_i16(x: f32) -> i16 {
    (x * FULL_SCALE).round().clamp(-32768.0, 32767.0) as i16
}

/// Encodes an IQ `SND` frame (big-endian samples unless `header.flags` says little-endian).
pub fn encode_snd(header: &SndHeader, samples: &[Complex32], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(SND_IQ_HEADER_LEN + samples.len() * BYTES_PER_IQ_SAMPLE);
    out.extend_from_slice(b"SND");
    out.push(header.flags);
    out.extend_from_slice(&header.sequence.to_le_bytes());
    out.extend_from_slice(&header.smeter.to_be_bytes());
    out.push(header.last_gps_solution);
    out.push(0);
    out.extend_from_slice(&header.gps_sec.to_le_bytes());
    out.extend_from_slice(&header.gps_nsec.to_le_bytes());
    let little = header.flags & flags::LITTLE_ENDIAN != 0;
    for s in samples {
        let (i, q) = (to_i16(s.re), to_i16(s.im));
        if little {
            out.extend_from_slice(&i.to_le_bytes());
            out.extend_from_slice(&q.to_le_bytes());
        } else {
            out.extend_from_slice(&i.to_be_bytes());
            out.extend_from_slice(&q.to_be_bytes());
        }
    }
}

/// Encodes a `MSG` frame of `name=value` pairs, URL-encoding the values (a pair with an empty
/// value and no `=` is written as the bare name, as in `MSG down`).
pub fn encode_msg(pairs: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut out = b"MSG".to_vec();
    for (name, value) in pairs {
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        if let Some(value) = value {
            out.push(b'=');
            out.extend_from_slice(url_encode(value).as_bytes());
        }
    }
    out
}

/// The `name=value` pairs of a `MSG` body, values URL-decoded (bare names get `None`).
/// Undecodable values are kept raw rather than dropped.
pub fn msg_pairs(body: &str) -> impl Iterator<Item = (&str, Option<String>)> {
    body.split(' ')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((name, value)) => (name, Some(url_decode(value).unwrap_or_else(|| value.to_string()))),
            None => (part, None),
        })
}

/// What a `MSG` pair means to a client.
#[derive(Debug, Clone, PartialEq)]
pub enum KiwiMessage {
    /// `sample_rate=`: the real, GPS-measured sample rate, Hz.
    SampleRate(f64),
    /// `audio_rate=`: the nominal rate the client must acknowledge with `SET AR OK`.
    AudioRate(f64),
    /// `badp=0`: the password was accepted.
    AuthOk,
    /// `badp=N` with N != 0: refused (1 = wrong password or no free channel, 5 = no second
    /// connection from this address...).
    BadPassword(u32),
    /// `too_busy=N`: all N channels are in use.
    TooBusy(u32),
    /// `redirect=URL`: the operator sends clients to another receiver.
    Redirect(String),
    /// `down`: the receiver is down for maintenance.
    Down,
    /// `rx_chans=N`: receiver channels.
    RxChannels(u32),
    /// `load_cfg=`: the receiver's configuration; the position when it has one.
    Config {
        /// `rx_gps`, when present and valid.
        position: Option<GeoPoint>,
        /// `rx_name`, when present.
        name: Option<String>,
    },
    /// `version_maj=`/`version_min=`.
    Version(String),
    /// Anything else (ignored).
    Other,
}

/// Interprets one `MSG` pair.
pub fn interpret(name: &str, value: Option<&str>) -> KiwiMessage {
    let number = || {
        value
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite())
    };
    let count = || value.and_then(|v| v.trim().parse::<u32>().ok());
    match name {
        "sample_rate" => number()
            .filter(|&r| r > 0.0)
            .map_or(KiwiMessage::Other, KiwiMessage::SampleRate),
        "audio_rate" => number()
            .filter(|&r| r > 0.0)
            .map_or(KiwiMessage::Other, KiwiMessage::AudioRate),
        "badp" => match count() {
            Some(0) => KiwiMessage::AuthOk,
            Some(code) => KiwiMessage::BadPassword(code),
            None => KiwiMessage::Other,
        },
        "too_busy" => KiwiMessage::TooBusy(count().unwrap_or(0)),
        "redirect" => KiwiMessage::Redirect(value.unwrap_or_default().to_string()),
        "down" => KiwiMessage::Down,
        "rx_chans" => count().map_or(KiwiMessage::Other, KiwiMessage::RxChannels),
        "version_maj" | "version_min" => {
            KiwiMessage::Version(format!("{name}={}", value.unwrap_or_default()))
        }
        "load_cfg" => {
            let json: Option<serde_json::Value> = value.and_then(|v| serde_json::from_str(v).ok());
            let position = json
                .as_ref()
                .and_then(|j| j.get("rx_gps"))
                .and_then(|g| g.as_str())
                .and_then(parse_rx_gps);
            let name = json
                .as_ref()
                .and_then(|j| j.get("rx_name"))
                .and_then(|n| n.as_str())
                .map(str::to_string);
            KiwiMessage::Config { position, name }
        }
        _ => KiwiMessage::Other,
    }
}

/// Parses `rx_gps` (`"(lat, lon)"`); `None` when malformed, out of range, or (0, 0), which
/// receivers send when the operator never entered a position.
pub fn parse_rx_gps(text: &str) -> Option<GeoPoint> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (lat, lon) = inner.split_once(',')?;
    let point = GeoPoint::new(lat.trim().parse().ok()?, lon.trim().parse().ok()?);
    (point.is_valid() && !(point.lat_deg == 0.0 && point.lon_deg == 0.0)).then_some(point)
}

/// Percent-encodes everything except unreserved characters (RFC 3986), as the server's
/// `kiwi_url_encode` and JavaScript's `encodeURIComponent` do for the characters that matter.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` as a space); `None` for a broken escape or non-UTF-8 result.
pub fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A client command, as the text of a WebSocket frame.
pub mod command {
    use super::url_encode;

    /// `SET auth t=kiwi p=<password>`.
    pub fn auth(password: &str) -> String {
        format!("SET auth t=kiwi p={}", url_encode(password))
    }

    /// `SET AR OK in=<rate> out=44100`: acknowledges the audio rate.
    pub fn audio_rate_ok(rate_hz: f64) -> String {
        format!("SET AR OK in={} out=44100", rate_hz.round() as i64)
    }

    /// The fixed-gain IQ set-up sent once the sample rate is known: squelch off, generator off,
    /// the user name, IQ mode with its passband and frequency, manual gain (AGC off, so powers
    /// compare between receivers), compression off.
    pub fn iq_setup(
        user: &str,
        frequency_hz: f64,
        low_cut_hz: i32,
        high_cut_hz: i32,
        manual_gain_db: u32,
    ) -> Vec<String> {
        vec![
            "SET squelch=0 max=0".to_string(),
            "SET genattn=0".to_string(),
            "SET gen=0 mix=-1".to_string(),
            format!("SET ident_user={}", url_encode(user)),
            format!(
                "SET mod=iq low_cut={low_cut_hz} high_cut={high_cut_hz} freq={:.3}",
                frequency_hz / 1e3
            ),
            format!("SET agc=0 hang=0 thresh=-100 slope=6 decay=1000 manGain={manual_gain_db}"),
            "SET compression=0".to_string(),
        ]
    }

    /// `SET keepalive`.
    pub const KEEPALIVE: &str = "SET keepalive";
}

/// The `name=value` pairs of a client `SET` command (bare words, like `OK` in `SET AR OK`,
/// get `None`); `None` when the text is not a `SET` command.
pub fn parse_set(text: &str) -> Option<Vec<(&str, Option<&str>)>> {
    let rest = text.strip_prefix("SET ")?;
    Some(
        rest.split(' ')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (p, None),
            })
            .collect(),
    )
}

/// The `key=value` lines of a receiver's `GET /status` page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusPage {
    /// `name`.
    pub name: Option<String>,
    /// `users`: channels in use.
    pub users: Option<u32>,
    /// `users_max`: channels.
    pub users_max: Option<u32>,
    /// `offline=yes`.
    pub offline: bool,
    /// `gps_good`: satellites in the solution, when reported.
    pub gps_good: Option<u32>,
    /// `gps`: the position, `(lat, lon)`.
    pub position: Option<GeoPoint>,
    /// `status=`, e.g. `active` or `offline`.
    pub status: Option<String>,
}

/// Parses a `/status` page; unknown and malformed lines are ignored.
pub fn parse_status_page(text: &str) -> StatusPage {
    let mut page = StatusPage::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "name" => page.name = Some(value.to_string()),
            "users" => page.users = value.parse().ok(),
            "users_max" => page.users_max = value.parse().ok(),
            "offline" => page.offline = value == "yes",
            "gps_good" => page.gps_good = value.parse().ok(),
            "gps" => page.position = parse_rx_gps(value),
            "status" => page.status = Some(value.to_string()),
            _ => {}
        }
    }
    page
}
