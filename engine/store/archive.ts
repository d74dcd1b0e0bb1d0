// Base VM archives: a plain POSIX tar (ustar; base-256 sizes beyond 8 GiB; pax `path`/`size` records read)
// whose first member is `cloudlet-base.json` naming every other member with its size and SHA-256:
//
//   { "format": 1, "id": "<base id>", "name": "...", "files": { "disk": {"name": "disk.raw", "bytes": N,
//     "sha256": "..."}, "memory": {...}, "kernel": {...}?, "initrd": {...}? }, "cmdline"?: "..." }
//
// The reader streams: each member goes straight to its file while it is hashed, so an archive is never held
// in memory and a truncated or tampered download is caught before anything is stored. `tar tf` lists it and
// `tar cf` of those files (manifest first) makes one.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudletError, ioError } from '../errors';
import { ByteSource, SequentialReader } from '../io/io';

export const MANIFEST_NAME = 'cloudlet-base.json';
const BLOCK = 512;
const MAX_MANIFEST = 1 << 20;
const MAX_PAX = 64 << 10;
const FILE_KEYS = ['disk', 'memory', 'kernel', 'initrd'] as const;
export type ArchiveFileKey = (typeof FILE_KEYS)[number];
const FILE_NAMES: Record<ArchiveFileKey, string> = { disk: 'disk.raw', memory: 'memory.save', kernel: 'kernel', initrd: 'initrd.img' };

export interface ArchiveManifest {
  format: 1;
  id: string;
  name: string;
  files: Partial<Record<ArchiveFileKey, { name: string; bytes: number; sha256: string }>>;
}

const invalid = (m: string) => new CloudletError('ARCHIVE_INVALID', m);

export function validateManifest(raw: unknown, what: string): ArchiveManifest {
  const m = raw as ArchiveManifest;
  if (!m || typeof m !== 'object') throw invalid(`${what}: ${MANIFEST_NAME} is not a JSON object`);
  if (m.format !== 1) throw invalid(`${what}: unsupported base archive format ${JSON.stringify(m.format)} (this engine reads 1)`);
  if (typeof m.id !== 'string' || !/^[0-9a-f]{64}$/.test(m.id)) throw invalid(`${what}: manifest id must be 64 hex digits`);
  if (typeof m.name !== 'string' || m.name.length > 200) throw invalid(`${what}: manifest name must be a string`);
  if (!m.files || typeof m.files !== 'object') throw invalid(`${what}: manifest has no files`);
  for (const [k, f] of Object.entries(m.files)) {
    if (!(FILE_KEYS as readonly string[]).includes(k)) throw invalid(`${what}: unknown file kind ${JSON.stringify(k)} in the manifest`);
    if (!f || typeof f.name !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(f.name)) throw invalid(`${what}: bad member name for ${k}`);
    if (!Number.isSafeInteger(f.bytes) || f.bytes < 0) throw invalid(`${what}: bad size for ${k}`);
    if (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) throw invalid(`${what}: bad sha256 for ${k}`);
  }
  if (!m.files.disk || !m.files.memory) throw invalid(`${what}: a base archive needs at least a disk and a memory snapshot`);
  return m;
}

