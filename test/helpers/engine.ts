// Real engines for integration tests: `cloudlet engine serve` started from the compiled CLI (dist/, built by
// `npm test` before jest runs) on its own state directory and TCP port, plus a small HTTP file server whose
// misbehaviours (404, stall, garbage, truncation, throttling) are chosen per path.

import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient, OperationView } from '../../engine/client/client';
import { OperationOf } from '../../engine/contract/schemas';
import { repoRoot } from '../../provider/build';

export const CLI_JS = path.join(repoRoot(), 'dist', 'engine', 'cli', 'main.js');

export function requireBuild(): void {
  if (!fs.existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: run \`npm run build\` (npm test does) before these tests`);
}

export class TestEngine {
  proc!: ChildProcess;
  endpoint = '';
  token = '';
  client!: EngineClient;
  private logFd = -1;
  /** Extra environment for the engine process (e.g. CLOUDLET_CRASH_AT for the crash-point harness). */
  env: Record<string, string> = {};
  /**
   * An engine started by a command of its own (a systemd unit's ExecStart= from `cloudlet engine install`):
   * the whole command, the token file it names and the CA its certificate chains to.
   */
  service?: { command: string[]; tokenFile: string; ca?: string };

  /** `wrap` prefixes the engine's command line (e.g. `ip netns exec NS`). */
  constructor(
    readonly stateDir: string,
    readonly extraArgs: string[] = [],
    readonly wrap: string[] = [],
    public listen = '127.0.0.1:0',
  ) {}

  static async start(label: string, extraArgs: string[] = [], wrap: string[] = [], listen?: string): Promise<TestEngine> {
    requireBuild();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cle-${label}-`));
    const e = new TestEngine(dir, extraArgs, wrap, listen);
    await e.boot();
    return e;
  }

  /** An engine run by the command a service unit names (see `service`); `wrap` prefixes it. */
  static async startService(stateDir: string, service: NonNullable<TestEngine['service']>, wrap: string[] = []): Promise<TestEngine> {
    requireBuild();
    const e = new TestEngine(stateDir, [], wrap);
    e.service = service;
    await e.boot();
    return e;
  }

  get log(): string {
    return fs.readFileSync(path.join(this.stateDir, 'engine.log'), 'utf8');
  }

  /** Where this engine keeps instance `id`'s guest console (a file libvirt writes). */
  consolePath(id: string): string {
    return path.join(this.stateDir, 'instances', id, 'console.log');
  }

  /**
   * Waits (up to 20 s) until instance `id` is no longer listed here: a handoff's source removes its copy after
   * the destination has confirmed, so a move straight back must wait for that.
   */
  async waitInstanceGone(id: string): Promise<void> {
    for (let i = 0; i < 100 && (await this.instances.list()).instances.some((x) => x.id === id); i++) await new Promise((r) => setTimeout(r, 200));
  }

  async boot(): Promise<void> {
    fs.rmSync(path.join(this.stateDir, 'engine.json'), { force: true });
    this.logFd = fs.openSync(path.join(this.stateDir, 'engine.log'), 'a');
    const cmd = [...this.wrap, ...(this.service?.command ?? [process.execPath, CLI_JS, 'engine', 'serve', '--state-dir', this.stateDir, '--listen', this.listen, ...this.extraArgs])];
    this.proc = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', this.logFd, this.logFd], env: { ...process.env, ...this.env } });
    const deadline = Date.now() + 60000;
    const info = path.join(this.stateDir, 'engine.json');
    while (!fs.existsSync(info)) {
      if (this.proc.exitCode !== null) throw new Error(`engine exited with ${this.proc.exitCode}:\n${this.log}`);
      if (Date.now() > deadline) throw new Error(`engine did not start:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    this.endpoint = (JSON.parse(fs.readFileSync(info, 'utf8')) as { endpoint: string }).endpoint;
    this.token = fs.readFileSync(this.service?.tokenFile ?? path.join(this.stateDir, 'token'), 'utf8').trim();
    this.client = new EngineClient({ endpoint: this.endpoint, token: this.token, ca: this.service?.ca && fs.readFileSync(this.service.ca, 'utf8') });
  }

