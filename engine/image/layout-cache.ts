// The RAM layout of a base's memory snapshot (where each page's bytes are), kept beside the snapshot so it is
// parsed once, not at every apply. Finding the layout means reading the whole snapshot (records are of two
// sizes, so no page's place is known before the ones ahead of it are read): 0.2-1 s for 0.5-2 GiB, which an
// apply or a handoff then reads again for the pages themselves. The sidecar (`<file>.layout`) is trusted only
// while the snapshot's size, mtime and inode are unchanged, on the digest sidecars' key (io/digest.ts), and only
// if it is consistent with the file it describes; anything else parses the snapshot again. It holds the
// snapshot's device state, so it is readable by its owner only, like the snapshot.
//
// Format: "CLLAYOUT1\n", u32 LE length of a JSON head, the JSON head (stat key, blocks, the verbatim regions
// base64), then `totalPages` float64 page offsets in the host's byte order (a cache of this host's).

import * as fs from 'node:fs';
import { FileKey, sameKey, statKey } from '../io/digest';
import { RamBlock, SaveFileLayout, parseSaveFile } from './savefile';

const MAGIC = Buffer.from('CLLAYOUT1\n', 'latin1');
/** Beyond any real head (the regions are the XML and the device state, both bounded by the parser). */
const MAX_HEAD = 64 << 20;

interface Head extends FileKey {
  sectionId: number;
  footers: boolean;
  blocks: RamBlock[];
  totalPages: number;
  resent: boolean;
  headerRegion: string;
  prologue: string;
  ramStart: string;
  tail: string;
}

function sidecarPath(file: string): string {
  return `${file}.layout`;
}

function readSidecar(file: string): SaveFileLayout | null {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(sidecarPath(file));
  } catch {
    return null;
  }
  try {
    if (raw.length < MAGIC.length + 4 || !raw.subarray(0, MAGIC.length).equals(MAGIC)) return null;
    const headLen = raw.readUInt32LE(MAGIC.length);
    const at = MAGIC.length + 4;
    if (headLen > MAX_HEAD || at + headLen > raw.length) return null;
    const h = JSON.parse(raw.toString('utf8', at, at + headLen)) as Head;
    const k = statKey(file);
    if (!sameKey(h, k)) return null;
    const offsetsAt = at + headLen;
    if (!Number.isInteger(h.totalPages) || h.totalPages < 0 || raw.length !== offsetsAt + h.totalPages * 8) return null;
    let pages = 0;
    for (const b of h.blocks) {
      if (b.firstPage !== pages || b.length % 4096 !== 0) return null;
      pages += b.length / 4096;
    }
    if (pages !== h.totalPages) return null;
    const pageOffsets = new Float64Array(h.totalPages);
    Buffer.from(pageOffsets.buffer).set(raw.subarray(offsetsAt));
    // Every page's bytes inside the file, or none: a wrong offset could only read the wrong bytes of the
    // snapshot (reads are bounded by the file), but it is cheap to refuse.
    for (let p = 0; p < pageOffsets.length; p++) {
      const o = pageOffsets[p];
      if (o !== -1 && !(Number.isInteger(o) && o >= 0 && o + 4096 <= k.size)) return null;
    }
    const b64 = (s: string) => Buffer.from(s, 'base64');
    return {
      headerRegion: b64(h.headerRegion),
      prologue: b64(h.prologue),
      ramStart: b64(h.ramStart),
      sectionId: h.sectionId,
      footers: h.footers,
      blocks: h.blocks,
      totalPages: h.totalPages,
      tail: b64(h.tail),
      pageOffsets,
      resent: h.resent,
    };
  } catch {
    return null;
  }
}

function writeSidecar(file: string, key: FileKey, l: SaveFileLayout): void {
  const head: Head = {
    ...key,
    sectionId: l.sectionId,
    footers: l.footers,
    blocks: l.blocks,
    totalPages: l.totalPages,
    resent: l.resent,
    headerRegion: l.headerRegion.toString('base64'),
    prologue: l.prologue.toString('base64'),
    ramStart: l.ramStart.toString('base64'),
    tail: l.tail.toString('base64'),
  };
  const json = Buffer.from(JSON.stringify(head));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const tmp = `${sidecarPath(file)}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, Buffer.concat([MAGIC, len, json, Buffer.from(l.pageOffsets.buffer, l.pageOffsets.byteOffset, l.pageOffsets.byteLength)]), { mode: 0o600 });
    fs.renameSync(tmp, sidecarPath(file));
  } catch {
    // a read-only directory just means parsing again next time
    fs.rmSync(tmp, { force: true });
  }
}

/** The layout of a snapshot that does not change (a base's): from its sidecar when that still holds, else parsed and kept. */
export async function baseSnapshotLayout(file: string): Promise<SaveFileLayout> {
  const cached = readSidecar(file);
  if (cached) return cached;
  const key = statKey(file);
  const layout = await parseSaveFile(file);
  // Kept only if the file did not change while it was read.
  if (sameKey(statKey(file), key)) writeSidecar(file, key, layout);
  return layout;
}