function octal(b: Buffer, at: number, len: number, what: string): number {
  if (b[at] & 0x80) {
    // base-256 (GNU), big-endian in the remaining bytes
    let v = 0;
    for (let i = at + 1; i < at + len; i++) {
      v = v * 256 + b[i];
      if (v > Number.MAX_SAFE_INTEGER) throw invalid(`${what}: size field too large`);
    }
    return v;
  }
  const s = b
    .toString('latin1', at, at + len)
    .replace(/[\0 ]+$/g, '')
    .replace(/^ +/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw invalid(`${what}: not a tar archive (bad numeric field)`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  const stored = h
    .toString('latin1', 148, 156)
    .replace(/[\0 ]+$/g, '')
    .trim();
  return /^[0-7]+$/.test(stored) && parseInt(stored, 8) === sum;
}

export interface ReadArchiveOptions {
  source: ByteSource;
  what: string;
  /** Directory the members are written into (under the names in FILE_NAMES). */
  dir: string;
  /** Called once the manifest is read; return false to stop reading (e.g. the base is already stored). */
  onManifest?: (m: ArchiveManifest) => boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Reads a base archive into `dir`; returns the manifest, or null if onManifest stopped it. */
export async function readBaseArchive(o: ReadArchiveOptions): Promise<ArchiveManifest | null> {
  const r = new SequentialReader(o.source, o.what, 'ARCHIVE_INVALID');
  let manifest: ArchiveManifest | null = null;
  const seen = new Set<string>();
  let total = 0;
  let done = 0;
  let paxPath: string | undefined;
  let paxSize: number | undefined;
  for (;;) {
    if (!(await r.fill(BLOCK))) throw invalid(`${o.what}: the archive ends without its end-of-archive marker (truncated?)`);
    await r.ensure(BLOCK, 'a tar header');
    const h = Buffer.from(r.take(BLOCK));
    if (h.every((x) => x === 0)) break;
    if (!checksumOk(h)) throw invalid(`${o.what}: not a tar archive, or a corrupt header at byte ${r.position - BLOCK}`);
    const type = String.fromCharCode(h[156] || 48);
    const field = (from: number, to: number) => h.toString('utf8', from, to).replace(/\0.*$/s, '');
    const prefix = field(345, 500);
    const rawName = (prefix ? `${prefix}/` : '') + field(0, 100);
    const size = paxSize ?? octal(h, 124, 12, o.what);
    const name = (paxPath ?? rawName).replace(/^\.\//, '');
    paxPath = paxSize = undefined;
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      if (size > MAX_PAX) throw invalid(`${o.what}: pax header of ${size} bytes is too large`);
      await r.ensure(padded, 'a pax header');
      const text = Buffer.from(r.take(padded)).toString('utf8', 0, size);
      for (const line of text.split('\n')) {
        const m = /^\d+ (path|size)=(.*)$/.exec(line);
        if (m?.[1] === 'path') paxPath = m[2];
        if (m?.[1] === 'size') paxSize = Number(m[2]);
      }
      if (paxSize !== undefined && !Number.isSafeInteger(paxSize)) throw invalid(`${o.what}: bad pax size`);
      continue;
    }
    if (type === 'g' || type === '5') {
      await skip(r, padded);
      continue;
    }
    if (type !== '0') throw invalid(`${o.what}: member ${JSON.stringify(name)} has tar type '${type}'; only regular files are allowed`);
    if (!manifest) {
      if (name !== MANIFEST_NAME) throw invalid(`${o.what}: the first member must be ${MANIFEST_NAME}, found ${JSON.stringify(name)}`);
      if (size > MAX_MANIFEST) throw invalid(`${o.what}: ${MANIFEST_NAME} of ${size} bytes is too large`);
      await r.ensure(padded, MANIFEST_NAME);
      const text = Buffer.from(r.take(padded)).toString('utf8', 0, size);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw invalid(`${o.what}: ${MANIFEST_NAME} is not valid JSON (${(e as Error).message})`);
      }
      manifest = validateManifest(parsed, o.what);
      total = Object.values(manifest.files).reduce((a, f) => a + f.bytes, 0);
      if (o.onManifest && !o.onManifest(manifest)) return null;
      continue;
    }
    const key = (Object.keys(manifest.files) as ArchiveFileKey[]).find((k) => manifest!.files[k]!.name === name);
    if (!key) throw invalid(`${o.what}: member ${JSON.stringify(name)} is not in the manifest`);
    if (seen.has(key)) throw invalid(`${o.what}: member ${JSON.stringify(name)} appears twice`);
    seen.add(key);
    const want = manifest.files[key]!;
    if (size !== want.bytes) throw invalid(`${o.what}: member ${name} is ${size} bytes, the manifest says ${want.bytes}`);
    const dest = path.join(o.dir, FILE_NAMES[key]);
    const hash = createHash('sha256');
    let fd: number;
    try {
      fd = fs.openSync(dest, 'wx');
    } catch (e) {
      throw ioError('cannot create', dest, e);
    }
    try {
      let left = size;
      let filePos = 0;
      while (left > 0) {
        if (!(await r.fill(1))) throw invalid(`${o.what}: the archive ends inside ${name} (truncated download?)`);
        const n = Math.min(left, r.buffered, 4 << 20);
        const piece = r.take(n);
        hash.update(piece);
        // Runs of zeros are left as holes: raw disks stay sparse.
        if (!isZero(piece)) fs.writeSync(fd, piece, 0, n, filePos);
        filePos += n;
        left -= n;
        done += n;
        o.onProgress?.(done, total);
      }
      fs.ftruncateSync(fd, size);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (hash.digest('hex') !== want.sha256) throw new CloudletError('HASH_MISMATCH', `${o.what}: ${name} does not match the SHA-256 in the manifest`);
    await skip(r, padded - size);
  }
  if (!manifest) throw invalid(`${o.what}: empty archive`);
  for (const k of Object.keys(manifest.files)) if (!seen.has(k)) throw invalid(`${o.what}: member ${manifest.files[k as ArchiveFileKey]!.name} is missing (truncated?)`);
  return manifest;
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

async function skip(r: SequentialReader, n: number): Promise<void> {
  let left = n;
  while (left > 0) {
    if (!(await r.fill(1))) throw invalid('archive ends early (truncated?)');
    const k = Math.min(left, r.buffered);
    r.take(k);
    left -= k;
  }
}

function header(name: string, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  if (size < 8 * 1024 ** 3) h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  else {
    h[124] = 0x80;
    let v = size;
    for (let i = 135; i > 124; i--) {
      h[i] = v % 256;
      v = Math.floor(v / 256);
    }
  }
  h.write('00000000000\0', 136, 'latin1');
  h.write('0', 156, 'latin1');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.fill(32, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

/** Size in bytes of the archive writeBaseArchive produces. */
export function archiveBytes(manifest: ArchiveManifest): number {
  const pad = (n: number) => Math.ceil(n / BLOCK) * BLOCK;
  let n = BLOCK + pad(Buffer.byteLength(JSON.stringify(manifest, null, 2) + '\n'));
  for (const f of Object.values(manifest.files)) n += BLOCK + pad(f.bytes);
  return n + 2 * BLOCK;
}

/** Streams a base archive: manifest, then each member, then the end marker. */
export async function* writeBaseArchive(manifest: ArchiveManifest, files: Partial<Record<ArchiveFileKey, string>>): AsyncGenerator<Buffer> {
  const text = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
  const padTo = (n: number) => Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);
  yield header(MANIFEST_NAME, text.length);
  yield Buffer.concat([text, padTo(text.length)]);
  for (const key of FILE_KEYS) {
    const f = manifest.files[key];
    if (!f) continue;
    yield header(f.name, f.bytes);
    let sent = 0;
    for await (const chunk of fs.createReadStream(files[key]!, { highWaterMark: 4 << 20 })) {
      sent += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    if (sent !== f.bytes) throw new CloudletError('IO', `${files[key]} changed size while being archived`);
    yield padTo(f.bytes);
  }
  yield Buffer.alloc(2 * BLOCK);
}

export function memberName(key: ArchiveFileKey): string {
  return FILE_NAMES[key];
}
