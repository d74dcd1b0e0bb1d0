// The cloud-style guest (see prepare-cloud.sh): a Debian 12 disk image with GRUB, systemd, qemu-guest-agent
// and cloud-init that boots from its own disk, as users bring. Built once from Debian packages and cached
// beside the other test guests; a raw copy is made on demand for the tests that import raw input.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheRoot, log, resolveScript, withBuildLock } from './cache';

/** Bump when prepare-cloud.sh changes what it builds. */
export const CLOUD_IMAGE_VERSION = 4;

export interface CloudImage {
  dir: string;
  qcow2: string;
  buildSeconds: number;
}

export async function ensureCloudImage(): Promise<CloudImage> {
  const dir = path.join(cacheRoot(), `cloud-v${CLOUD_IMAGE_VERSION}`);
  const mf = path.join(dir, 'manifest.json');
  const found = (): CloudImage | null => (fs.existsSync(mf) ? { dir, qcow2: path.join(dir, 'disk.qcow2'), ...(JSON.parse(fs.readFileSync(mf, 'utf8')) as { buildSeconds: number }) } : null);
  return (
    found() ??
    withBuildLock(dir, async () => {
      const again = found();
      if (again) return again;
      const t0 = Date.now();
      const tmp = `${dir}.build-${process.pid}`;
      fs.rmSync(tmp, { recursive: true, force: true });
      log(`building the cloud-style guest in ${tmp}`);
      execFileSync('bash', [resolveScript('prepare-cloud.sh'), tmp, cacheRoot()], { stdio: ['ignore', 'inherit', 'inherit'] });
      const buildSeconds = Math.round((Date.now() - t0) / 100) / 10;
      fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify({ version: CLOUD_IMAGE_VERSION, buildSeconds }, null, 2));
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(tmp, dir);
      log(`cloud-style guest built in ${buildSeconds} s`);
      return found()!;
    })
  );
}

/** A raw copy of the cloud image (sparse, 2 GiB virtual), made once next to the qcow2. */
export async function cloudImageRaw(img: CloudImage): Promise<string> {
  const raw = path.join(img.dir, 'disk.raw');
  if (fs.existsSync(raw)) return raw;
  return withBuildLock(raw, async () => {
    if (!fs.existsSync(raw)) {
      execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', img.qcow2, `${raw}.tmp`]);
      fs.renameSync(`${raw}.tmp`, raw);
    }
    return raw;
  });
}

/** Byte offset of the root file system (partition 2) in the image, for tools that edit it in place (debugfs). */
export const CLOUD_ROOT_OFFSET = 65 * 1024 * 1024;
