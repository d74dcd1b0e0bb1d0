// The `cloudlet` client commands: each one an engine API call (or an operation followed to its end with a
// progress line), printed for people or, with --json, as the API's JSON.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineClient, connectLocal, defaultStateDir } from '../client/client';
import { BaseRecord, ImportBaseRequest, OperationOf, OverlaySpecRequest, PortRequestSpec } from '../contract/schemas';
import { readinessValue } from '../contract/rules';
import { CloudletError, ioError } from '../errors';
import { CONNECT, HELP_FLAGS, HelpRequested, OptionSpec, helpText, parseArgs, splitCommand } from './args';
import { formatBytes, progressPrinter } from './progress';
import { dashboardCommand } from './dashboard';

const spec = (extra: OptionSpec): OptionSpec => ({ ...extra, ...CONNECT });

type Out = (s: string) => void;
type Opts = Record<string, string | number | boolean | string[] | undefined>;

export async function clientFor(o: Opts): Promise<EngineClient> {
  const endpoint = (o.endpoint as string | undefined) ?? process.env.CLOUDLET_ENDPOINT;
  const tokenFile = o['token-file'] as string | undefined;
  const ca = o.ca ? readOptionFile(o.ca as string, '--ca') : undefined;
  if (endpoint) {
    const token = tokenFile ? readOptionFile(tokenFile, '--token-file').trim() : process.env.CLOUDLET_TOKEN;
    if (!token) throw new CloudletError('INVALID_ARGUMENT', 'a token is needed for --endpoint: give --token-file or set CLOUDLET_TOKEN');
    return new EngineClient({ endpoint, token, ca, client: 'cli' });
  }
  const local = await connectLocal(path.resolve((o['state-dir'] as string | undefined) ?? defaultStateDir()));
  return new EngineClient({ endpoint: local.endpoint, token: tokenFile ? readOptionFile(tokenFile, '--token-file').trim() : local.token, client: 'cli' });
}

function readOptionFile(file: string, option: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw ioError(`${option}: cannot read`, file, e);
  }
}

/** Runs `fn` with a client for the options' engine, closing it afterwards. */
async function withClient(o: Opts, fn: (c: EngineClient) => Promise<void>): Promise<void> {
  const c = await clientFor(o);
  try {
    await fn(c);
  } finally {
    await c.close();
  }
}

async function follow<T>(c: EngineClient, op: OperationOf<T>, o: Opts, label: string): Promise<OperationOf<T>> {
  const bar = o.quiet || o.json ? undefined : progressPrinter(label);
  return c.wait(op, bar ? (v) => (v.state === 'running' ? bar({ phase: v.phase, done: v.done, total: v.total }) : undefined) : undefined);
}

function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('  ')).join('\n');
}

/** Accepts a full id or a unique prefix of at least 6 characters (bases and overlays have 64-hex ids). */
async function resolveId(c: EngineClient, kind: 'bases' | 'overlays', given: string): Promise<string> {
  if (/^[0-9a-f]{64}$/.test(given)) return given;
  const list: { id: string; name?: string }[] = kind === 'bases' ? (await c.bases.list()).bases : (await c.overlays.list()).overlays;
  const hits = list.filter((x) => (given.length >= 6 && x.id.startsWith(given)) || x.name === given);
  if (hits.length === 1) return hits[0].id;
  if (hits.length > 1) throw new CloudletError('INVALID_ARGUMENT', `${given} matches ${hits.length} ${kind}; give more of the id`);
  throw new CloudletError('NOT_FOUND', `no ${kind.slice(0, -1)} ${given}`);
}

/** Where an instance goes on this cloudlet's networks (synthesize, resume, handoff). */
const PLACEMENT: OptionSpec = {
  network: { type: 'string', multiple: true, help: "a network to join, by name or id (repeatable; default: the cloudlet's default network)" },
  'no-network': { type: 'boolean', help: 'join no network (the guest reaches nothing)' },
  port: { type: 'string', multiple: true, help: "publish a guest port on the host's address: GUEST, HOST:GUEST, with /udp for UDP (repeatable)" },
};

/** `80`, `8080:80`, `53/udp`, `5353:53/udp` as the API's port request (HOST:GUEST, as docker -p writes it). */
export function parsePortOption(text: string): PortRequestSpec {
  const m = /^(?:(\d{1,5}):)?(\d{1,5})(?:\/(tcp|udp))?$/.exec(text);
  if (!m) throw new CloudletError('INVALID_ARGUMENT', `--port: expected GUEST, HOST:GUEST or either with /udp (e.g. 8080:80), got ${JSON.stringify(text)}`);
  const [, host, guest, protocol] = m;
  return { guest: Number(guest), ...(host ? { host: Number(host) } : {}), ...(protocol ? { protocol: protocol as 'tcp' | 'udp' } : {}) };
}

