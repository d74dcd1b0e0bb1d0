// Host-wide claims on what every engine in one network namespace shares: network ranges and host ports. Two
// engines on one host (tests, a fleet in namespaces share the filesystem but not the network) must not pick
// the same range or port; a claim is a file created exclusively under /run/cloudlet-iac/<netns>/, naming the
// record that justifies it. A claim whose record is gone (its engine's state directory was removed) is stale
// and taken over; /run is emptied when the host reboots, as the bridges and rules are.

import * as fs from 'node:fs';
import * as path from 'node:path';

const GRACE_MS = 60000;

function claimRoot(): string {
  let ns = 'host';
  try {
    ns = String(fs.statSync('/proc/self/ns/net').ino);
  } catch {
    // no /proc: one namespace
  }
  return path.join(process.env.CLOUDLET_CLAIMS_DIR ?? '/run/cloudlet-iac', `net-${ns}`);
}

export interface Claim {
  kind: 'range' | 'port';
  value: string;
  /** The record that justifies the claim (a network's or an instance's JSON file). */
  owner: string;
}

function fileOf(kind: Claim['kind'], value: string): string {
  return path.join(claimRoot(), kind, value.replace(/[^0-9A-Za-z.-]/g, '_'));
}

function live(file: string): Claim | null {
  let age: number;
  try {
    age = Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
  let c: Claim | null = null;
  try {
    c = JSON.parse(fs.readFileSync(file, 'utf8')) as Claim;
  } catch {
    // being written by its maker
  }
  // Just made: its record (or its own bytes) may not be written yet.
  if (age < GRACE_MS) return c ?? { kind: 'port', value: '', owner: '' };
  return c && fs.existsSync(c.owner) ? c : null;
}

/** Claims `value` for `owner`; false when another live claim holds it (a stale one is taken over). */
export function claim(kind: Claim['kind'], value: string, owner: string): boolean {
  const file = fileOf(kind, value);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify({ kind, value, owner }), { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = live(file);
    if (held) return held.owner === owner;
    fs.rmSync(file, { force: true });
  }
  return false;
}

export function release(kind: Claim['kind'], value: string, owner: string): void {
  const file = fileOf(kind, value);
  try {
    if ((JSON.parse(fs.readFileSync(file, 'utf8')) as Claim).owner === owner) fs.rmSync(file, { force: true });
  } catch {
    // not held
  }
}

/** The live claims of a kind (stale ones are removed on the way). */
export function liveClaims(kind: Claim['kind']): Claim[] {
  const dir = path.join(claimRoot(), kind);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: Claim[] = [];
  for (const n of names) {
    const c = live(path.join(dir, n));
    if (c) out.push(c);
    else fs.rmSync(path.join(dir, n), { force: true });
  }
  return out;
}