  // The engine client's typed API groups, so a test reads `e.instances.get(id)` like any other client.
  get engine(): EngineClient['engine'] {
    return this.client.engine;
  }
  get bases(): EngineClient['bases'] {
    return this.client.bases;
  }
  get overlays(): EngineClient['overlays'] {
    return this.client.overlays;
  }
  get instances(): EngineClient['instances'] {
    return this.client.instances;
  }
  get handoffs(): EngineClient['handoffs'] {
    return this.client.handoffs;
  }
  get operations(): EngineClient['operations'] {
    return this.client.operations;
  }
  get networks(): EngineClient['networks'] {
    return this.client.networks;
  }

  /** Starts an operation (`(api) => api.bases.import(...)`) and waits for it; returns the final view (any state). */
  async op<T>(start: (api: EngineClient) => Promise<{ operation: OperationOf<T> }>): Promise<OperationOf<T>> {
    const { operation } = await start(this.client);
    return (await this.settle(operation.id)) as OperationOf<T>;
  }

  /** Like op, but an operation that did not succeed is an error naming `what`, with the engine log's tail. */
  async opOk<T>(start: (api: EngineClient) => Promise<{ operation: OperationOf<T> }>, what: string): Promise<OperationOf<T> & { result: T }> {
    const v = await this.op(start);
    if (v.state !== 'succeeded') throw new Error(`${what}: operation ${v.id} ${v.state}: ${v.error?.code ?? ''} ${v.error?.message ?? ''}\n${this.log.slice(-4000)}`);
    return v as OperationOf<T> & { result: T };
  }

  async settle(id: string, timeoutMs = 600000): Promise<OperationView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await this.operations.get(id, { wait: 5 });
      if (v.state !== 'running') return v;
      if (Date.now() > deadline) throw new Error(`operation ${id} still running in phase ${v.phase}`);
    }
  }

  kill9(): Promise<void> {
    return this.stop('SIGKILL');
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    // A closed undici client's close() never settles: close it once.
    const c = this.client as EngineClient | undefined;
    this.client = undefined as unknown as EngineClient;
    // An engine killed under an open request can leave close() waiting on it: don't wait long.
    await Promise.race([c?.close().catch(() => undefined), new Promise((r) => setTimeout(r, 3000).unref())]);
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill(signal);
      await exited;
    }
    if (this.logFd >= 0) fs.closeSync(this.logFd);
    this.logFd = -1;
  }

  /** Deletes every instance (through the API), then stops the engine and removes its state. */
  async destroy(): Promise<void> {
    try {
      const { instances } = await this.instances.list();
      for (const i of instances) await this.instances.delete(i.id).catch(() => undefined);
    } catch {
      // engine already gone
    }
    await this.stop();
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}

export type Behaviour = 'ok' | '404' | 'stall' | 'truncate' | 'garbage' | { throttleBytesPerSec: number };

/** A static file server for test URLs. `serve(name, file, behaviour)` publishes a file at /name. */
export class FileServer {
  private readonly files = new Map<string, { file: string; how: Behaviour }>();
  private server!: http.Server;
  origin = '';
  private readonly sockets = new Set<import('node:net').Socket>();