function placementOf(o: Opts): { networks?: string[]; ports?: PortRequestSpec[] } {
  const nets = o.network as string[] | undefined;
  if (o['no-network'] && nets?.length) throw new CloudletError('INVALID_ARGUMENT', '--no-network and --network exclude each other');
  const ports = (o.port as string[] | undefined)?.map(parsePortOption);
  return { ...(o['no-network'] ? { networks: [] } : nets?.length ? { networks: nets } : {}), ...(ports?.length ? { ports } : {}) };
}

/** An instance's addresses and endpoints, for the lines printed after it was made or moved. */
function reachLines(inst: { addresses: string[]; endpoints: string[] }): string {
  return `${inst.addresses.length ? `\n  addresses    ${inst.addresses.join(' ')}` : ''}${inst.endpoints.length ? `\n  endpoints    ${inst.endpoints.join(' ')}` : ''}`;
}

function one(pos: string[], what: string, usage: string): string {
  if (pos.length !== 1) throw new CloudletError('INVALID_ARGUMENT', `expected ${what}\n${usage}`);
  return pos[0];
}

export const CLIENT_USAGE = `engine connection options (every command below):
${helpText(CONNECT)}

  cloudlet info
  cloudlet base import ARCHIVE|URL [--sha256 BASE_ID] [--name N]
  cloudlet base import --disk IMAGE --name N [--memory-mib N] [--vcpus N] [--firmware bios|uefi]
      [--ready auto|agent|systemd|cloud-init|tcp:PORT|URL|SECONDS] [--ready-timeout SECONDS]
      [--user-data FILE] [--meta-data FILE] [--network-config FILE] [--kernel F --initrd F --cmdline S]
  cloudlet base capture INSTANCE --name N        (new base from a running instance)
  cloudlet base list | show BASE | delete BASE | export BASE FILE
  cloudlet resume BASE --name N                   (start the base VM for customization)
  cloudlet overlay create INSTANCE [--level N]    (from a running VM; it keeps running)
  cloudlet overlay list | show ID | delete ID | download ID FILE | upload FILE
  cloudlet overlay import URL|PATH [--sha256 H]   (the engine fetches it into its store)
  cloudlet synthesize --base BASE (--overlay-url URL [--overlay-sha256 H] | --overlay ID) --name N [--request-id R]
      [--network NET]... [--no-network] [--port [HOST:]GUEST[/udp]]...   (resume takes these too)
  cloudlet network list | show NET | create NAME [--cidr CIDR] | delete NET
  cloudlet peer list | add NAME --peer-endpoint URL --peer-token-file F [--peer-ca CA] | delete NAME
  cloudlet handoff INSTANCE --to PEER [--port ...]  (move a running instance from this cloudlet to a peer)
  cloudlet dashboard [--port N]                   (a one-time login link to the engine's dashboard)
  cloudlet probe ADDRESS [--port N] [--attempts N]  (round trip from this cloudlet to a client, for placement)
  cloudlet doctor                                 (the host's fitness: KVM or TCG and why, versions, bases' needs,
                                                  disk, memory, permissions, networking, listener; exit 1 if blocked)
  cloudlet instance list | show ID | delete ID | console ID
  cloudlet instance start ID | stop ID | pause ID (stop powers off; start boots a stopped VM from its disk)
  cloudlet instance exec ID -- COMMAND...         (through the guest's QEMU guest agent)
  cloudlet instance put ID GUEST_PATH [--from FILE] [--mode M] | get ID GUEST_PATH | interfaces ID
  cloudlet handoff INSTANCE (--from-endpoint URL --from-token-file F [--from-ca CA] | --from-state-dir DIR)
      [--network NET]... [--no-network] [--port [HOST:]GUEST[/udp]]...
                                                  (move a running instance from that cloudlet to this one)
  cloudlet operation list | show ID | cancel ID`;

/** The usage lines of one command (and subcommand, when it is one), for its errors and its --help. */
function usageFor(cmd: string, sub: string | undefined): string {
  const lines = CLIENT_USAGE.split('\n').filter((l) => l.startsWith(`  cloudlet ${cmd}`));
  const narrowed = sub ? lines.filter((l) => new RegExp(`^  cloudlet ${cmd} (\\S+ \\| )*${sub}\\b`).test(l) || new RegExp(`\\| ${sub}\\b`).test(l)) : [];
  return `usage:\n${(narrowed.length > 0 ? narrowed : lines).join('\n')}`;
}

