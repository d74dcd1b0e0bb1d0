// Host-wide claims on ranges and ports (engine/net/claims.ts): exclusive while their record exists, taken
// over once it is gone (after a grace period for a record still being written).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { claim, liveClaims, release } from '../../engine/net/claims';

// The module reads the claims directory at each call: this file's claims stay in a directory of its own.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claims-'));
process.env.CLOUDLET_CLAIMS_DIR = dir;

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function record(name: string): string {
  const f = path.join(dir, `${name}.json`);
  fs.writeFileSync(f, '{}');
  return f;
}

/** Ages every claim file past the grace period. */
function age(): void {
  const old = new Date(Date.now() - 120000);
  for (const root of fs.readdirSync(dir).filter((d) => d.startsWith('net-')))
    for (const kind of fs.readdirSync(path.join(dir, root))) for (const f of fs.readdirSync(path.join(dir, root, kind))) fs.utimesSync(path.join(dir, root, kind, f), old, old);
}

test('a claim is exclusive while its record exists, and released only by its owner', () => {
  const a = record('a');
  const b = record('b');
  expect(claim('port', 'tcp-20000', a)).toBe(true);
  expect(claim('port', 'tcp-20000', a)).toBe(true); // its owner again
  expect(claim('port', 'tcp-20000', b)).toBe(false);
  age();
  expect(claim('port', 'tcp-20000', b)).toBe(false); // still live: its record is there
  release('port', 'tcp-20000', b); // not b's
  expect(liveClaims('port').map((c) => c.value)).toEqual(['tcp-20000']);
  release('port', 'tcp-20000', a);
  expect(liveClaims('port')).toEqual([]);
});

test('a claim whose record is gone is stale once past the grace period, and taken over', () => {
  const a = record('c');
  const b = record('d');
  expect(claim('range', '10.213.5.0/24', a)).toBe(true);
  fs.rmSync(a);
  expect(claim('range', '10.213.5.0/24', b)).toBe(false); // just made: its maker may not have written its record yet
  age();
  expect(claim('range', '10.213.5.0/24', b)).toBe(true);
  expect(liveClaims('range')).toEqual([{ kind: 'range', value: '10.213.5.0/24', owner: b }]);
});
