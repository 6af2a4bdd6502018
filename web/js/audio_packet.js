// One audio packet of a listener (a binary WebSocket frame), checked and decoded. Pure: no
// state, no DOM. The layout (little-endian) is src/audio/packet.rs's:
//
//   0      kind, 1 = audio          1      codec, 1 = IMA ADPCM
//   2-5    seq (u32; 0 for the first packet of a listen, +1 each: a gap is loss)
//   6-13   time_ns (i64): when the antenna received the first sample, ns since the epoch
//   14-15  ADPCM predictor at the start (i16)   16  ADPCM step index at the start (0-88)
//   17     flags, bit 0: squelch open          18-19  channel power (i16, 0.01 dBFS)
//   20-21  samples (u16)                        22-    4 bits a sample, the first in the low nibble
//
// Every packet carries the coder state it starts from, so it decodes alone.

const HEADER_BYTES = 22;
const KIND_AUDIO = 1;
const CODEC_IMA_ADPCM = 1;

/** IMA ADPCM: the step index change per code (its sign bit ignored). */
const INDEX_CHANGE = [-1, -1, -1, -1, 2, 4, 6, 8];
/** IMA ADPCM: the quantizer step per step index. */
const STEPS = [
  7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66, 73, 80, 88, 97, 107, 118, 130, 143, 157, 173,
  190, 209, 230, 253, 279, 307, 337, 371, 408, 449, 494, 544, 598, 658, 724, 796, 876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066,
  2272, 2499, 2749, 3024, 3327, 3660, 4026, 4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630, 9493, 10442, 11487, 12635, 13899, 15289, 16818,
  18500, 20350, 22385, 24623, 27086, 29794, 32767,
];

/** A packet's header and its coded samples: {seq, timeMs (antenna time of the first sample,
 * epoch ms), squelchOpen, powerDbfs, count, predictor, index, codes}; null if it is not one. */
export function parsePacket(buf) {
  if (!(buf instanceof ArrayBuffer) || buf.byteLength < HEADER_BYTES) return null;
  const v = new DataView(buf);
  if (v.getUint8(0) !== KIND_AUDIO || v.getUint8(1) !== CODEC_IMA_ADPCM) return null;
  const count = v.getUint16(20, true);
  if (buf.byteLength < HEADER_BYTES + Math.ceil(count / 2)) return null;
  // ns since the epoch outgrow a double's 53 bits: whole microseconds first, exactly.
  const ns = v.getBigInt64(6, true);
  return {
    seq: v.getUint32(2, true),
    timeMs: Number(ns / 1000n) / 1000,
    squelchOpen: (v.getUint8(17) & 1) !== 0,
    powerDbfs: v.getInt16(18, true) / 100,
    count,
    predictor: v.getInt16(14, true),
    index: Math.min(88, v.getUint8(16)),
    codes: new Uint8Array(buf, HEADER_BYTES),
  };
}

/** The packet's samples, full scale ±1, decoded from the coder state in its header. */
export function decodeSamples(p) {
  const out = new Float32Array(p.count);
  let predictor = p.predictor;
  let index = p.index;
  for (let i = 0; i < p.count; i++) {
    const byte = p.codes[i >> 1];
    const code = i & 1 ? byte >> 4 : byte & 15;
    const step = STEPS[index];
    let delta = step >> 3;
    if (code & 4) delta += step;
    if (code & 2) delta += step >> 1;
    if (code & 1) delta += step >> 2;
    predictor = code & 8 ? predictor - delta : predictor + delta;
    if (predictor > 32767) predictor = 32767;
    else if (predictor < -32768) predictor = -32768;
    index += INDEX_CHANGE[code & 7];
    if (index < 0) index = 0;
    else if (index > 88) index = 88;
    out[i] = predictor / 32768;
  }
  return out;
}