/** A source as the engine reads it: URLs as given, paths made absolute from the CLI's working directory. */
function engineSource(s: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : path.resolve(s);
}

export async function clientCommand(cmd: string, argv: string[], out: Out): Promise<void> {
  const { cmd: sub, rest } = splitCommand(argv);
  const usage = usageFor(cmd, sub);
  if (sub !== undefined && HELP_FLAGS.includes(sub)) throw new HelpRequested(`${usageFor(cmd, undefined)}\n\nengine connection options:\n${helpText(CONNECT)}`);
  const print = (o: Opts, json: unknown, human: () => string) => out(o.json ? JSON.stringify(json, null, 2) : human());

  if (cmd === 'info') {
    const { options: o } = parseArgs(argv, spec({}), usage);
    await withClient(o, async (c) => {
      const i = await c.engine.info();
      print(o, i, () =>
        [
          `engine       ${i.engine.version} (${i.engine.stateDir})`,
          `hypervisor   ${i.hypervisor.type} via ${i.hypervisor.libvirtUri}`,
          `extensions   ${JSON.stringify(i.extensions)}`,
          `capacity     ${i.capacity.cpus} CPUs, ${formatBytes(i.capacity.memoryBytes)} RAM (${formatBytes(i.capacity.freeMemoryBytes)} free), ${formatBytes(i.capacity.diskFreeBytes)} disk free`,
          `objects      ${i.counts.bases} bases, ${i.counts.overlays} overlays, ${i.counts.instances} instances`,
        ].join('\n'),
      );
    });
    return;
  }

  if (cmd === 'base') {
    const S = spec({
      sha256: { type: 'string', help: 'expected base id' },
      name: { type: 'string', help: 'base name' },
      disk: { type: 'string', help: 'bootable disk image to make a base from' },
      kernel: { type: 'string', help: 'kernel for direct boot' },
      initrd: { type: 'string', help: 'initrd for direct boot' },
      cmdline: { type: 'string', help: 'kernel command line' },
      'memory-mib': { type: 'number', help: 'RAM (default 256)' },
      vcpus: { type: 'number', help: 'vCPUs (default 1)' },
      ready: {
        type: 'string',
        help: 'when to save the booted VM: auto (default: the strictest the image supports), agent, systemd, cloud-init, tcp:PORT, an http(s) URL inside the guest, or seconds',
      },
      'ready-timeout': { type: 'number', help: 'seconds to wait for readiness (default 600)' },
      firmware: { type: 'string', help: 'bios (default) or uefi (OVMF)' },
      'user-data': { type: 'string', help: 'cloud-init user data file for the first boot' },
      'meta-data': { type: 'string', help: 'cloud-init NoCloud meta-data file' },
      'network-config': { type: 'string', help: 'cloud-init network configuration file' },
    });
    const { positionals: p, options: o } = parseArgs(rest, S, usage);
    await withClient(o, async (c) => {
      const showBase = (b: BaseRecord) =>
        out(
          o.json
            ? JSON.stringify(b, null, 2)
            : `base ${b.id}\n  name ${b.name}, ${b.memoryMiB} MiB, ${b.vcpus} vCPU, CPU ${b.cpuModel}\n  disk ${formatBytes(b.disk.bytes)}, memory ${formatBytes(b.memory.bytes)}\n  source ${b.source}`,
        );
      if (sub === 'list') {
        const { bases } = await c.bases.list();
        print(o, bases, () => table([['ID', 'NAME', 'MEMORY', 'DISK', 'CREATED'], ...bases.map((b) => [b.id.slice(0, 16), b.name, `${b.memoryMiB} MiB`, formatBytes(b.disk.bytes), b.created])]));
      } else if (sub === 'show') {
        showBase(await c.bases.get(await resolveId(c, 'bases', one(p, 'a base id', usage))));
      } else if (sub === 'delete') {
        const id = await resolveId(c, 'bases', one(p, 'a base id', usage));
        await c.bases.delete(id);
        print(o, { deleted: id }, () => `deleted base ${id}`);
      } else if (sub === 'export') {
        if (p.length !== 2) throw new CloudletError('INVALID_ARGUMENT', `base export BASE FILE\n${usage}`);
        const id = await resolveId(c, 'bases', p[0]);
        const bar = o.quiet || o.json ? undefined : progressPrinter('base export');
        const n = await c.downloadBaseArchive(id, p[1], bar ? (d, t) => bar({ phase: 'download', done: d, total: t }) : undefined);
        print(o, { file: p[1], bytes: n }, () => `wrote ${p[1]} (${formatBytes(n)})`);
      } else if (sub === 'import') {
        let body: ImportBaseRequest;
        if (o.disk) {
          if (p.length) throw new CloudletError('INVALID_ARGUMENT', 'give either an archive or --disk, not both');
          const abs = (f: unknown) => (f === undefined ? undefined : path.resolve(f as string));
          const readyText = o.ready as string | undefined;
          const ready = readyText === undefined ? undefined : readinessValue(readyText);
          const doc = (flag: string) => (o[flag] === undefined ? undefined : readOptionFile(o[flag] as string, `--${flag}`));
          const cloudInit = { userData: doc('user-data'), metaData: doc('meta-data'), networkConfig: doc('network-config') };
          const firmware = o.firmware as 'bios' | 'uefi' | undefined;
          body = {
            disk: path.resolve(o.disk as string),
            name: o.name as string,
            kernel: abs(o.kernel),
            initrd: abs(o.initrd),
            cmdline: o.cmdline as string | undefined,
            memoryMiB: o['memory-mib'] as number | undefined,
            vcpus: o.vcpus as number | undefined,
            ready,
            readyTimeoutSeconds: o['ready-timeout'] as number | undefined,
            firmware,
            cloudInit: Object.values(cloudInit).some((v) => v !== undefined) ? cloudInit : undefined,
          };
        } else {
          const src = one(p, 'an archive path or URL', usage);
          body = { source: engineSource(src), sha256: o.sha256 as string | undefined, name: o.name as string | undefined };
        }
        const { operation } = await c.bases.import(body);
        const done = await follow(c, operation, o, 'base import');
        const r = done.result!;
        if (o.json) out(JSON.stringify(r, null, 2));
        else out(`base ${r.base.id} (${r.base.name})${r.cached ? ' was already here' : ' imported'} in ${done.timings.total} s`);
      } else if (sub === 'capture') {
        const inst = one(p, 'an instance id', usage);
        const { operation } = await c.bases.import({ instanceId: inst, name: o.name as string });
        const done = await follow(c, operation, o, 'base capture');
        const b = done.result!.base;
        print(o, done.result, () => `base ${b.id} (${b.name}) captured from ${inst} in ${done.timings.total} s`);
      } else throw new CloudletError('INVALID_ARGUMENT', `unknown base command ${sub ?? '(none)'}\n${usage}`);
    });
    return;
  }

  if (cmd === 'resume' || cmd === 'synthesize') {
    const S = spec({
      name: { type: 'string', required: true, help: 'instance name' },
      base: { type: 'string', help: 'base id (synthesize)' },
      overlay: { type: 'string', help: 'overlay id already on this engine' },
      'overlay-url': { type: 'string', help: 'URL (or path) of the overlay to fetch' },
      'overlay-sha256': { type: 'string', help: 'expected SHA-256 of the overlay file' },
      'request-id': { type: 'string', help: 'idempotency key: a retry with the same key returns the same operation' },
      ...PLACEMENT,
    });
    const { positionals: p, options: o } = parseArgs(argv, S, usage);
    await withClient(o, async (c) => {
      let baseGiven = o.base as string | undefined;
      if (cmd === 'resume') baseGiven = one(p, 'a base id', usage);
      if (!baseGiven) throw new CloudletError('INVALID_ARGUMENT', `--base is required\n${usage}`);
      const baseId = await resolveId(c, 'bases', baseGiven);
      let overlay: OverlaySpecRequest | undefined;
      if (cmd === 'synthesize') {
        if (!o.overlay && !o['overlay-url']) throw new CloudletError('INVALID_ARGUMENT', 'give --overlay ID or --overlay-url URL');
        const url = o['overlay-url'] as string | undefined;
        overlay = { id: o.overlay ? await resolveId(c, 'overlays', o.overlay as string) : undefined, url: url && engineSource(url), sha256: o['overlay-sha256'] as string | undefined };
      }
      const { operation } = await c.instances.create({ name: o.name as string, baseId, overlay, ...placementOf(o), requestId: o['request-id'] as string | undefined });
      const done = await follow(c, operation, o, cmd);
      const inst = done.result!.instance;
      const phases = Object.entries(done.timings)
        .map(([k, v]) => `${k} ${v} s`)
        .join(', ');
      print(o, done.result, () => `instance ${inst.id} (${inst.name}) ${inst.state}; ${phases}${reachLines(inst)}\n  agent socket ${inst.agentSocket}\n  console log  ${inst.consoleLog}`);
    });
    return;
  }

  if (cmd === 'overlay') {
    const S = spec({ level: { type: 'number', help: 'zstd level (default 9)' }, sha256: { type: 'string', help: 'import: expected SHA-256 of the overlay file' } });
    const { positionals: p, options: o } = parseArgs(rest, S, usage);
    await withClient(o, async (c) => {
      if (sub === 'list') {
        const { overlays } = await c.overlays.list();
        print(o, overlays, () => table([['ID', 'SIZE', 'BASE', 'SOURCE'], ...overlays.map((x) => [x.id.slice(0, 16), formatBytes(x.bytes), x.baseId.slice(0, 16), x.source])]));
      } else if (sub === 'show') {
        const v = await c.overlays.get(await resolveId(c, 'overlays', one(p, 'an overlay id', usage)));
        print(o, v, () => `overlay ${v.id}\n  ${formatBytes(v.bytes)}, base ${v.baseId}\n  source ${v.source}\n  download ${v.downloadUrl ?? v.downloadPath}`);
      } else if (sub === 'delete') {
        const id = await resolveId(c, 'overlays', one(p, 'an overlay id', usage));
        await c.overlays.delete(id);
        print(o, { deleted: id }, () => `deleted overlay ${id}`);
      } else if (sub === 'download') {
        if (p.length !== 2) throw new CloudletError('INVALID_ARGUMENT', `overlay download ID FILE\n${usage}`);
        const id = await resolveId(c, 'overlays', p[0]);
        const bar = o.quiet || o.json ? undefined : progressPrinter('overlay download');
        const n = await c.downloadOverlay(id, p[1], bar ? (d, t) => bar({ phase: 'download', done: d, total: t }) : undefined);
        print(o, { file: p[1], bytes: n }, () => `wrote ${p[1]} (${formatBytes(n)})`);
      } else if (sub === 'upload') {
        const file = one(p, 'an overlay file', usage);
        const v = await c.uploadOverlay(file);
        print(o, v, () => `overlay ${v.id} stored (${formatBytes(v.bytes)})`);
      } else if (sub === 'import') {
        const url = one(p, 'an overlay URL or absolute path', usage);
        const { operation } = await c.overlays.import({ url: engineSource(url), sha256: o.sha256 as string | undefined });
        const done = await follow(c, operation, o, 'overlay import');
        const v = done.result!.overlay;
        print(o, done.result, () => `overlay ${v.id} (${formatBytes(v.bytes)}) for base ${v.baseId}`);
      } else if (sub === 'create') {
        const inst = one(p, 'an instance id', usage);
        const { operation } = await c.overlays.import({ instanceId: inst, level: o.level as number | undefined });
        const done = await follow(c, operation, o, 'overlay create');
        const v = done.result!.overlay;
        print(
          o,
          done.result,
          () =>
            `overlay ${v.id} (${formatBytes(v.bytes)}) from ${inst}; ${Object.entries(done.timings)
              .map(([k, t]) => `${k} ${t} s`)
              .join(', ')}`,
        );
      } else throw new CloudletError('INVALID_ARGUMENT', `unknown overlay command ${sub ?? '(none)'}\n${usage}`);
    });
    return;
  }

  if (cmd === 'instance') {
    const S = spec({
      timeout: { type: 'number', help: 'exec: seconds to wait (default 60)' },
      from: { type: 'string', help: 'put: the local file to send (default: standard input)' },
      mode: { type: 'string', help: 'put: octal file mode in the guest, such as 0644' },
    });
    const { positionals: p, options: o } = parseArgs(rest, S, usage);
    await withClient(o, async (c) => {
      if (sub === 'put') {
        if (p.length !== 2) throw new CloudletError('INVALID_ARGUMENT', `instance put ID GUEST_PATH [--from FILE] [--mode M]\n${usage}`);
        const from = o.from as string | undefined;
        let data: Buffer;
        try {
          data = fs.readFileSync(from ?? 0);
        } catch (e) {
          throw ioError('--from: cannot read', from ?? '(standard input)', e);
        }
        const v = await c.instances.writeFile(p[0], { path: p[1], contentBase64: data.toString('base64'), mode: o.mode as string | undefined });
        print(o, v, () => `wrote ${v.path} in ${p[0]} (${formatBytes(v.bytes)})`);
      } else if (sub === 'get') {
        if (p.length !== 2) throw new CloudletError('INVALID_ARGUMENT', `instance get ID GUEST_PATH\n${usage}`);
        const v = await c.instances.readFile(p[0], { path: p[1] });
        if (o.json) out(JSON.stringify(v));
        else process.stdout.write(Buffer.from(v.contentBase64, 'base64'));
      } else if (sub === 'interfaces') {
        const v = await c.instances.interfaces(one(p, 'an instance id', usage));
        print(o, v, () => table([['NAME', 'MAC', 'ADDRESSES'], ...v.interfaces.map((i) => [i.name, i.mac ?? '-', i.addresses.map((a) => `${a.address}/${a.prefix}`).join(' ') || '-'])]));
      } else if (sub === 'list') {
        const { instances } = await c.instances.list();
        print(o, instances, () => table([['ID', 'NAME', 'STATE', 'BASE', 'OVERLAY'], ...instances.map((i) => [i.id, i.name, i.state, i.baseId.slice(0, 16), (i.overlayId ?? '-').slice(0, 16)])]));
      } else if (sub === 'show') {
        const v = await c.instances.get(one(p, 'an instance id', usage));
        print(o, v, () =>
          Object.entries(v)
            .map(([k, x]) => `${k.padEnd(14)} ${typeof x === 'object' ? JSON.stringify(x) : x}`)
            .join('\n'),
        );
      } else if (sub === 'delete') {
        const id = one(p, 'an instance id', usage);
        await c.instances.delete(id);
        print(o, { deleted: id }, () => `deleted instance ${id}`);
      } else if (sub === 'start' || sub === 'stop' || sub === 'pause') {
        const id = one(p, 'an instance id', usage);
        const want = sub === 'start' ? 'running' : sub === 'stop' ? 'stopped' : 'paused';
        const v = await c.instances.power(id, { state: want });
        print(o, v, () => `instance ${v.id} ${v.state}`);
      } else if (sub === 'console') {
        const v = await c.instances.get(one(p, 'an instance id', usage));
        out(fs.existsSync(v.consoleLog) ? fs.readFileSync(v.consoleLog, 'utf8') : `(no console log at ${v.consoleLog}; the console is only readable on the engine's host)`);
      } else if (sub === 'exec') {
        if (p.length < 2) throw new CloudletError('INVALID_ARGUMENT', `instance exec ID -- COMMAND\n${usage}`);
        const timeoutSeconds = o.timeout as number | undefined;
        const r = await c.instances.exec(p[0], { command: p.slice(1).join(' '), timeoutSeconds }, { timeoutMs: (timeoutSeconds ?? 60) * 1000 + 10000 });
        if (o.json) out(JSON.stringify(r));
        else {
          process.stdout.write(r.stdout.endsWith('\n') || r.stdout === '' ? r.stdout : `${r.stdout}\n`);
          if (r.stderr) process.stderr.write(r.stderr.endsWith('\n') ? r.stderr : `${r.stderr}\n`);
          if (r.code !== 0) throw new CloudletError('COMMAND_FAILED', `the command exited with status ${r.code} in the guest (its output is above)`);
        }
      } else throw new CloudletError('INVALID_ARGUMENT', `unknown instance command ${sub ?? '(none)'}\n${usage}`);
    });
    return;
  }

  if (cmd === 'handoff') {
    const S = spec({
      'from-endpoint': { type: 'string', help: 'the source cloudlet engine (http(s)://HOST:PORT or unix:PATH)' },
      'from-token-file': { type: 'string', help: "file holding the source engine's API token" },
      'from-ca': { type: 'string', help: "PEM CA certificate for the source's https endpoint" },
      'from-state-dir': { type: 'string', help: 'state directory of a local source engine (instead of --from-endpoint)' },
      to: { type: 'string', help: 'a peer of this engine to move the instance to (cloudlet peer add), instead of pulling it here' },
      ...PLACEMENT,
    });
    const { positionals: p, options: o } = parseArgs(argv, S, usage);
    const id = one(p, 'an instance id or name', usage);
    if (o.to) {
      if (o['from-endpoint'] || o['from-state-dir'])
        throw new CloudletError('INVALID_ARGUMENT', `--to moves an instance from this cloudlet; it does not go with --from-endpoint or --from-state-dir\n${usage}`);
      await withClient(o, async (c) => {
        const { operation } = await c.instances.handoffTo(id, { peer: o.to as string, ...placementOf(o) });
        const done = await follow(c, operation, o, 'handoff');
        const r = done.result!;
        print(
          o,
          r,
          () =>
            `instance ${r.instance.id} (${r.instance.name}) ${r.instance.state} at peer ${r.peer}; ${formatBytes(r.bytesReceived)} sent, downtime ${r.downtimeMs ?? '?'} ms${reachLines(r.instance)}`,
        );
      });
      return;
    }
    if (!!o['from-endpoint'] === !!o['from-state-dir']) throw new CloudletError('INVALID_ARGUMENT', `give the source as --from-endpoint (with --from-token-file) or --from-state-dir\n${usage}`);
    // The source's own token only buys a short-lived token for this one instance; that is all the
    // destination engine gets.
    let source: EngineClient;
    if (o['from-state-dir']) {
      const local = await connectLocal(path.resolve(o['from-state-dir'] as string));
      source = new EngineClient({ endpoint: local.endpoint, token: local.token });
    } else {
      if (!o['from-token-file']) throw new CloudletError('INVALID_ARGUMENT', "--from-token-file: the source engine's API token is needed to ask it for a handoff token");
      source = await clientFor({ endpoint: o['from-endpoint'], 'token-file': o['from-token-file'], ca: o['from-ca'] });
    }
    let grant: { token: string; instance: string };
    try {
      grant = await source.instances.handoffToken(id);
    } finally {
      await source.close();
    }
    const ca = o['from-ca'] ? fs.readFileSync(o['from-ca'] as string, 'utf8') : undefined;
    await withClient(o, async (c) => {
      const { operation } = await c.handoffs.create({ source: { endpoint: source.o.endpoint, token: grant.token, ca }, instanceId: grant.instance, ...placementOf(o) });
      const done = await follow(c, operation, o, 'handoff');
      const r = done.result!;
      print(
        o,
        done.result,
        () =>
          `instance ${r.instance.id} (${r.instance.name}) ${r.instance.state} here; ${formatBytes(r.bytesReceived)} received, downtime ${r.downtimeMs ?? '?'} ms; ${Object.entries(done.timings)
            .map(([k, t]) => `${k} ${t} s`)
            .join(', ')}${reachLines(r.instance)}`,
      );
    });
    return;
  }

  if (cmd === 'network') {
    const S = spec({ cidr: { type: 'string', help: 'create: the range in CIDR notation, /16 to /29 (default: a free /24 in 10.213.0.0/16)' } });
    const { positionals: p, options: o } = parseArgs(rest, S, usage);
    await withClient(o, async (c) => {
      if (sub === 'list') {
        const { networks } = await c.networks.list();
        print(o, networks, () =>
          table([['ID', 'NAME', 'CIDR', 'GATEWAY', 'INSTANCES'], ...networks.map((n) => [n.id, `${n.name}${n.default ? ' (default)' : ''}`, n.cidr, n.gateway, String(n.instances.length)])]),
        );
      } else if (sub === 'show') {
        const v = await c.networks.get(one(p, 'a network name or id', usage));
        print(o, v, () =>
          Object.entries(v)
            .map(([k, x]) => `${k.padEnd(10)} ${Array.isArray(x) ? x.join(' ') || '-' : String(x)}`)
            .join('\n'),
        );
      } else if (sub === 'create') {
        const name = one(p, 'a network name', usage);
        const v = await c.networks.create({ name, ...(o.cidr ? { cidr: o.cidr as string } : {}) });
        print(o, v, () => `network ${v.id} (${v.name}) ${v.cidr}, gateway ${v.gateway}`);
      } else if (sub === 'delete') {
        const id = one(p, 'a network name or id', usage);
        await c.networks.delete(id);
        print(o, { deleted: id }, () => `deleted network ${id}`);
      } else throw new CloudletError('INVALID_ARGUMENT', `unknown network command ${sub ?? '(none)'}\n${usage}`);
    });
    return;
  }

  if (cmd === 'dashboard') {
    const { positionals: p, options: o } = parseArgs(argv, spec({ port: { type: 'number', help: 'loopback port for the local engine (default: any free one)' } }), usage);
    if (p.length) throw new CloudletError('INVALID_ARGUMENT', `unexpected argument ${p[0]}\n${usage}`);
    await withClient(o, (c) => dashboardCommand(c, { port: o.port as number | undefined }, out));
    return;
  }

  if (cmd === 'probe') {
    const { positionals: p, options: o } = parseArgs(
      argv,
      spec({ port: { type: 'number', help: 'TCP port to time (a refusal is an answer too; default 443)' }, attempts: { type: 'number', help: 'connections to time (default 3)' } }),
      usage,
    );
    if (p.length !== 1) throw new CloudletError('INVALID_ARGUMENT', `give one client address\n${usage}`);
    await withClient(o, async (c) => {
      const r = await c.engine.probe({ address: p[0], port: o.port as number | undefined, attempts: o.attempts as number | undefined });
      print(o, r, () => (r.rttMs === null ? `${r.address}:${r.port}: no answer` : `${r.address}:${r.port}: ${r.rttMs} ms (samples ${r.samples.map((x) => (x === null ? '-' : x)).join(', ')})`));
    });
    return;
  }

  if (cmd === 'doctor') {
    const { positionals: p, options: o } = parseArgs(argv, spec({}), usage);
    if (p.length) throw new CloudletError('INVALID_ARGUMENT', `unexpected argument ${p[0]}\n${usage}`);
    await withClient(o, async (c) => {
      const r = await c.engine.doctor();
      print(o, r, () =>
        r.checks.map((x) => `${x.status === 'ok' ? 'ok  ' : x.status === 'warn' ? 'WARN' : 'FAIL'}  ${x.name.padEnd(12)} ${x.detail}${x.fix ? `\n      fix: ${x.fix}` : ''}`).join('\n'),
      );
      const blocking = r.checks.filter((x) => x.status === 'fail');
      if (blocking.length) throw new CloudletError('HOST_UNSUPPORTED', `${blocking.length} blocking problem(s): ${blocking.map((x) => x.name).join(', ')}`);
    });
    return;
  }

  if (cmd === 'peer') {
    const S = spec({
      'peer-endpoint': { type: 'string', help: "add: the peer engine's endpoint (https://HOST:PORT, http://..., unix:PATH)" },
      'peer-token-file': { type: 'string', help: "add: file holding the peer engine's API token (kept on this engine)" },
      'peer-ca': { type: 'string', help: "add: PEM CA certificate for the peer's https endpoint" },
    });
    const { positionals: p, options: o } = parseArgs(rest, S, usage);
    await withClient(o, async (c) => {
      if (sub === 'list') {
        const { peers } = await c.peers.list();
        print(o, peers, () => table([['NAME', 'ENDPOINT', 'CA'], ...peers.map((x) => [x.name, x.endpoint, x.ca ? 'yes' : '-'])]));
      } else if (sub === 'add') {
        const name = one(p, 'a peer name', usage);
        if (!o['peer-endpoint'] || !o['peer-token-file']) throw new CloudletError('INVALID_ARGUMENT', `peer add needs --peer-endpoint and --peer-token-file\n${usage}`);
        const token = readOptionFile(o['peer-token-file'] as string, '--peer-token-file').trim();
        const ca = o['peer-ca'] ? readOptionFile(o['peer-ca'] as string, '--peer-ca') : undefined;
        const v = await c.peers.create({ name, endpoint: o['peer-endpoint'] as string, token, ...(ca ? { ca } : {}) });
        print(o, v, () => `peer ${v.name} at ${v.endpoint}`);
      } else if (sub === 'delete') {
        const name = one(p, 'a peer name', usage);
        await c.peers.delete(name);
        print(o, { deleted: name }, () => `forgot peer ${name}`);
      } else throw new CloudletError('INVALID_ARGUMENT', `unknown peer command ${sub ?? '(none)'}\n${usage}`);
    });
    return;
  }

  if (cmd === 'operation') {
    const { positionals: p, options: o } = parseArgs(rest, spec({}), usage);
    await withClient(o, async (c) => {
      if (sub === 'list') {
        const { operations } = await c.operations.list();
        print(o, operations, () =>
          table([['ID', 'KIND', 'STATE', 'PHASE', 'ERROR'], ...operations.map((x) => [x.id, x.kind, x.state, x.phase, x.error ? `${x.error.code}: ${x.error.message}` : ''])]),
        );
      } else if (sub === 'show') {
        const v = await c.operations.get(one(p, 'an operation id', usage));
        out(JSON.stringify(v, null, 2));
      } else if (sub === 'cancel') {
        const v = await c.operations.cancel(one(p, 'an operation id', usage));
        print(o, v, () => `operation ${v.id}: ${v.state}`);
      } else throw new CloudletError('INVALID_ARGUMENT', `unknown operation command ${sub ?? '(none)'}\n${usage}`);
    });
    return;
  }
  throw new CloudletError('INVALID_ARGUMENT', `unknown command ${cmd}`);
}
