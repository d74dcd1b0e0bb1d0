// `npm run bench:provider`: the provider's start-up and Terraform's plan/apply wall time at scale, in one run.
//   - start to handshake: the packaged provider started as Terraform starts it (magic cookie, client
//     certificate), timed until its handshake line; median of N starts. Also start to the first
//     GetProviderSchema answer, since that is what Terraform waits for next.
//   - 50 synthesized instances (tiny guest, one overlay) on one engine against 50 of Terraform's built-in
//     `terraform_data`: plan (empty state), apply, plan again (refreshing all 50), destroy. Each instance is
//     synthesized, runs, and is then paused (`power_state = "paused"`): 50 running TCG guests would take more
//     than this host's 2 cores just idling, and starve the engine.
// Prints a table and writes .bench/provider.json.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { providerPackage, repoRoot } from '../../provider/build';
import { selfSignedCertificate } from '../../provider/protocol/cert';
import { compileDescriptor } from '../../provider/protocol/descriptor';
import { MAGIC_COOKIE_VALUE, loadServices } from '../../provider/protocol/plugin-server';
import { TestEngine, makeOverlayFile } from '../helpers/engine';
import { PROVIDER_BLOCK, TerraformDir } from '../helpers/terraform';
import { ensureBaseArchive } from '../vms/guest';

