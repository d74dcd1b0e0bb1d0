// Packages the provider for Terraform without any registry: bundles provider/main.ts into one JS file,
// puts it with a `#!/bin/sh` wrapper and the .proto files into a filesystem mirror inside the repository
// (`.terraform-mirror/`, ignored by git), and writes a CLI configuration that points Terraform at it.
//
//   npm run build:provider        then   export TF_CLI_CONFIG_FILE=$PWD/.terraform-mirror/cli.tfrc

import * as fs from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';
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

export async function buildProvider(root = repoRoot()): Promise<ProviderPackage> {
  const pkg = providerPackage(root);
  const engineMain = path.join(root, 'dist', 'engine', 'cli', 'main.js');
  if (!fs.existsSync(engineMain)) throw new Error(`${engineMain} is missing: run npm run build first (the provider starts the local engine from it)`);
  fs.rmSync(pkg.packageDir, { recursive: true, force: true });
  fs.mkdirSync(path.join(pkg.packageDir, 'proto'), { recursive: true });
  await build({
    entryPoints: [path.join(root, 'provider', 'main.ts')],
    outfile: path.join(pkg.packageDir, 'provider.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    // Keeps the bundle byte-identical across builds, so the hash in .terraform.lock.hcl stays stable.
    legalComments: 'none',
    logLevel: 'warning',
  });
  for (const f of fs.readdirSync(path.join(root, 'provider', 'protocol', 'proto'))) {
    fs.copyFileSync(path.join(root, 'provider', 'protocol', 'proto', f), path.join(pkg.packageDir, 'proto', f));
  }
  const wrapper = `#!/bin/sh
# terraform-provider-cloudlet ${PROVIDER_VERSION}: the bundled provider, run by the Node.js it was built with.
# The local embedded engine it starts on demand is this checkout's build.
: "\${CLOUDLET_ENGINE_MAIN:=${engineMain}}"
export CLOUDLET_ENGINE_MAIN
exec "${process.execPath}" "$(dirname "$0")/provider.js" "$@"
`;
  fs.writeFileSync(pkg.executable, wrapper, { mode: 0o755 });
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
