// Regenerates the L1 bindings in constructs/generated from the provider's own schema, with cdktf's provider
// generator (`cdktf get`), offline: Terraform installs the provider from the repository's filesystem mirror
// (built by `npm run build`). `npm run generate` runs it; test/unit/constructs-l1.test.ts fails when the
// committed bindings differ from a fresh generation.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { providerPackage, repoRoot } from '../provider/build';
import { PROVIDER_SOURCE, PROVIDER_VERSION } from '../provider/version';

export const GENERATED_DIR = 'constructs/generated';

/** Generates the bindings into `outDir` (absolute), working in a scratch cdktf project that shares our node_modules. */
export async function generateBindings(outDir: string, root = repoRoot()): Promise<void> {
  const pkg = providerPackage(root);
  if (!fs.existsSync(pkg.executable)) throw new Error(`${pkg.executable} is missing: run npm run build first`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cdktf-get-'));
  try {
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(work, 'node_modules'));
    fs.writeFileSync(path.join(work, 'package.json'), JSON.stringify({ name: 'cdktf-get', private: true }));
    fs.writeFileSync(
      path.join(work, 'cdktf.json'),
      JSON.stringify({ language: 'typescript', app: 'true', terraformProviders: [`${PROVIDER_SOURCE}@${PROVIDER_VERSION}`], codeMakerOutput: 'out', sendCrashReports: 'false' }),
    );
    const out = await new Promise<{ code: number; text: string }>((resolve, reject) => {
      const p = spawn(path.join(root, 'node_modules', '.bin', 'cdktf'), ['get', '--force'], {
        cwd: work,
        env: { ...process.env, TF_CLI_CONFIG_FILE: pkg.cliConfig, CHECKPOINT_DISABLE: '1', DISABLE_VERSION_CHECK: '1', CI: '1', FORCE_COLOR: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      p.stdout.on('data', (d: Buffer) => (text += d.toString()));
      p.stderr.on('data', (d: Buffer) => (text += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => resolve({ code: code ?? -1, text }));
    });
    if (out.code !== 0 || !fs.existsSync(path.join(work, 'out', 'providers'))) throw new Error(`cdktf get failed (exit ${out.code}):\n${out.text}`);
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.cpSync(path.join(work, 'out'), outDir, { recursive: true });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Every file under a directory, relative path → contents. */
export function readTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), fs.readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

if (require.main === module) {
  const root = repoRoot();
  generateBindings(path.join(root, GENERATED_DIR), root).then(
    () => process.stdout.write(`L1 bindings for ${PROVIDER_SOURCE} ${PROVIDER_VERSION} written to ${GENERATED_DIR}\n`),
    (e: unknown) => {
      process.stderr.write(`generate: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
