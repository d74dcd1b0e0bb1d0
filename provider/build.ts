// Packages the provider for Terraform without any registry: bundles provider/main.ts (and, separately, the
// engine client it loads on demand) with esbuild,
// puts it with a `#!/bin/sh` wrapper and the .proto files into a filesystem mirror inside the repository
// (`.terraform-mirror/`, ignored by git), and writes a CLI configuration that points Terraform at it.
//
//   npm run build:provider        then   export TF_CLI_CONFIG_FILE=$PWD/.terraform-mirror/cli.tfrc

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { build } from 'esbuild';
import { selfSignedCertificate } from './protocol/cert';
import { MAGIC_COOKIE_VALUE } from './protocol/plugin-server';
import { compileDescriptor } from './protocol/descriptor';
import { PROVIDER_HOST, PROVIDER_NAMESPACE, PROVIDER_SOURCE, PROVIDER_TYPE, PROVIDER_VERSION } from './version';

export interface ProviderPackage {
  mirror: string;
  packageDir: string;
  executable: string;
  cliConfig: string;
}

export function repoRoot(): string {
  // dist/provider/build.js or provider/build.ts (under ts-jest) → repository root.
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json'))) d = path.dirname(d);
  return d;
}

export function providerPackage(root = repoRoot()): ProviderPackage {
  const mirror = path.join(root, '.terraform-mirror');
  const packageDir = path.join(mirror, PROVIDER_HOST, PROVIDER_NAMESPACE, PROVIDER_TYPE, PROVIDER_VERSION, 'linux_amd64');
  return { mirror, packageDir, executable: path.join(packageDir, `terraform-provider-${PROVIDER_TYPE}_v${PROVIDER_VERSION}`), cliConfig: path.join(mirror, 'cli.tfrc') };
}

