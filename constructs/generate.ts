// Regenerates the L1 bindings in constructs/generated from the provider's own schema, with cdktf's provider
// generator (`cdktf get`), offline: Terraform installs the provider from the repository's filesystem mirror
// (built by `npm run build`), and the protocol message types (provider/protocol/tfplugin6.ts) from the .proto
// files. `npm run generate` runs it; test/unit/constructs-l1.test.ts fails when the
// committed bindings differ from a fresh generation.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { providerPackage, repoRoot } from '../provider/build';
import { cdktf, scratchProject } from './cdktf-cli';
import { PROVIDER_SOURCE, PROVIDER_VERSION } from '../provider/version';
import { compileDescriptor } from '../provider/protocol/descriptor';
import { GENERATED_TYPES_FILE, writeProtoTypes } from '../provider/protocol/proto-types';

export const GENERATED_DIR = 'constructs/generated';

/** Generates the bindings into `outDir` (absolute), working in a scratch cdktf project that shares our node_modules. */
export async function generateBindings(outDir: string, root = repoRoot()): Promise<void> {
  const pkg = providerPackage(root);
  if (!fs.existsSync(pkg.executable)) throw new Error(`${pkg.executable} is missing: run npm run build first`);
  const work = scratchProject('cdktf-get-', { language: 'typescript', app: 'true', terraformProviders: [`${PROVIDER_SOURCE}@${PROVIDER_VERSION}`], codeMakerOutput: 'out', sendCrashReports: 'false' });
  try {
    const out = await cdktf(['get', '--force'], work);
    if (out.code !== 0 || !fs.existsSync(path.join(work, 'out', 'providers'))) throw new Error(`cdktf get failed (exit ${out.code}):\n${out.output}`);
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
  writeProtoTypes(root, () => compileDescriptor());
  process.stdout.write(`protocol message types written to ${GENERATED_TYPES_FILE}\n`);
  generateBindings(path.join(root, GENERATED_DIR), root).then(
    () => process.stdout.write(`L1 bindings for ${PROVIDER_SOURCE} ${PROVIDER_VERSION} written to ${GENERATED_DIR}\n`),
    (e: unknown) => {
      process.stderr.write(`generate: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
