// A real nginx (Debian's nginx-light) for tests: started in the foreground with a config of its own in a temp
// dir, serving a directory, with an access log that records each request's status, Range header and bytes
// sent; and a TCP relay that cuts connections after a number of response bytes, to break transfers on purpose.

import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

const NGINX = '/usr/sbin/nginx';

export interface AccessLine {
  uri: string;
  status: number;
  range: string;
  bytes: number;
}

export class Nginx {
  private child?: ChildProcess;
  private exited: Promise<void> = Promise.resolve();
  readonly www: string;

  private constructor(
    readonly work: string,
    readonly host: string,
    readonly port: number,
  ) {
    this.www = path.join(work, 'www');
  }

  get base(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Starts nginx on host:port serving <work>/www; `locations` are extra lines inside its server block. */
  static async start(work: string, o: { host?: string; port?: number; locations?: string } = {}): Promise<Nginx> {
    if (!fs.existsSync(NGINX)) throw new Error(`${NGINX} is not installed: run engine/host/setup-host.sh (it installs nginx-light)`);
    const host = o.host ?? '127.0.0.1';
    const port = o.port ?? (await freePort(host));
    const n = new Nginx(work, host, port);
    fs.mkdirSync(n.www, { recursive: true });
    // nginx's workers run as an unprivileged user; they must be able to reach the served files (every directory
    // above them searchable).
    for (let d = path.dirname(path.resolve(work)); d !== path.dirname(d); d = path.dirname(d)) fs.chmodSync(d, fs.statSync(d).mode | 0o001);
    for (const d of [work, n.www]) fs.chmodSync(d, 0o755);
    const conf = path.join(work, 'nginx.conf');
    fs.writeFileSync(
      conf,
      `daemon off;
master_process on;
worker_processes 1;
pid ${work}/nginx.pid;
error_log ${work}/error.log info;
events { worker_connections 256; }
http {
  log_format cloudlet '$request_uri $status "$http_range" $body_bytes_sent';
  access_log ${work}/access.log cloudlet;
  client_body_temp_path ${work}/client_body;
  proxy_temp_path ${work}/proxy;
  fastcgi_temp_path ${work}/fastcgi;
  uwsgi_temp_path ${work}/uwsgi;
  scgi_temp_path ${work}/scgi;
  server {
    listen ${host}:${port};
    root ${n.www};
    absolute_redirect off;
${o.locations ?? ''}
  }
}
`,
    );
    const child = spawn(NGINX, ['-c', conf, '-p', `${work}/`, '-e', `${work}/error.log`], { stdio: ['ignore', 'ignore', 'pipe'] });
    n.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    n.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    for (const deadline = Date.now() + 10000; ;) {
      if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}`);
      if (await connects(host, port)) return n;
      if (Date.now() > deadline) throw new Error(`nginx did not listen on ${host}:${port}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Puts a file where nginx serves it (readable by its workers); returns its URL. */
  serve(name: string, from: string | Buffer): string {
    const to = path.join(this.www, name);
    fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o755 });
    if (typeof from === 'string') fs.copyFileSync(from, to);
    else fs.writeFileSync(to, from);
    fs.chmodSync(to, 0o644);
    return `${this.base}/${name}`;
  }

  /** The access log so far (nginx writes each line as the request ends). */
  access(): AccessLine[] {
    const file = path.join(this.work, 'access.log');
    if (!fs.existsSync(file)) return [];
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const m = /^(\S+) (\d+) "([^"]*)" (\d+)$/.exec(l)!;
        return { uri: m[1], status: Number(m[2]), range: m[3] === '-' ? '' : m[3], bytes: Number(m[4]) };
      });
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await this.exited;
    }
  }
}

async function connects(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, host, () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, host, resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * A TCP relay to `target` that cuts each of the first `cuts` connections once `afterBytes` bytes of the answer
 * went through (the client sees the transfer break off); later connections pass whole. `onCut` runs at each cut.
 */
export class CuttingRelay {
  private server: net.Server;
  port = 0;
  cut = 0;
  private sockets = new Set<net.Socket>();

  constructor(
    readonly target: { host: string; port: number },
    readonly afterBytes: number,
    private cuts: number,
    private onCut: () => void = () => undefined,
  ) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
      }
      const cutThis = this.cuts > 0;
      if (cutThis) this.cuts--;
      let sent = 0;
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.pipe(upstream);
      upstream.on('data', (d: Buffer) => {
        if (cutThis && sent + d.length >= afterBytes) {
          client.write(d.subarray(0, Math.max(0, afterBytes - sent)));
          this.cut++;
          this.onCut();
          upstream.destroy();
          client.destroy();
          return;
        }
        sent += d.length;
        client.write(d);
      });
      upstream.on('end', () => client.end());
    });
  }

  async start(host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, host, resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return `http://${host}:${this.port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }
}
