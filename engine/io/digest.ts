// SHA-256 digests of base files, with a sidecar cache so a base is hashed once, not on every apply. The
// sidecar (`<file>.sha256.json`) is trusted only while the file's size, mtime and inode are unchanged.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { ioError } from '../errors';

interface Sidecar extends FileKey {
  sha256: string;
}

function sidecarPath(path: string): string {
  return `${path}.sha256.json`;
}

/** What a sidecar made from a file is keyed on: the file is the same while its size, mtime and inode are. */
export interface FileKey {
  size: number;
  mtimeNs: string;
  ino: number;
}

export function statKey(path: string): FileKey {
  const st = fs.statSync(path, { bigint: true });
  return { size: Number(st.size), mtimeNs: String(st.mtimeNs), ino: Number(st.ino) };
}

export function sameKey(a: FileKey, b: FileKey): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino;
}

/** A digest from the sidecar if it is still valid, else undefined. */
export function cachedDigest(path: string): string | undefined {
  try {
    const s = JSON.parse(fs.readFileSync(sidecarPath(path), 'utf8')) as Sidecar;
    if (sameKey(s, statKey(path)) && /^[0-9a-f]{64}$/.test(s.sha256)) return s.sha256;
  } catch {
    // missing or unreadable sidecar: compute
  }
  return undefined;
}

/** Records a digest computed elsewhere (e.g. while the file was being indexed); best effort. */
export function rememberDigest(path: string, sha256: string): void {
  try {
    const tmp = `${sidecarPath(path)}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ sha256, ...statKey(path) }));
    fs.renameSync(tmp, sidecarPath(path));
  } catch {
    // a read-only base directory just means hashing again next time
  }
}

export async function fileDigest(path: string): Promise<string> {
  const cached = cachedDigest(path);
  if (cached) return cached;
  const h = createHash('sha256');
  try {
    for await (const chunk of fs.createReadStream(path, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
  } catch (e) {
    throw ioError('cannot read', path, e);
  }
  const d = h.digest('hex');
  rememberDigest(path, d);
  return d;
}
