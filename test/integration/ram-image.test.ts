// The memory image and the sparse save files, byte for byte and without a VM (the tiny guest's real snapshots):
// the image holds the base's main RAM at its place; a sparse apply, laid over the image, gives exactly the
// memory the full apply gives; a base save without its main RAM keeps everything else; a changed image is
// not vouched for.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAIN_RAM_BLOCK, SaveFileLayout, parseSaveFile, parseSaveStream } from '../../engine/image/savefile';
import { RandomAccessFile, fileSource } from '../../engine/io/io';
import { mainRamBlock, ramImageIntact, writeRamImage, writeSaveWithoutMainRam } from '../../engine/image/ram-image';
import { applyOverlay } from '../../engine/overlay/apply';
import { createOverlay } from '../../engine/overlay/writer';
import { readSaveHeader, saveHeaderFor } from '../../engine/vm/save-header';
import { ensureGuest } from '../vms/guest';

jest.setTimeout(600000);

const PAGE = 4096;
let dir = '';
let guest: Awaited<ReturnType<typeof ensureGuest>>;

beforeAll(async () => {
  guest = await ensureGuest('tiny');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ram-image-'));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The content of page p of a parsed save file (zeros where it holds none). */
function pageOf(l: SaveFileLayout, p: number, fd: number): Buffer {
  const b = Buffer.alloc(PAGE);
  if (l.pageOffsets[p] >= 0) fs.readSync(fd, b, 0, PAGE, l.pageOffsets[p]);
  return b;
}

test('the image is the base main RAM, page for page, with zero pages as holes', async () => {
  const image = path.join(dir, 'memory.ram');
  const made = await writeRamImage(guest.baseMemory, image);
  const l = await parseSaveFile(guest.baseMemory);
  const main = mainRamBlock(l)!;
  expect(main.id).toBe(MAIN_RAM_BLOCK);
  expect(made.bytes).toBe(main.length);
  expect(fs.statSync(image).size).toBe(main.length);
  // Holes: fewer blocks allocated than the file's length.
  expect(fs.statSync(image).blocks * 512).toBeLessThan(main.length);
  const fd = fs.openSync(guest.baseMemory, 'r');
  const ifd = fs.openSync(image, 'r');
  const got = Buffer.alloc(PAGE);
  let data = 0;
  for (let k = 0; k < main.length / PAGE; k++) {
    fs.readSync(ifd, got, 0, PAGE, k * PAGE);
    const want = pageOf(l, main.firstPage + k, fd);
    if (!got.equals(want)) throw new Error(`page ${k} of the image differs from the snapshot`);
    if (l.pageOffsets[main.firstPage + k] >= 0) data++;
  }
  fs.closeSync(fd);
  fs.closeSync(ifd);
  expect(data).toBeGreaterThan(1000);
  expect(ramImageIntact(image, { fromMemory: 'm', sha256: made.sha256, bytes: made.bytes }, 'm')).toBe(true);
  // Written to (its mtime moves): no longer vouched for; and an image of another snapshot never is.
  expect(ramImageIntact(image, { fromMemory: 'm', sha256: made.sha256, bytes: made.bytes }, 'other')).toBe(false);
  const w = fs.openSync(image, 'r+');
  fs.writeSync(w, Buffer.from('x'), 0, 1, 0);
  fs.closeSync(w);
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(image, later, later);
  expect(ramImageIntact(image, { fromMemory: 'm', sha256: made.sha256, bytes: made.bytes }, 'm')).toBe(false);
});

test('a sparse apply over the image is exactly the full apply; it writes a fraction of the bytes', async () => {
  const image = path.join(dir, 'fresh.ram');
  await writeRamImage(guest.baseMemory, image);
  const overlay = path.join(dir, 'o.clov');
  await createOverlay({ baseDisk: guest.baseDisk, baseMemory: guest.baseMemory, customDisk: guest.customDisk, customMemory: guest.customMemory, output: overlay });
  const full = await applyOverlay({ overlay, baseDisk: guest.baseDisk, baseMemory: guest.baseMemory, outputDisk: path.join(dir, 'f.qcow2'), outputMemory: path.join(dir, 'f.save') });
  const sparse = await applyOverlay({
    overlay,
    baseDisk: guest.baseDisk,
    baseMemory: guest.baseMemory,
    outputDisk: path.join(dir, 's.qcow2'),
    outputMemory: path.join(dir, 's.save'),
    sparseMainRam: true,
  });
  expect(full.memorySparse).toBe(false);
  expect(sparse.memorySparse).toBe(true);
  expect(sparse.memoryBytes).toBeLessThan(full.memoryBytes / 3);
  const lf = await parseSaveFile(path.join(dir, 'f.save'));
  const ls = await parseSaveFile(path.join(dir, 's.save'));
  expect(ls.blocks).toEqual(lf.blocks);
  expect(ls.tail.equals(lf.tail)).toBe(true);
  const ffd = fs.openSync(path.join(dir, 'f.save'), 'r');
  const sfd = fs.openSync(path.join(dir, 's.save'), 'r');
  const ifd = fs.openSync(image, 'r');
  const main = mainRamBlock(lf)!;
  const zeros = await zeroRecordsOf(path.join(dir, 's.save'));
  const fromImage = Buffer.alloc(PAGE);
  let fromFile = 0;
  for (let p = 0; p < lf.totalPages; p++) {
    const want = pageOf(lf, p, ffd);
    const inMain = p >= main.firstPage && p < main.firstPage + main.length / PAGE;
    let got: Buffer;
    // A page the sparse file holds (data or a zero record) wins; else the mapped image shows through.
    if (ls.pageOffsets[p] >= 0) got = pageOf(ls, p, sfd);
    else if (inMain && !zeros.has(p)) {
      fs.readSync(ifd, fromImage, 0, PAGE, (p - main.firstPage) * PAGE);
      got = fromImage;
    } else got = Buffer.alloc(PAGE);
    if (ls.pageOffsets[p] >= 0) fromFile++;
    if (!got.equals(want)) throw new Error(`page ${p} differs between the sparse apply over the image and the full apply`);
  }
  expect(fromFile).toBeGreaterThan(0);
  for (const fd of [ffd, sfd, ifd]) fs.closeSync(fd);
});

/** The pages a save file sends as zero records (parseSaveFile marks those and absent pages alike). */
async function zeroRecordsOf(file: string): Promise<Set<number>> {
  const zeros = new Set<number>();
  const f = await RandomAccessFile.open(file, 'open');
  try {
    await parseSaveStream(fileSource(f, 0, f.size, 4 << 20), file, undefined, { onZeroPage: (p) => zeros.add(p) });
  } finally {
    await f.close();
  }
  return zeros;
}

test('the base without its main RAM keeps the other blocks and the device state, under a new header', async () => {
  const out = path.join(dir, 'resume.save');
  const xml = readSaveHeader(guest.baseMemory).xml.replace(/<name>[^<]*<\/name>/, '<name>resumed</name>');
  const bytes = await writeSaveWithoutMainRam(guest.baseMemory, out, saveHeaderFor(guest.baseMemory, xml));
  expect(fs.statSync(out).size).toBe(bytes);
  const lb = await parseSaveFile(guest.baseMemory);
  const lo = await parseSaveFile(out);
  expect(readSaveHeader(out).xml).toContain('<name>resumed</name>');
  expect(lo.blocks).toEqual(lb.blocks);
  expect(lo.tail.equals(lb.tail)).toBe(true);
  const main = mainRamBlock(lb)!;
  const bfd = fs.openSync(guest.baseMemory, 'r');
  const ofd = fs.openSync(out, 'r');
  for (let p = 0; p < lb.totalPages; p++) {
    const inMain = p >= main.firstPage && p < main.firstPage + main.length / PAGE;
    if (inMain) expect(lo.pageOffsets[p]).toBe(-1);
    else if (!pageOf(lo, p, ofd).equals(pageOf(lb, p, bfd))) throw new Error(`page ${p} (outside the main RAM) differs`);
  }
  fs.closeSync(bfd);
  fs.closeSync(ofd);
  expect(bytes).toBeLessThan(fs.statSync(guest.baseMemory).size / 10);
});
