// `cloudlet engine serve`: runs the engine daemon for one state directory until SIGTERM/SIGINT. VMs keep
// running when it stops; the next engine on the same directory finds them again.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiServer } from '../api/server';
import { defaultStateDir } from '../client/client';
import { Engine } from '../core/engine';
import { CloudletError } from '../errors';
import { writeJsonAtomic } from '../store/store';
import { defaultPublishAddress } from '../net/plumbing';
import { ensureTokenFile } from '../host/service';
import { OptionSpec, helpText, parseArgs } from './args';

const SERVE: OptionSpec = {
  'state-dir': { type: 'string', help: 'state directory (default: $CLOUDLET_STATE_DIR or ~/.local/share/cloudlet)' },
  listen: { type: 'string', help: 'unix:PATH or HOST:PORT (default: unix:<state>/engine.sock)' },
  'tls-cert': { type: 'string', help: 'PEM certificate: serve HTTPS' },
  'tls-key': { type: 'string', help: 'PEM private key for --tls-cert' },
  'token-file': { type: 'string', help: 'file holding the API token (default: <state>/token, created if absent)' },
  'fetch-timeout': { type: 'number', help: 'seconds a download may wait for an answer or stall (default 30)' },
  'handoff-stall-timeout': { type: 'number', help: 'seconds a handoff transfer may make no progress before it fails (default 60)' },
  'handoff-confirm-timeout': { type: 'number', help: 'seconds a handoff source waits, VM paused, for the destination to confirm (default 120)' },
  advertise: { type: 'string', help: 'the URL peers reach this engine at, for handoffs it starts (default: the --listen address; a wildcard host becomes the publish address)' },
  'publish-address': { type: 'string', help: "the host's IPv4 address instances' ports are published on (default: the default route's source address)" },
  'handoff-memory-check': { type: 'string', help: "when a handoff source checks the paused guest's memory: auto (under TCG, default), always, never" },
  'no-ram-mapping': { type: 'boolean', help: "restore every page of an instance's memory instead of mapping its base's memory image (slower; for comparisons)" },
  'libvirt-uri': { type: 'string', help: 'libvirt URI (default: qemu:///embed?root=<state>/libvirt; qemu:///system for libvirtd)' },
};

export const SERVE_USAGE = `  cloudlet engine serve [options]\n${helpText(SERVE)}`;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

/** Reads the token file, or creates one with a fresh random token (mode 0600). */
export function ensureToken(file: string): string {
  return ensureTokenFile(file).token;
}

/** The listen address as peers can use it: a wildcard host (0.0.0.0, ::) is replaced by the host's address. */
async function advertised(where: string, publishAddress: string | undefined): Promise<string> {
  const m = /^(https?):\/\/(0\.0\.0\.0|\[::\]):(\d+)$/.exec(where);
  return m ? `${m[1]}://${publishAddress ?? (await defaultPublishAddress())}:${m[3]}` : where;
}

function seconds(v: number, name: string): number {
  if (!(v >= 1 && v <= 3600)) throw new CloudletError('INVALID_ARGUMENT', `--${name}: seconds from 1 to 3600`);
  return v * 1000;
}

function memoryCheckOption(v: string | undefined): 'auto' | 'always' | 'never' | undefined {
  if (v === undefined || v === 'auto' || v === 'always' || v === 'never') return v;
  throw new CloudletError('INVALID_ARGUMENT', `--handoff-memory-check: auto, always or never, not ${JSON.stringify(v)}`);
}

export async function serveCommand(argv: string[]): Promise<void> {
  const { positionals, options: o } = parseArgs(argv, SERVE, SERVE_USAGE);
  if (positionals.length) throw new CloudletError('INVALID_ARGUMENT', `unexpected argument ${positionals[0]}\n${SERVE_USAGE}`);
  if (!!o['tls-cert'] !== !!o['tls-key']) throw new CloudletError('INVALID_ARGUMENT', '--tls-cert and --tls-key go together');
  const stateDir = path.resolve((o['state-dir'] as string | undefined) ?? defaultStateDir());
  const handoff = {
    stallTimeoutMs: o['handoff-stall-timeout'] !== undefined ? seconds(o['handoff-stall-timeout'] as number, 'handoff-stall-timeout') : undefined,
    confirmTimeoutMs: o['handoff-confirm-timeout'] !== undefined ? seconds(o['handoff-confirm-timeout'] as number, 'handoff-confirm-timeout') : undefined,
    level: process.env.CLOUDLET_HANDOFF_LEVEL ? Number(process.env.CLOUDLET_HANDOFF_LEVEL) : undefined,
    memoryCheck: memoryCheckOption(o['handoff-memory-check'] as string | undefined),
  };
  const engine = await Engine.open({
    stateDir,
    libvirtUri: o['libvirt-uri'] as string | undefined,
    log,
    fetchTimeoutMs: o['fetch-timeout'] ? (o['fetch-timeout'] as number) * 1000 : undefined,
    handoff: Object.fromEntries(Object.entries(handoff).filter(([, v]) => v !== undefined)),
    publishAddress: o['publish-address'] as string | undefined,
    ramMapping: o['no-ram-mapping'] !== true,
  });
  let server: ApiServer | undefined;
  try {
    const token = ensureToken((o['token-file'] as string | undefined) ?? path.join(stateDir, 'token'));
    const tls = o['tls-cert'] ? { cert: fs.readFileSync(o['tls-cert'] as string, 'utf8'), key: fs.readFileSync(o['tls-key'] as string, 'utf8') } : undefined;
    server = new ApiServer({ engine, token, tls, log });
    const where = await server.listen((o.listen as string | undefined) ?? `unix:${path.join(stateDir, 'engine.sock')}`);
    engine.setSelfEndpoint((o.advertise as string | undefined) ?? (await advertised(where, o['publish-address'] as string | undefined)), tls?.cert);
    writeJsonAtomic(path.join(stateDir, 'engine.json'), { pid: process.pid, endpoint: where, started: new Date().toISOString() });
    log(`cloudlet engine serving ${where} for ${stateDir} (libvirt ${engine.driver.shownUri}, pid ${process.pid})`);
  } catch (e) {
    await engine.close();
    throw e;
  }
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: stopping (VMs keep running)`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await server.close();
  await engine.close();
}