/** The CLI configuration: our provider from the mirror, nothing from the network. */
export function cliConfigText(mirror: string, extra = ''): string {
  return `# Written by npm run build:provider. Use it with: export TF_CLI_CONFIG_FILE=${path.join(mirror, 'cli.tfrc')}
provider_installation {
  filesystem_mirror {
    path    = ${JSON.stringify(mirror)}
    include = [${JSON.stringify(`${PROVIDER_HOST}/${PROVIDER_NAMESPACE}/*`)}]
  }
}
${extra}`;
}

/**
 * The entry point Terraform runs: compiles provider-core.js (and engine-client.js when the provider is
 * configured) with V8 code caches, which saves about 30 ms of every start. V8's cache bytes differ from build to build, so the cache lives in the user's cache directory,
 * keyed by the bundle's hash and the Node.js version, and not in the package (whose hash Terraform locks).
 * A missing or rejected cache only means a normal compile, after which the cache is written for next time.
 */
function loaderSource(sha256: Record<string, string>): string {
  return `'use strict';
// Written by provider/build.ts. Loads the provider's bundles through V8 code caches.
const fs = require('fs');
const os = require('os');
const path = require('path');
const vm = require('vm');
const Module = require('module');
const HASHES = ${JSON.stringify(sha256)};
const cacheDir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'cloudlet-iac', 'provider');
const warm = process.env.CLOUDLET_PROVIDER_WARM_CACHE === '1';
function load(name) {
  const file = path.join(__dirname, name);
  const cacheFile = path.join(cacheDir, HASHES[name].slice(0, 16) + '-' + process.version + '.v8');
  let cachedData;
  try { cachedData = fs.readFileSync(cacheFile); } catch {}
  const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
  const mod = { exports: {}, id: file, filename: file, loaded: false, children: [], paths: [] };
  script.runInThisContext().call(mod.exports, mod.exports, req, mod, file, __dirname);
  if (warm || cachedData === undefined || script.cachedDataRejected) {
    // Once the code has run a little, the functions it used are compiled too, and go into the cache.
    setTimeout(() => {
      try {
        fs.mkdirSync(cacheDir, { recursive: true });
        const tmp = cacheFile + '.' + process.pid;
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch {}
    }, 250).unref();
  }
  return mod.exports;
}
const loaded = {};
function req(id) {
  const name = path.basename(id);
  if (id.startsWith('.') && HASHES[name]) return (loaded[name] = loaded[name] || load(name));
  return require(id);
}
req('./provider-core.js');
if (warm) {
  req('./engine-client.js');
  setTimeout(() => process.exit(0), 500);
}
`;
}

/** Runs the packaged provider once as Terraform would, so the code cache is warm before Terraform first starts it. */
async function writeCodeCache(pkg: ProviderPackage): Promise<void> {
  // Caches of earlier builds are dead weight once a day old (another checkout's are rebuilt when it runs).
  const dir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'cloudlet-iac', 'provider');
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const p = path.join(dir, f);
    if (f.endsWith('.v8') && Date.now() - fs.statSync(p).mtimeMs > 86400000) fs.rmSync(p, { force: true });
  }
  const client = selfSignedCertificate();
  await new Promise<void>((resolve, reject) => {
    const p = spawn(pkg.executable, [], {
      env: { ...process.env, TF_PLUGIN_MAGIC_COOKIE: MAGIC_COOKIE_VALUE, PLUGIN_PROTOCOL_VERSIONS: '6', PLUGIN_CLIENT_CERT: client.certPem, CLOUDLET_PROVIDER_WARM_CACHE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the provider did not start (exit ${code}):\n${err}`))));
  });
}

export async function buildProvider(root = repoRoot()): Promise<ProviderPackage> {
  const pkg = providerPackage(root);
  const engineMain = path.join(root, 'dist', 'engine', 'cli', 'main.js');
  if (!fs.existsSync(engineMain)) throw new Error(`${engineMain} is missing: run npm run build first (the provider starts the local engine from it)`);
  fs.rmSync(pkg.packageDir, { recursive: true, force: true });
  fs.mkdirSync(path.join(pkg.packageDir, 'proto'), { recursive: true });
  const common = { bundle: true, platform: 'node' as const, target: 'node20', format: 'cjs' as const, minify: true, legalComments: 'none' as const, logLevel: 'warning' as const };
  // Two bundles: the engine client (undici is most of the code) loads only when the provider is configured,
  // so processes Terraform starts just to ask for the schema never parse it.
  await build({
    ...common,
    entryPoints: [path.join(root, 'provider', 'main.ts')],
    outfile: path.join(pkg.packageDir, 'provider-core.js'),
    plugins: [
      {
        name: 'lazy-engine-client',
        setup(b) {
          b.onResolve({ filter: /engine\/client\/client$/ }, () => ({ path: './engine-client.js', external: true }));
        },
      },
    ],
  });
  await build({ ...common, entryPoints: [path.join(root, 'engine', 'client', 'client.ts')], outfile: path.join(pkg.packageDir, 'engine-client.js') });
  const hashes: Record<string, string> = {};
  for (const f of ['provider-core.js', 'engine-client.js'])
    hashes[f] = createHash('sha256')
      .update(fs.readFileSync(path.join(pkg.packageDir, f)))
      .digest('hex');
  fs.writeFileSync(path.join(pkg.packageDir, 'provider.js'), loaderSource(hashes));
  // The .proto files travel along for reference; the provider runs on their compiled descriptor.
  const protoDir = path.join(root, 'provider', 'protocol', 'proto');
  for (const f of fs.readdirSync(protoDir)) fs.copyFileSync(path.join(protoDir, f), path.join(pkg.packageDir, 'proto', f));
  fs.writeFileSync(path.join(pkg.packageDir, 'proto', 'descriptor.json'), JSON.stringify(compileDescriptor(protoDir)));
  const wrapper = `#!/bin/sh
# terraform-provider-cloudlet ${PROVIDER_VERSION}: the bundled provider, run by the Node.js it was built with.
# The local embedded engine it starts on demand is this checkout's build.
: "\${CLOUDLET_ENGINE_MAIN:=${engineMain}}"
export CLOUDLET_ENGINE_MAIN
# Node loads NODE_EXTRA_CA_CERTS at every start (slow); the provider reads it when it opens a TLS connection.
if [ -n "\${NODE_EXTRA_CA_CERTS:-}" ]; then
  CLOUDLET_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"
  export CLOUDLET_EXTRA_CA_CERTS
  unset NODE_EXTRA_CA_CERTS
fi
exec "${process.execPath}" "$(dirname "$0")/provider.js" "$@"
`;
  fs.writeFileSync(pkg.executable, wrapper, { mode: 0o755 });
  await writeCodeCache(pkg);
  fs.writeFileSync(pkg.cliConfig, cliConfigText(pkg.mirror));
  return pkg;
}

if (require.main === module) {
  buildProvider().then(
    (p) => {
      process.stdout.write(`provider ${PROVIDER_SOURCE} ${PROVIDER_VERSION} → ${path.relative(process.cwd(), p.packageDir)}\n`);
      process.stdout.write(`use it with: export TF_CLI_CONFIG_FILE=${p.cliConfig}\n`);
    },
    (e: unknown) => {
      process.stderr.write(`build:provider: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
