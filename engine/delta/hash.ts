// Chunk fingerprints for the dedup index. The index only needs a fast, well-mixed 32-bit filter: every
// candidate it yields is confirmed by comparing bytes, so a collision costs a read, never correctness.

export const CHUNK_SIZE = 4096;
const WORDS = CHUNK_SIZE / 4;

/**
 * 32-bit hash of the 4 KiB chunk at `words[wordOffset..]`. Four independent multiply-rotate lanes keep the
 * CPU's multipliers busy; the final mix spreads every input bit over the result.
 */
export function chunkHash(words: Int32Array, wordOffset: number): number {
  let a = 0x9e3779b1 | 0;
  let b = 0x85ebca77 | 0;
  let c = 0xc2b2ae3d | 0;
  let d = 0x27d4eb2f | 0;
  const end = wordOffset + WORDS;
  for (let i = wordOffset; i < end; i += 4) {
    a = Math.imul(a ^ words[i], 0x01000193);
    b = Math.imul(b ^ words[i + 1], 0x5bd1e995);
    c = Math.imul(c ^ words[i + 2], 0x01000193);
    d = Math.imul(d ^ words[i + 3], 0x5bd1e995);
    a = (a << 13) | (a >>> 19);
    b = (b << 15) | (b >>> 17);
    c = (c << 11) | (c >>> 21);
    d = (d << 17) | (d >>> 15);
  }
  let h = a ^ Math.imul(b, 0x27d4eb2d) ^ Math.imul(c, 0x165667b1) ^ Math.imul(d, 0x85ebca6b);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** True when the 4 KiB chunk at `words[wordOffset..]` is all zero bytes. */
export function isZeroChunk(words: Int32Array, wordOffset: number): boolean {
  const end = wordOffset + WORDS;
  for (let i = wordOffset; i < end; i++) if (words[i] !== 0) return false;
  return true;
}

/** An Int32Array view over a Buffer whose byteOffset is 4-aligned (allocations from Buffer.alloc* are). */
export function wordsOf(buf: Uint8Array): Int32Array {
  if (buf.byteOffset % 4 !== 0) throw new Error('chunk buffer not 4-byte aligned');
  return new Int32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2);
}