  async start(host = '127.0.0.1'): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server.listen(0, host, () => r()));
    this.origin = `http://${host}:${(this.server.address() as AddressInfo).port}`;
  }

  serve(name: string, file: string, how: Behaviour = 'ok'): string {
    this.files.set(name, { file, how });
    return `${this.origin}/${name}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const f = this.files.get((req.url ?? '/').slice(1));
    if (!f || f.how === '404') {
      res.writeHead(404);
      return void res.end('not found');
    }
    if (f.how === 'stall') return; // never answers
    if (f.how === 'garbage') {
      res.writeHead(200, { 'content-length': 1 << 20 });
      return void res.end(Buffer.alloc(1 << 20, 0x5a));
    }
    const size = fs.statSync(f.file).size;
    res.writeHead(200, { 'content-length': size });
    if (f.how === 'truncate') {
      // Sends about half of the file, then drops the connection.
      const rs = fs.createReadStream(f.file, { start: 0, end: Math.floor(size / 2) });
      rs.on('data', (c) => res.write(c));
      rs.on('end', () => res.socket?.destroy());
      return;
    }
    if (typeof f.how === 'object') {
      const rate = f.how.throttleBytesPerSec;
      const fd = fs.openSync(f.file, 'r');
      let pos = 0;
      const slice = Math.max(1024, Math.floor(rate / 10));
      const tick = setInterval(() => {
        if (res.destroyed) {
          clearInterval(tick);
          fs.closeSync(fd);
          return;
        }
        const b = Buffer.alloc(Math.min(slice, size - pos));
        fs.readSync(fd, b, 0, b.length, pos);
        pos += b.length;
        res.write(b);
        if (pos >= size) {
          clearInterval(tick);
          fs.closeSync(fd);
          res.end();
        }
      }, 100);
      return;
    }
    fs.createReadStream(f.file).pipe(res);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Whether a QEMU process runs this libvirt domain. */
export function qemuRunning(domain: string): boolean {
  return qemuCommandLines(domain).length > 0;
}

/** The QEMU processes running this libvirt domain (the engine's root shows in their command lines). */
function qemuProcesses(domain: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.startsWith('/usr/bin/qemu-system') && cmd.includes(`guest=${domain},`)) out.push({ pid: Number(pid), cmd: cmd.replace(/\0/g, ' ') });
    } catch {
      // process ended
    }
  }
  return out;
}

/** Process ids of the QEMU processes running this libvirt domain. */
export function qemuPids(domain: string): number[] {
  return qemuProcesses(domain).map((p) => p.pid);
}

/** Command lines of the QEMU processes running this libvirt domain. */
export function qemuCommandLines(domain: string): string[] {
  return qemuProcesses(domain).map((p) => p.cmd);
}

/**
 * An overlay file of a base, made through a real engine: import the base (if needed), resume it, run
 * `command` in the guest, capture, download to `out`; then the VM and the stored overlay are deleted again,
 * so the engine holds only the base. Returns the overlay's id (its SHA-256).
 */
export async function makeOverlayFile(engine: TestEngine, base: { file: string; baseId: string }, out: string, command: string): Promise<string> {
  await engine.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId }), 'base import');
  const resumed = await engine.opOk((api) => api.instances.create({ name: `overlay-source-${Date.now()}`, baseId: base.baseId }), 'resume');
  const instanceId = (resumed.result as { instance: { id: string } }).instance.id;
  try {
    const ran = await engine.instances.exec(instanceId, { command });
    if (ran.code !== 0) throw new Error(`${command} exited ${ran.code} in the guest: ${ran.stdout}`);
    const captured = await engine.opOk((api) => api.overlays.import({ instanceId }), 'overlay capture');
    const overlayId = (captured.result as { overlay: { id: string } }).overlay.id;
    await engine.client.downloadOverlay(overlayId, out);
    await engine.overlays.delete(overlayId);
    return overlayId;
  } finally {
    await engine.instances.delete(instanceId);
  }
}

/**
 * The test guest's `/cgi-bin/id` answer at a published endpoint ("HOSTNAME COUNTER"), asked with curl from
 * this host until it answers (about 10 s): a VM just resumed or moved may take a moment to reply.
 */
export async function guestId(endpoint: string): Promise<{ host: string; counter: number }> {
  for (let i = 0; ; i++) {
    const r = spawnSync('curl', ['-fsS', '-m', '3', `${endpoint}/cgi-bin/id`], { encoding: 'utf8' });
    const m = /^(\S+) (\d+)$/.exec(r.stdout.trim());
    if (r.status === 0 && m) return { host: m[1], counter: Number(m[2]) };
    if (i > 20) throw new Error(`${endpoint} does not answer: ${r.stderr}${r.stdout}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