const STARTS = Number(process.env.BENCH_STARTS ?? 25);
const COUNT = Number(process.env.BENCH_INSTANCES ?? 50);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** One start: ms to the handshake line, and ms to the answer of GetProviderSchema. */
async function startOnce(exe: string, client: ReturnType<typeof selfSignedCertificate>, Client: grpc.ServiceClientConstructor): Promise<{ handshake: number; schema: number }> {
  const t0 = process.hrtime.bigint();
  const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
  const p = spawn(exe, [], {
    env: { ...process.env, TF_PLUGIN_MAGIC_COOKIE: MAGIC_COOKIE_VALUE, PLUGIN_PROTOCOL_VERSIONS: '5,6', PLUGIN_CLIENT_CERT: client.certPem },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      p.on('exit', (c) => reject(new Error(`provider exited with ${c} before its handshake`)));
    });
    const handshake = ms();
    const [, , , addr, , cert] = line.split('|');
    // The handshake carries base64 without padding; PEM wants it back.
    const b64 = Buffer.from(cert, 'base64').toString('base64');
    const serverPem = `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
    const c = new Client(addr, grpc.credentials.createSsl(Buffer.from(serverPem), Buffer.from(client.keyPem), Buffer.from(client.certPem)), {
      'grpc.ssl_target_name_override': 'localhost',
      'grpc.max_receive_message_length': 64 << 20,
    });
    await new Promise<void>((resolve, reject) =>
      (c as unknown as { GetProviderSchema: (req: object, cb: (e: Error | null) => void) => void }).GetProviderSchema({}, (e) => (e ? reject(e) : resolve())),
    );
    const schema = ms();
    c.close();
    return { handshake, schema };
  } finally {
    p.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const root = repoRoot();
  const pkg = providerPackage(root);
  if (!fs.existsSync(pkg.executable)) throw new Error(`${pkg.executable} is missing; npm run bench:provider builds it`);
  const services = loadServices(compileDescriptor());
  const Client = grpc.makeGenericClientConstructor(services.provider, 'Provider');
  const cert = selfSignedCertificate();

  process.stderr.write(`bench: ${STARTS} provider starts\n`);
  await startOnce(pkg.executable, cert, Client); // the first start may write the code cache
  const starts: { handshake: number; schema: number }[] = [];
  for (let i = 0; i < STARTS; i++) starts.push(await startOnce(pkg.executable, cert, Client));
  const hs = starts.map((s) => s.handshake);
  const sc = starts.map((s) => s.schema);

  const base = await ensureBaseArchive('tiny');
  const engine = await TestEngine.start('bench-tf');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-provider-'));
  const timings: Record<string, Record<string, number>> = { cloudlet: {}, terraform_data: {} };
  try {
    // One overlay for all instances, made through the engine beforehand and uploaded by the configuration.
    process.stderr.write('bench: preparing an overlay\n');
    const overlayFile = path.join(work, 'app.clov');
    await makeOverlayFile(engine, base, overlayFile, 'echo bench > /data/bench.txt && sync');

    const configs: Record<string, string> = {
      cloudlet: `${PROVIDER_BLOCK}
provider "cloudlet" {
  endpoint = "${engine.endpoint}"
}
resource "cloudlet_base_vm" "tiny" {
  source = "${base.file}"
  sha256 = "${base.baseId}"
}
resource "cloudlet_overlay" "app" {
  source  = "${overlayFile}"
  base_id = cloudlet_base_vm.tiny.id
}
resource "cloudlet_instance" "vm" {
  count       = ${COUNT}
  name        = "vm-\${count.index}"
  base_id     = cloudlet_base_vm.tiny.id
  overlay_id  = cloudlet_overlay.app.id
  power_state = "paused"
}
`,
      terraform_data: `resource "terraform_data" "base" {
  input = "base"
}
resource "terraform_data" "overlay" {
  input = terraform_data.base.output
}
resource "terraform_data" "vm" {
  count = ${COUNT}
  input = "vm-\${count.index}-\${terraform_data.overlay.output}"
}
`,
    };
    for (const [name, text] of Object.entries(configs)) {
      const tf = new TerraformDir(`bench-${name}`, { CLOUDLET_TOKEN: engine.token });
      try {
        tf.write('main.tf', text);
        await tf.ok(['init', '-input=false']);
        const step = async (label: string, args: string[], ok = [0]) => {
          process.stderr.write(`bench: ${name} ${label}\n`);
          const r = await tf.ok(args, ok, { timeoutMs: 3600000 });
          timings[name][label] = r.ms / 1000;
        };
        await step('plan', ['plan', '-input=false', '-lock=false']);
        await step('apply', ['apply', '-auto-approve', '-input=false']);
        await step('plan-refresh', ['plan', '-input=false', '-detailed-exitcode', '-lock=false']);
        await step('destroy', ['destroy', '-auto-approve', '-input=false']);
      } finally {
        tf.cleanup();
      }
    }
    const left = (await engine.instances.list()).instances.length;
    if (left !== 0) throw new Error(`${left} instances left after destroy`);
  } finally {
    await engine.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }

  const c = timings.cloudlet;
  const d = timings.terraform_data;
  const rows = [
    ['measure', 'cloudlet', `terraform_data`, 'ratio'],
    [`start → handshake, median of ${STARTS} (p90)`, `${median(hs).toFixed(0)} ms (${percentile(hs, 90).toFixed(0)})`, '-', '-'],
    [`start → GetProviderSchema answered, median`, `${median(sc).toFixed(0)} ms`, '-', '-'],
    ...['plan', 'apply', 'plan-refresh', 'destroy'].map((k) => [`${k}, ${COUNT} instances + base + overlay`, `${c[k].toFixed(2)} s`, `${d[k].toFixed(2)} s`, `${(c[k] / d[k]).toFixed(2)}x`]),
  ];
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  console.log("\nProvider: start-up and Terraform wall time (TCG, 2 cores); the peer is Terraform's built-in terraform_data\n");
  for (const r of rows) console.log(r.map((x, i) => x.padEnd(w[i])).join('  '));
  const goals = {
    handshakeMedianMs: { goal: 250, value: median(hs), met: median(hs) <= 250 },
    planRatio: { goal: 2, value: c.plan / d.plan, met: c.plan / d.plan <= 2 },
    planRefreshRatio: { goal: 2, value: c['plan-refresh'] / d['plan-refresh'], met: c['plan-refresh'] / d['plan-refresh'] <= 2 },
  };
  console.log(
    `\ngoals: handshake median ${median(hs).toFixed(0)} ms (<= 250: ${goals.handshakeMedianMs.met ? 'met' : 'NOT met'}); plan ${goals.planRatio.value.toFixed(2)}x terraform_data (<= 2: ${goals.planRatio.met ? 'met' : 'NOT met'}); refreshing plan ${goals.planRefreshRatio.value.toFixed(2)}x (<= 2: ${goals.planRefreshRatio.met ? 'met' : 'NOT met'})`,
  );
  console.log('published peer: Go providers start in tens of ms (not runnable here: no Go provider plugin is installable offline)');
  fs.mkdirSync(path.join(root, '.bench'), { recursive: true });
  fs.writeFileSync(
    path.join(root, '.bench', 'provider.json'),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        instances: COUNT,
        starts: { handshakeMs: hs, schemaMs: sc, handshakeMedianMs: median(hs), handshakeP90Ms: percentile(hs, 90), schemaMedianMs: median(sc) },
        terraform: timings,
        goals,
      },
      null,
      2,
    ) + '\n',
  );
  console.log('wrote .bench/provider.json');
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:provider failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
