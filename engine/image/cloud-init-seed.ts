// A cloud-init NoCloud seed: an ISO 9660 volume labelled `cidata` holding user-data, meta-data and (when given)
// network-config, which cloud-init's NoCloud datasource reads on first boot (cloud-init docs, "NoCloud").
// xorriso (Debian's package) writes the volume. User data can hold passwords and keys: the seed lives in the
// operation's temporary directory only and is deleted with it; nothing of it is stored or logged.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CloudletError } from '../errors';

const run = promisify(execFile);

export interface CloudInitDocs {
  userData?: string;
  metaData?: string;
  networkConfig?: string;
}

/** meta-data for a base's first boot when the user gave none: cloud-init needs an instance-id. */
export function defaultMetaData(instanceId: string, hostname: string): string {
  return `instance-id: ${instanceId}\nlocal-hostname: ${hostname}\n`;
}

/** Writes `dir/seed.iso` from the documents; returns its path. The documents' files are removed again. */
export async function writeSeedIso(dir: string, docs: CloudInitDocs, fallbackMeta: string): Promise<string> {
  const src = path.join(dir, 'seed');
  fs.mkdirSync(src, { recursive: true, mode: 0o700 });
  const iso = path.join(dir, 'seed.iso');
  try {
    // user-data must exist for NoCloud; an empty #cloud-config changes nothing.
    fs.writeFileSync(path.join(src, 'user-data'), docs.userData ?? '#cloud-config\n', { mode: 0o600 });
    fs.writeFileSync(path.join(src, 'meta-data'), docs.metaData ?? fallbackMeta, { mode: 0o600 });
    if (docs.networkConfig !== undefined) fs.writeFileSync(path.join(src, 'network-config'), docs.networkConfig, { mode: 0o600 });
    await run('xorriso', ['-as', 'mkisofs', '-quiet', '-volid', 'cidata', '-joliet', '-rock', '-output', iso, src], { maxBuffer: 1 << 20 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new CloudletError('HOST_UNSUPPORTED', 'cloudInit needs xorriso on the cloudlet host (Debian package xorriso; engine/host/setup-host.sh installs it)');
    throw new CloudletError('IO', `could not write the cloud-init seed: ${String(err.stderr ?? err.message).trim()}`);
  } finally {
    fs.rmSync(src, { recursive: true, force: true });
  }
  fs.chmodSync(iso, 0o600);
  return iso;
}
