// The base snapshot layout sidecar (engine/image/layout-cache.ts): the same layout as a parse, kept 0600, and
// never trusted for a snapshot that changed or when it does not fit the file it claims to describe.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { baseSnapshotLayout } from '../../engine/image/layout-cache';
import { SaveFileLayout, parseSaveFile } from '../../engine/image/savefile';
import { prng, writeSaveFile } from '../helpers/synthetic';

let dir: string;
let save: string;
const sidecar = () => `${save}.layout`;

function same(a: SaveFileLayout, b: SaveFileLayout): void {
  expect(Array.from(a.pageOffsets)).toEqual(Array.from(b.pageOffsets));
  expect(a.blocks).toEqual(b.blocks);
  expect({ t: a.totalPages, s: a.sectionId, f: a.footers, r: a.resent }).toEqual({ t: b.totalPages, s: b.sectionId, f: b.footers, r: b.resent });
  for (const k of ['headerRegion', 'prologue', 'ramStart', 'tail'] as const) expect(a[k].equals(b[k])).toBe(true);
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layout-cache-'));
  save = path.join(dir, 'memory.save');
  const page = prng(7);
  writeSaveFile(
    save,
    [
      { id: 'pc.ram', pages: 300 },
      { id: 'pc.rom', pages: 8 },
    ],
    (p) => (p % 3 === 0 ? 'zero' : page(4096)),
    { resend: [5, 17] },
  );
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the first call parses and keeps the layout (owner-only); the second reads it back the same', async () => {
  const parsed = await parseSaveFile(save);
  same(await baseSnapshotLayout(save), parsed);
  expect(fs.statSync(sidecar()).mode & 0o777).toBe(0o600);
  same(await baseSnapshotLayout(save), parsed);
  // That the second call reads the sidecar: a consistent edit of it (two pages' offsets swapped) shows through.
  const b = fs.readFileSync(sidecar());
  const at = b.length - parsed.totalPages * 8;
  const [one, two] = [b.readDoubleLE(at + 8), b.readDoubleLE(at + 16)];
  b.writeDoubleLE(two, at + 8);
  b.writeDoubleLE(one, at + 16);
  fs.writeFileSync(sidecar(), b);
  const edited = await baseSnapshotLayout(save);
  expect([edited.pageOffsets[1], edited.pageOffsets[2]]).toEqual([parsed.pageOffsets[2], parsed.pageOffsets[1]]);
});

test('a snapshot changed after the sidecar was made is parsed again (size, mtime or inode differ)', async () => {
  await baseSnapshotLayout(save);
  const before = fs.readFileSync(sidecar());
  // Another snapshot in its place (a new inode, another size): the sidecar no longer describes it.
  const other = path.join(dir, 'other.save');
  writeSaveFile(other, [{ id: 'pc.ram', pages: 40 }], () => 'zero');
  fs.renameSync(other, save);
  const l = await baseSnapshotLayout(save);
  expect(l.totalPages).toBe(40);
  same(l, await parseSaveFile(save));
  expect(fs.readFileSync(sidecar()).equals(before)).toBe(false);
});

test('a sidecar that does not fit its file (damaged, truncated, offsets outside the file) is not trusted', async () => {
  const parsed = await parseSaveFile(save);
  await baseSnapshotLayout(save);
  const good = fs.readFileSync(sidecar());
  const damaged = [
    good.subarray(0, good.length - 8), // one page offset short
    Buffer.concat([good.subarray(0, 20), Buffer.from('}}}'), good.subarray(23)]), // head not JSON
    (() => {
      const b = Buffer.from(good);
      b.writeDoubleLE(fs.statSync(save).size, b.length - 8); // last page's bytes past the end of the file
      return b;
    })(),
  ];
  for (const bad of damaged) {
    fs.writeFileSync(sidecar(), bad, { mode: 0o600 });
    // Same stat key (the snapshot did not change), so only the consistency checks can refuse it.
    same(await baseSnapshotLayout(save), parsed);
  }
});
