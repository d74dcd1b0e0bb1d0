// The go-plugin side of the provider, as Terraform meets it: the handshake line, AutoMTLS (only the client
// certificate Terraform announced gets in), the health, controller and provider services over real gRPC with
// our codec on both ends, and the packaged executable's process behaviour (Shutdown exits 0, SIGINT does not
// kill it, running it by hand explains itself).

import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { providerPackage, repoRoot } from '../../provider/build';
import { cloudletProvider } from '../../provider/cloudlet/provider';
import { ProviderServer, conform } from '../../provider/framework/server';
import { BlockSchema, blockType } from '../../provider/framework/schema';
import { selfSignedCertificate, SelfSignedCertificate } from '../../provider/protocol/cert';
import { CtyValue, encodeMsgpack, typeFromJsonText } from '../../provider/protocol/cty';
import { compileDescriptor } from '../../provider/protocol/descriptor';
import { MAGIC_COOKIE_VALUE, Message, ProviderHandlers, RunningPlugin, loadServices, servePlugin } from '../../provider/protocol/plugin-server';
import { Descriptor } from '../../provider/protocol/protobuf';

type Obj = Record<string, unknown>;
type Unary = (req: Message, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Message) => void) => grpc.ClientUnaryCall;
type ServerStreaming = (req: Message, md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<Message>;

const HANDSHAKE_RE = /^1\|6\|tcp\|127\.0\.0\.1:(\d+)\|grpc\|([A-Za-z0-9+/]+)$/;

let descriptor: Descriptor;
let services: ReturnType<typeof loadServices>;

beforeAll(() => {
  descriptor = compileDescriptor();
  services = loadServices(descriptor);
});

/** The server certificate from the handshake's last field: DER, base64 without padding. */
function serverCertPem(handshake: string): string {
  const m = HANDSHAKE_RE.exec(handshake);
  if (!m) throw new Error(`not a handshake line: ${handshake}`);
  const der = Buffer.from(m[2], 'base64');
  return new crypto.X509Certificate(der).toString();
}

function portOf(handshake: string): number {
  return Number(HANDSHAKE_RE.exec(handshake)![1]);
}

const CHANNEL_OPTIONS = { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' };

function client(which: 'provider' | 'controller' | 'stdio' | 'health', port: number, creds: grpc.ChannelCredentials): grpc.Client {
  const Ctor = grpc.makeGenericClientConstructor(services[which], which);
  return new Ctor(`127.0.0.1:${port}`, creds, CHANNEL_OPTIONS);
}

function call(c: grpc.Client, method: string, req: Message = {}, timeoutMs = 10_000): Promise<Message> {
  const fn = (c as unknown as Record<string, Unary>)[method];
  if (typeof fn !== 'function') throw new Error(`no method ${method}`);
  return new Promise((resolve, reject) => {
    fn.call(c, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}

async function callError(c: grpc.Client, method: string, req: Message = {}, timeoutMs = 5_000): Promise<grpc.ServiceError> {
  try {
    await call(c, method, req, timeoutMs);
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error(`${method} succeeded but was expected to fail`);
}

/** A resource's configuration as Terraform sends it: every attribute present (null when unset), msgpack. */
function configOf(schema: BlockSchema, v: Record<string, CtyValue>): Message {
  const t = blockType(schema);
  return { msgpack: Buffer.from(encodeMsgpack(conform(v, t), t)) };
}

function schemaOf(typeName: string): BlockSchema {
  const def = cloudletProvider();
  const r = [...def.resources, ...def.dataSources].find((x) => x.typeName === typeName);
  if (!r) throw new Error(`no ${typeName}`);
  return r.schema.block;
}

const stepsOf = (d: Obj): Obj[] => ((d.attribute as Obj | null)?.steps as Obj[] | undefined) ?? [];

// ------------------------------------------------------------------------------------------- in-process

describe('servePlugin in-process', () => {
  let terraform: SelfSignedCertificate;
  let plugin: RunningPlugin;
  let port: number;
  let creds: grpc.ChannelCredentials;
  const clients: grpc.Client[] = [];
  const open = (which: 'provider' | 'controller' | 'stdio' | 'health', c = creds): grpc.Client => {
    const cl = client(which, port, c);
    clients.push(cl);
    return cl;
  };

  beforeAll(async () => {
    terraform = selfSignedCertificate();
    plugin = await servePlugin(new ProviderServer(cloudletProvider()).handlers(), { PLUGIN_PROTOCOL_VERSIONS: '5,6', PLUGIN_CLIENT_CERT: terraform.certPem }, { descriptor });
    port = portOf(plugin.handshake);
    creds = grpc.credentials.createSsl(Buffer.from(serverCertPem(plugin.handshake)), Buffer.from(terraform.keyPem), Buffer.from(terraform.certPem));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([plugin.stop(), new Promise((r) => (timer = setTimeout(r, 3000)))]);
    clearTimeout(timer);
    plugin.server.forceShutdown();
  });

  test("the handshake line is go-plugin's: core 1, protocol 6, tcp on loopback, grpc, unpadded base64 DER", () => {
    expect(plugin.handshake).toMatch(HANDSHAKE_RE);
    const [core, proto, net, addr, kind, cert] = plugin.handshake.split('|');
    expect([core, proto, net, kind]).toEqual(['1', '6', 'tcp', 'grpc']);
    expect(addr).toBe(`127.0.0.1:${port}`);
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
    expect(cert).not.toMatch(/=/);
    expect(plugin.handshake).not.toMatch(/\n/);
    // The DER is a certificate for localhost, different from the client's.
    const x509 = new crypto.X509Certificate(Buffer.from(cert, 'base64'));
    expect(x509.subjectAltName).toMatch(/DNS:localhost/);
    expect(x509.raw.toString('base64').replace(/=+$/, '')).toBe(cert);
    expect(x509.fingerprint256).not.toBe(new crypto.X509Certificate(terraform.certPem).fingerprint256);
  });

  test('refuses a Terraform that offers only protocol 5', async () => {
    await expect(servePlugin({} as ProviderHandlers, { PLUGIN_PROTOCOL_VERSIONS: '5', PLUGIN_CLIENT_CERT: terraform.certPem }, { descriptor })).rejects.toThrow(/speaks only 6/);
  });

  test('grpc.health.v1.Health/Check: "plugin" is SERVING', async () => {
    const health = open('health');
    expect(await call(health, 'Check', { service: 'plugin' })).toEqual({ status: 'SERVING' });
    expect(await call(health, 'Check', { service: '' })).toEqual({ status: 'SERVING' });
    expect(await call(health, 'Check', { service: 'nonsense' })).toEqual({ status: 'SERVICE_UNKNOWN' });
  });

  test('plugin.GRPCStdio/StreamStdio stays open and quiet', async () => {
    const stdio = open('stdio');
    const stream = (stdio as unknown as Record<string, ServerStreaming>).StreamStdio.call(stdio, {}, new grpc.Metadata(), {});
    const seen: string[] = [];
    stream.on('data', () => seen.push('data'));
    stream.on('end', () => seen.push('end'));
    stream.on('error', (e: grpc.ServiceError) => seen.push(e.code === grpc.status.CANCELLED ? 'cancelled' : `error ${e.code}`));
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
    stream.cancel();
    await new Promise((r) => setTimeout(r, 100));
    expect(seen[0]).toBe('cancelled');
    expect(seen).not.toContain('data');
  });

  test('GetMetadata lists the resources and data sources', async () => {
    const res = await call(open('provider'), 'GetMetadata');
    expect(((res.resources as Obj[]).map((r) => r.type_name) as string[]).sort()).toEqual(['cloudlet_base_vm', 'cloudlet_customization', 'cloudlet_instance', 'cloudlet_network', 'cloudlet_overlay']);
    expect(((res.data_sources as Obj[]).map((r) => r.type_name) as string[]).sort()).toEqual(['cloudlet_base_vm', 'cloudlet_engine']);
    expect(res.diagnostics).toEqual([]);
    expect(res.functions).toEqual([]);
    expect(res.server_capabilities).toEqual({ plan_destroy: false, get_provider_schema_optional: true, move_resource_state: false });
  });

  test('GetProviderSchema: provider, resource and data source schemas with cty type JSON', async () => {
    const res = await call(open('provider'), 'GetProviderSchema');
    expect(res.diagnostics).toEqual([]);
    const attrs = (schema: Obj): Record<string, Obj> => Object.fromEntries(((schema.block as Obj).attributes as Obj[]).map((a) => [a.name as string, a]));

    const provider = attrs(res.provider as Obj);
    expect(provider.token).toMatchObject({ optional: true, sensitive: true, required: false, computed: false, description_kind: 'MARKDOWN' });
    expect(provider.endpoint.sensitive).toBe(false);
    expect((((res.provider as Obj).block as Obj).block_types as Obj[]).map((b) => [b.type_name, b.nesting])).toEqual([['peer', 'LIST']]);

    const resources = res.resource_schemas as Record<string, Obj>;
    expect(Object.keys(resources).sort()).toEqual(['cloudlet_base_vm', 'cloudlet_customization', 'cloudlet_instance', 'cloudlet_network', 'cloudlet_overlay']);
    expect(Object.keys(res.data_source_schemas as Obj).sort()).toEqual(['cloudlet_base_vm', 'cloudlet_engine']);
    const instance = attrs(resources.cloudlet_instance);
    expect(instance.power_state).toMatchObject({ optional: true, computed: true, required: false });
    expect(instance.name).toMatchObject({ required: true, optional: false, computed: false });
    expect(JSON.parse(String(instance.name.type))).toBe('string');
    expect(JSON.parse(String(instance.timings.type))).toEqual(['map', 'number']);

    // Every attribute of every schema carries a type Terraform can parse, and attributes come sorted.
    const all = [res.provider as Obj, ...Object.values(resources), ...Object.values(res.data_source_schemas as Record<string, Obj>)];
    for (const schema of all) {
      const names = ((schema.block as Obj).attributes as Obj[]).map((a) => a.name as string);
      expect(names).toEqual([...names].sort());
      for (const a of (schema.block as Obj).attributes as Obj[]) {
        expect(Buffer.isBuffer(a.type)).toBe(true);
        expect(() => typeFromJsonText(a.type as Buffer)).not.toThrow();
        expect(String(a.description).length).toBeGreaterThan(0);
      }
    }
    const engine = attrs((res.data_source_schemas as Record<string, Obj>).cloudlet_engine);
    expect(Object.values(engine).some((a) => JSON.stringify(JSON.parse(String(a.type))) === '["list","string"]')).toBe(true);
  });

  test('ValidateResourceConfig: an invalid sha256 points at the attribute; a valid one passes', async () => {
    const provider = open('provider');
    const schema = schemaOf('cloudlet_base_vm');
    const bad = await call(provider, 'ValidateResourceConfig', { type_name: 'cloudlet_base_vm', config: configOf(schema, { source: 'https://example.com/base.tar', sha256: 'not-a-digest' }) });
    const ds = bad.diagnostics as Obj[];
    expect(ds).toHaveLength(1);
    expect(ds[0]).toMatchObject({ severity: 'ERROR', summary: 'Invalid value for sha256' });
    expect(String(ds[0].detail)).toMatch(/64 lowercase hexadecimal/);
    expect(stepsOf(ds[0]).map((s) => s.attribute_name)).toEqual(['sha256']);

    const good = await call(provider, 'ValidateResourceConfig', { type_name: 'cloudlet_base_vm', config: configOf(schema, { source: 'https://example.com/base.tar', sha256: 'a'.repeat(64) }) });
    expect(good.diagnostics).toEqual([]);
  });

  test('ValidateResourceConfig: an overlay with neither source nor customization_id is an error', async () => {
    const res = await call(open('provider'), 'ValidateResourceConfig', { type_name: 'cloudlet_overlay', config: configOf(schemaOf('cloudlet_overlay'), {}) });
    const ds = res.diagnostics as Obj[];
    expect(ds.map((d) => [d.severity, d.summary])).toEqual([['ERROR', 'Missing overlay origin']]);
    expect(stepsOf(ds[0]).map((s) => s.attribute_name)).toEqual(['source']);
  });

  test('an unknown resource type is a diagnostic, not a gRPC error', async () => {
    const res = await call(open('provider'), 'ValidateResourceConfig', { type_name: 'cloudlet_nonsense', config: { msgpack: Buffer.from([0xc0]) } });
    expect(res.diagnostics).toEqual([expect.objectContaining({ severity: 'ERROR', summary: 'Unknown resource type', detail: expect.stringContaining('cloudlet_nonsense') })]);
    const data = await call(open('provider'), 'ValidateDataResourceConfig', { type_name: 'cloudlet_nonsense', config: { msgpack: Buffer.from([0xc0]) } });
    expect((data.diagnostics as Obj[])[0]).toMatchObject({ severity: 'ERROR', summary: 'Unknown data source' });
  });

  test('ReadResource before ConfigureProvider is a diagnostic, not a crash', async () => {
    const provider = open('provider');
    const schema = schemaOf('cloudlet_instance');
    const res = await call(provider, 'ReadResource', { type_name: 'cloudlet_instance', current_state: configOf(schema, { id: 'i-1', name: 'web' }), private: Buffer.from('p') });
    expect(res.diagnostics).toEqual([expect.objectContaining({ severity: 'ERROR', summary: 'Provider not configured' })]);
    // The server is still there.
    expect(await call(open('health'), 'Check', { service: 'plugin' })).toEqual({ status: 'SERVING' });
  });

  test('GetFunctions is empty; CallFunction answers with an error text', async () => {
    const provider = open('provider');
    expect(await call(provider, 'GetFunctions')).toEqual({ functions: {}, diagnostics: [] });
    const res = await call(provider, 'CallFunction', { name: 'frobnicate', arguments: [{ msgpack: Buffer.from([0xc0]) }] });
    expect(res.result).toBeNull();
    expect(String((res.error as Obj).text)).toMatch(/no function named frobnicate/);
  });

  test('ephemeral resource calls answer with a diagnostic', async () => {
    const res = await call(open('provider'), 'OpenEphemeralResource', { type_name: 'cloudlet_secret' });
    expect((res.diagnostics as Obj[])[0]).toMatchObject({ severity: 'ERROR', summary: 'No such ephemeral resource' });
    expect(Object.prototype.hasOwnProperty.call(res, 'renew_at')).toBe(false);
  });

  test('StopProvider answers with an empty Error', async () => {
    expect(await call(open('provider'), 'StopProvider')).toEqual({ Error: '' });
  });

  test('a client presenting a different certificate than PLUGIN_CLIENT_CERT cannot call anything', async () => {
    const stranger = selfSignedCertificate();
    const strangerCreds = grpc.credentials.createSsl(Buffer.from(serverCertPem(plugin.handshake)), Buffer.from(stranger.keyPem), Buffer.from(stranger.certPem));
    const refused = [grpc.status.UNAVAILABLE, grpc.status.UNAUTHENTICATED, grpc.status.DEADLINE_EXCEEDED];
    for (const [which, method] of [
      ['health', 'Check'],
      ['provider', 'GetProviderSchema'],
      ['controller', 'Shutdown'],
    ] as const) {
      const e = await callError(open(which, strangerCreds), method, which === 'health' ? { service: 'plugin' } : {});
      expect({ method, refused: refused.includes(e.code) }).toEqual({ method, refused: true });
    }
    // No client certificate at all.
    const anonymous = grpc.credentials.createSsl(Buffer.from(serverCertPem(plugin.handshake)));
    expect(refused).toContain((await callError(open('health', anonymous), 'Check', { service: 'plugin' })).code);
    // Plain text.
    expect(refused).toContain((await callError(open('health', grpc.credentials.createInsecure()), 'Check', { service: 'plugin' })).code);
    // And a client that trusts some other server certificate does not talk to this one.
    const wrongServer = grpc.credentials.createSsl(Buffer.from(selfSignedCertificate().certPem), Buffer.from(terraform.keyPem), Buffer.from(terraform.certPem));
    expect(refused).toContain((await callError(open('health', wrongServer), 'Check', { service: 'plugin' })).code);
    // The plugin is still serving Terraform afterwards (and was not shut down by the stranger's Shutdown).
    expect(await call(open('health'), 'Check', { service: 'plugin' })).toEqual({ status: 'SERVING' });
  });
});

// ------------------------------------------------------------------------------------------- packaged executable

describe('the packaged provider executable', () => {
  const pkg = providerPackage();
  const terraform = selfSignedCertificate();
  let cacheDir: string;
  const children: ChildProcess[] = [];

  /** The environment minus anything that would change how the provider starts. */
  function baseEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: cacheDir };
    for (const k of ['TF_PLUGIN_MAGIC_COOKIE', 'PLUGIN_PROTOCOL_VERSIONS', 'PLUGIN_CLIENT_CERT', 'CLOUDLET_PROVIDER_WARM_CACHE', 'CLOUDLET_PROVIDER_CAPTURE_DIR']) delete env[k];
    return env;
  }

  beforeAll(() => {
    if (!fs.existsSync(pkg.executable)) {
      const r = spawnSync('npm', ['run', 'build'], { cwd: repoRoot(), encoding: 'utf8', timeout: 600_000 });
      if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`);
    }
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'provider-plugin-test-'));
  }, 600_000);

  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  function start(): { child: ChildProcess; handshake: Promise<string>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; stderr: () => string } {
    const child = spawn(pkg.executable, [], {
      env: { ...baseEnv(), TF_PLUGIN_MAGIC_COOKIE: MAGIC_COOKIE_VALUE, PLUGIN_PROTOCOL_VERSIONS: '6', PLUGIN_CLIENT_CERT: terraform.certPem },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const handshake = new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve(out.slice(0, nl));
      });
      child.on('exit', (code) => reject(new Error(`the provider exited (${code}) before its handshake:\n${err}`)));
      setTimeout(() => reject(new Error(`no handshake within 15 s:\n${err}`)), 15_000).unref();
    });
    return { child, handshake, exited, stderr: () => err };
  }

  test('prints the handshake, survives SIGINT, and exits 0 within 5 s of GRPCController/Shutdown', async () => {
    const p = start();
    const handshake = await p.handshake;
    expect(handshake).toMatch(HANDSHAKE_RE);
    const creds = grpc.credentials.createSsl(Buffer.from(serverCertPem(handshake)), Buffer.from(terraform.keyPem), Buffer.from(terraform.certPem));
    const port = portOf(handshake);
    const health = client('health', port, creds);
    const controller = client('controller', port, creds);
    const provider = client('provider', port, creds);
    try {
      expect(await call(health, 'Check', { service: 'plugin' })).toEqual({ status: 'SERVING' });
      const meta = await call(provider, 'GetMetadata');
      expect((meta.resources as Obj[]).length).toBe(5);

      // Terraform handles Ctrl-C itself (the terminal sends SIGINT to the whole process group) and then calls
      // StopProvider; the provider must not die on the signal.
      process.kill(p.child.pid!, 'SIGINT');
      await new Promise((r) => setTimeout(r, 500));
      expect({ exitCode: p.child.exitCode, signal: p.child.signalCode }).toEqual({ exitCode: null, signal: null });
      expect(await call(health, 'Check', { service: 'plugin' })).toEqual({ status: 'SERVING' });

      const started = Date.now();
      expect(await call(controller, 'Shutdown')).toEqual({});
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000).unref());
      const result = await Promise.race([p.exited, timeout]);
      expect(result).toEqual({ code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      health.close();
      controller.close();
      provider.close();
    }
  });

  test('run without the magic cookie, it exits 1 and says it is a Terraform plugin', () => {
    const r = spawnSync(pkg.executable, [], { env: baseEnv(), encoding: 'utf8', timeout: 15_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Terraform plugin/);
    // With a wrong cookie too.
    const wrong = spawnSync(pkg.executable, [], { env: { ...baseEnv(), TF_PLUGIN_MAGIC_COOKIE: 'nope' }, encoding: 'utf8', timeout: 15_000 });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/Terraform plugin/);
  });
});
