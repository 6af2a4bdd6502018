//! The Red Pitaya SDR transceiver's TCP protocol, as spoken by `soapysdr-module-redpitaya`.
//!
//! Every connection opens with one little-endian `u32` naming its role. The RX control
//! connection then carries `u32` commands whose top four bits select the command and whose low
//! 28 bits carry the value; the RX data connection carries interleaved little-endian `f32` I/Q
//! from the server to the client.

/// Bytes per block the real server writes on the data connection (2048 CF32 samples).
pub const BLOCK_BYTES: usize = 16_384;

/// Bytes per CF32 sample on the wire.
pub const SAMPLE_BYTES: usize = 8;

/// Samples per data block.
pub const BLOCK_SAMPLES: usize = BLOCK_BYTES / SAMPLE_BYTES;

/// Sample rates selected by the rate command's index, samples/s.
pub const SAMPLE_RATES: [f64; 6] = [20e3, 50e3, 100e3, 250e3, 500e3, 1.25e6];

/// Highest frequency the real server accepts, Hz; higher tuning commands are ignored.
pub const MAX_FREQUENCY_HZ: u32 = 61_440_000;

/// What a connection is for, from its first `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// RX control: tuning and rate commands from the client.
    RxControl,
    /// RX data: samples to the client.
    RxData,
    /// TX control (accepted and ignored: the emulator has no transmitter).
    TxControl,
    /// TX data (accepted and discarded).
    TxData,
}

impl Role {
    /// Decodes the opening word of a connection.
    pub fn from_word(word: u32) -> Option<Role> {
        match word {
            0 => Some(Role::RxControl),
            1 => Some(Role::RxData),
            2 => Some(Role::TxControl),
            3 => Some(Role::TxData),
            _ => None,
        }
    }
}

/// A command on a control connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    /// Tune to this frequency, Hz.
    Frequency(u32),
    /// Select `SAMPLE_RATES[index]`.
    Rate(usize),
    /// A command this emulator does not know (the raw word).
    Unknown(u32),
}

impl Command {
    /// Decodes one control word: code in bits 28..32, value in bits 0..28.
    pub fn from_word(word: u32) -> Command {
        let value = word & 0x0FFF_FFFF;
        match word >> 28 {
            0 => Command::Frequency(value),
            1 => Command::Rate(value as usize),
            _ => Command::Unknown(word),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_words_the_driver_sends() {
        assert_eq!(Command::from_word(7_100_000), Command::Frequency(7_100_000));
        assert_eq!(Command::from_word(2 | (1 << 28)), Command::Rate(2));
        assert_eq!(Command::from_word(0x3000_0001), Command::Unknown(0x3000_0001));
        assert_eq!(Role::from_word(1), Some(Role::RxData));
        assert_eq!(Role::from_word(9), None);
    }
}
