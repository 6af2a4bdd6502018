//! IMA ADPCM (the Interactive Multimedia Association's 4-bit adaptive differential PCM, as in
//! WAV files of format 0x11 and in OpenWebRX's audio): 16-bit samples in 4 bits each, a 4:1
//! compression with no frame delay, decoded by a few lines of JavaScript in the browser.
//!
//! Every packet starts from the encoder state it was encoded from ([`State`], sent in its
//! header), so a lost packet costs its own audio only and never corrupts the next one.

/// Step index change per code (the sign bit ignored).
const INDEX_CHANGE: [i8; 8] = [-1, -1, -1, -1, 2, 4, 6, 8];

/// Quantizer step sizes, by step index (0-88).
const STEPS: [i16; 89] = [
    7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66, 73, 80, 88,
    97, 107, 118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408, 449, 494, 544, 598, 658,
    724, 796, 876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066, 2272, 2499, 2749, 3024, 3327, 3660,
    4026, 4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630, 9493, 10442, 11487, 12635, 13899, 15289, 16818,
    18500, 20350, 22385, 24623, 27086, 29794, 32767,
];

/// The coder's state: the predicted sample and the step index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State {
    /// The predicted (last decoded) sample.
    pub predictor: i16,
    /// Index into the step table, 0-88.
    pub index: u8,
}

impl State {
    /// Applies `code` (4 bits): the decoded sample, and the state moves on.
    pub fn decode(&mut self, code: u8) -> i16 {
        let step = i32::from(STEPS[usize::from(self.index)]);
        let mut delta = step >> 3;
        if code & 4 != 0 {
            delta += step;
        }
        if code & 2 != 0 {
            delta += step >> 1;
        }
        if code & 1 != 0 {
            delta += step >> 2;
        }
        let sample = if code & 8 != 0 {
            i32::from(self.predictor) - delta
        } else {
            i32::from(self.predictor) + delta
        };
        self.predictor = sample.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        let index = i32::from(self.index) + i32::from(INDEX_CHANGE[usize::from(code & 7)]);
        self.index = index.clamp(0, STEPS.len() as i32 - 1) as u8;
        self.predictor
    }

    /// The code that best follows `sample`; the state moves on as the decoder's will.
    pub fn encode(&mut self, sample: i16) -> u8 {
        let step = i32::from(STEPS[usize::from(self.index)]);
        let mut diff = i32::from(sample) - i32::from(self.predictor);
        let mut code = 0u8;
        if diff < 0 {
            code = 8;
            diff = -diff;
        }
        let mut part = step;
        for bit in [4u8, 2, 1] {
            if diff >= part {
                code |= bit;
                diff -= part;
            }
            part >>= 1;
        }
        // The decoder's reconstruction, so both stay in step.
        self.decode(code);
        code
    }
}

/// Encodes `samples` (full scale +-1) from `state` into `out`, two samples a byte, the first in
/// the low nibble (an odd count leaves the last high nibble 0).
pub fn encode(state: &mut State, samples: &[f32], out: &mut Vec<u8>) {
    for pair in samples.chunks(2) {
        let mut byte = state.encode(to_i16(pair[0]));
        if let Some(&second) = pair.get(1) {
            byte |= state.encode(to_i16(second)) << 4;
        }
        out.push(byte);
    }
}

/// Decodes `count` samples of `data` from `state` (full scale +-1).
pub fn decode(state: &mut State, data: &[u8], count: usize, out: &mut Vec<f32>) {
    for n in 0..count {
        let Some(byte) = data.get(n / 2) else { break };
        let code = if n % 2 == 0 { byte & 0x0f } else { byte >> 4 };
        out.push(f32::from(state.decode(code)) / 32768.0);
    }
}

fn to_i16(sample: f32) -> i16 {
    (sample * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tone through the codec comes back within the codec's noise: IMA ADPCM of a
    /// half-scale tone well inside the band keeps an SNR above 25 dB once the step has adapted.
    #[test]
    fn a_tone_round_trips_with_its_snr() {
        let rate = 12_000.0;
        let tone: Vec<f32> = (0..12_000)
            .map(|n| 0.5 * (std::f32::consts::TAU * 1_000.0 * n as f32 / rate).sin())
            .collect();
        let mut bytes = Vec::new();
        encode(&mut State::default(), &tone, &mut bytes);
        assert_eq!(bytes.len(), 6_000, "4 bits a sample");
        let mut back = Vec::new();
        decode(&mut State::default(), &bytes, tone.len(), &mut back);
        // After the first 100 samples (the step adapts from its smallest).
        let (signal, noise) = tone[100..]
            .iter()
            .zip(&back[100..])
            .fold((0.0f64, 0.0f64), |(s, n), (a, b)| {
                (s + f64::from(*a).powi(2), n + f64::from(a - b).powi(2))
            });
        let snr_db = 10.0 * (signal / noise).log10();
        assert!(snr_db > 25.0, "SNR {snr_db:.1} dB");
    }

    #[test]
    fn a_packet_decodes_alone_from_the_state_it_was_encoded_from() {
        let samples: Vec<f32> = (0..300)
            .map(|n| ((n * 37 % 200) as f32 / 100.0 - 1.0) * 0.3)
            .collect();
        let mut state = State::default();
        let mut first = Vec::new();
        encode(&mut state, &samples[..150], &mut first);
        let middle = state;
        let mut second = Vec::new();
        encode(&mut state, &samples[150..], &mut second);
        let mut alone = Vec::new();
        let mut from = middle;
        decode(&mut from, &second, 150, &mut alone);
        let mut through = Vec::new();
        let mut all = State::default();
        decode(&mut all, &first, 150, &mut Vec::new());
        decode(&mut all, &second, 150, &mut through);
        assert_eq!(alone, through);
    }

    #[test]
    fn extremes_clamp_instead_of_wrapping() {
        let loud = vec![1.5f32; 400];
        let mut bytes = Vec::new();
        encode(&mut State::default(), &loud, &mut bytes);
        let mut back = Vec::new();
        decode(&mut State::default(), &bytes, loud.len(), &mut back);
        assert!(back[300..].iter().all(|&s| s > 0.9), "{:?}", &back[390..]);
    }
}
