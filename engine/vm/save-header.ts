// The domain XML inside a libvirt save file's header. libvirt restores a save with the XML stored in it, and
// refuses an XML passed at restore time whose UUID differs; two instances of one base on one cloudlet need
// different UUIDs and names, so the engine writes each instance's own XML into the header of its own copy.
//
// Header (see engine/image/savefile.ts): 16-byte magic, then little-endian u32 version, data_len,
// was_running, compressed, cookie_offset, 14 unused; then data_len bytes: XML, NUL, cookie, NUL, zero padding.
// libvirt pads the region generously (about 64 KiB), so a rewritten XML almost always fits in place.

import * as fs from 'node:fs';
import { CloudletError, ioError } from '../errors';

const MAGIC = 'LibvirtQemudSave';
const HEADER_BYTES = 92;
const MAX_DATA = 16 << 20;

export interface SaveHeader {
  /** The fixed-size header as read (magic, version and flag fields). */
  fixed: Buffer;
  dataLen: number;
  wasRunning: boolean;
  xml: string;
  cookie: string;
}

function parse(head: Buffer, file: string): SaveHeader {
  const bad = (m: string) => new CloudletError('SAVEFILE_INVALID', `${file}: ${m}`);
  if (head.length < HEADER_BYTES || head.toString('latin1', 0, 16) !== MAGIC) throw bad('not a libvirt QEMU save file (bad magic)');
  if (head.readUInt32LE(16) !== 2) throw new CloudletError('SAVEFILE_UNSUPPORTED', `${file}: libvirt save format version ${head.readUInt32LE(16)} (only 2 is supported)`);
  const dataLen = head.readUInt32LE(20);
  if (dataLen > MAX_DATA) throw bad(`XML region of ${dataLen} bytes is beyond the ${MAX_DATA}-byte limit`);
  if (head.length < HEADER_BYTES + dataLen) throw bad('the file ends inside the domain XML');
  const data = head.subarray(HEADER_BYTES, HEADER_BYTES + dataLen);
  const cookieOffset = head.readUInt32LE(32);
  const xmlEnd = data.indexOf(0);
  if (xmlEnd < 0) throw bad('the domain XML is not terminated');
  let cookie = '';
  if (cookieOffset > 0) {
    if (cookieOffset > dataLen) throw bad(`cookie offset ${cookieOffset} lies outside the ${dataLen}-byte XML region`);
    const end = data.indexOf(0, cookieOffset);
    cookie = data.toString('utf8', cookieOffset, end < 0 ? dataLen : end);
  }
  return { fixed: Buffer.from(head.subarray(0, HEADER_BYTES)), dataLen, wasRunning: head.readUInt32LE(24) !== 0, xml: data.toString('utf8', 0, xmlEnd), cookie };
}

/** Reads the domain XML (and libvirt's cookie) from a save file without touching the memory image. */
export function readSaveHeader(file: string): SaveHeader {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw ioError('cannot open memory snapshot', file, e);
  }
  try {
    const first = Buffer.alloc(HEADER_BYTES);
    const n = fs.readSync(fd, first, 0, HEADER_BYTES, 0);
    if (n < HEADER_BYTES || first.toString('latin1', 0, 16) !== MAGIC) throw new CloudletError('SAVEFILE_INVALID', `${file}: not a libvirt QEMU save file (bad magic)`);
    const dataLen = Math.min(first.readUInt32LE(20), MAX_DATA + 1); // parse() reports an oversized region
    const all = Buffer.alloc(HEADER_BYTES + dataLen);
    const got = fs.readSync(fd, all, 0, all.length, 0);
    return parse(all.subarray(0, got), file);
  } finally {
    fs.closeSync(fd);
  }
}

function encodeData(h: Pick<SaveHeader, 'xml' | 'cookie'>, dataLen: number): { data: Buffer; cookieOffset: number } | null {
  const xml = Buffer.from(h.xml, 'utf8');
  const cookie = Buffer.from(h.cookie, 'utf8');
  const need = xml.length + 1 + (cookie.length > 0 ? cookie.length + 1 : 0);
  if (need > dataLen) return null;
  const data = Buffer.alloc(dataLen);
  xml.copy(data, 0);
  if (cookie.length > 0) cookie.copy(data, xml.length + 1);
  return { data, cookieOffset: cookie.length > 0 ? xml.length + 1 : 0 };
}

/**
 * Replaces the domain XML in a save file in place. Returns false (and changes nothing) when the new XML does
 * not fit the file's padded XML region; callers then use copyWithDomainXml.
 */
export function patchDomainXmlInPlace(file: string, xml: string): boolean {
  const h = readSaveHeader(file);
  const enc = encodeData({ xml, cookie: h.cookie }, h.dataLen);
  if (!enc) return false;
  const fd = fs.openSync(file, 'r+');
  try {
    const off = Buffer.alloc(4);
    off.writeUInt32LE(enc.cookieOffset);
    fs.writeSync(fd, off, 0, 4, 32);
    fs.writeSync(fd, enc.data, 0, enc.data.length, HEADER_BYTES);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/**
 * Everything a save file holds before its QEMU migration stream, with `xml` as the domain XML: the header of
 * `template` (a save file of the same VM, for libvirt's version fields and cookie). A live migration stream
 * appended to these bytes is a save file libvirt restores (the handoff's destination side).
 */
export function saveHeaderFor(template: string, xml: string): Buffer {
  return headerBytes(readSaveHeader(template), xml);
}

/**
 * A save file's header region (as an overlay carries it) with its domain XML replaced by `xml(the old one)`:
 * written at the head of a rebuilt save file, so that a restore may start reading it before it is whole.
 */
export function headerRegionWithXml(region: Buffer, xml: (old: string) => string, name: string): Buffer {
  const h = parse(region, name);
  return headerBytes(h, xml(h.xml));
}

function headerBytes(h: SaveHeader, xml: string): Buffer {
  const dataLen = Math.max(h.dataLen, Buffer.byteLength(xml) + Buffer.byteLength(h.cookie) + 4096);
  const enc = encodeData({ xml, cookie: h.cookie }, dataLen)!;
  const head = Buffer.from(h.fixed);
  head.writeUInt32LE(dataLen, 20);
  head.writeUInt32LE(enc.cookieOffset, 32);
  return Buffer.concat([head, enc.data]);
}

/** Writes `dst`: the save file `src` with its domain XML replaced (the memory image copied unchanged). */
export async function copyWithDomainXml(src: string, dst: string, xml: string): Promise<void> {
  const h = readSaveHeader(src);
  const out = fs.createWriteStream(dst, { flags: 'wx' });
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', () => resolve());
    out.on('error', reject);
  });
  out.write(headerBytes(h, xml));
  const rest = fs.createReadStream(src, { start: HEADER_BYTES + h.dataLen, highWaterMark: 4 << 20 });
  rest.pipe(out);
  await Promise.all([
    done,
    new Promise<void>((resolve, reject) => {
      rest.on('end', () => resolve());
      rest.on('error', reject);
    }),
  ]).catch((e) => {
    throw ioError('cannot write memory snapshot', dst, e);
  });
  const fd = fs.openSync(dst, 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}
