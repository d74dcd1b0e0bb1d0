// Where test guests are cached and how concurrent builds of one are kept to one: shared by the guest builders
// (guest.ts, cloud-image.ts).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const log = (s: string) => process.stderr.write(`guests: ${s}\n`);

export function cacheRoot(): string {
  return process.env.CLOUDLET_GUEST_CACHE ?? path.join(os.homedir(), '.cache', 'cloudlet-iac', 'guests');
}

/**
 * Runs `build` holding a lock directory next to `dir`, so test workers that need the same guest at once
 * build it once: the others wait, then find it built. A lock whose holder died is taken over.
 */
export async function withBuildLock<T>(dir: string, build: () => Promise<T>): Promise<T> {
  const lock = `${dir}.lock`;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  let waited = false;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(fs.readFileSync(path.join(lock, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0);
      let alive = holder > 0;
      try {
        if (alive) process.kill(holder, 0);
      } catch {
        alive = false;
      }
      if (!alive && holder > 0) {
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (!waited) log(`waiting for another process building ${path.basename(dir)}`);
      waited = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await build();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

export function resolveScript(script = 'prepare.sh'): string {
  // Works from ts-jest (test/vms/*.ts) and from compiled output (dist/test/vms/*.js).
  const here = path.join(__dirname, script);
  return fs.existsSync(here) ? here : path.join(__dirname, '..', '..', '..', 'test', 'vms', script);
}
