// The real `terraform` binary in a temporary working directory, using our provider from the repository's
// filesystem mirror (built by `npm run build`) and nothing from the network.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { providerPackage } from '../../provider/build';

export const TERRAFORM = process.env.TERRAFORM_BINARY ?? '/usr/local/bin/terraform';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export const PROVIDER_BLOCK = `terraform {
  required_providers {
    cloudlet = { source = "cloudlet-iac/cloudlet" }
  }
}
`;

export function requireProviderPackage(): string {
  const pkg = providerPackage();
  if (!fs.existsSync(pkg.executable) || !fs.existsSync(pkg.cliConfig)) throw new Error(`${pkg.executable} is missing: run \`npm run build\` (npm test does) first`);
  if (!fs.existsSync(TERRAFORM)) throw new Error(`terraform is not at ${TERRAFORM}: install Terraform 1.11 (see README) or set TERRAFORM_BINARY`);
  return pkg.cliConfig;
}

export class TerraformDir {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(label: string, env: NodeJS.ProcessEnv = {}) {
    const cliConfig = requireProviderPackage();
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `tf-${label}-`));
    this.env = {
      ...process.env,
      TF_CLI_CONFIG_FILE: cliConfig,
      TF_IN_AUTOMATION: '1',
      TF_INPUT: '0',
      CHECKPOINT_DISABLE: '1',
      NO_COLOR: '1',
      ...env,
    };
    delete this.env.CLOUDLET_STATE_DIR;
  }

  write(name: string, text: string): void {
    fs.writeFileSync(path.join(this.dir, name), text);
  }

  /**
   * Runs terraform with -no-color; resolves with exit code and output (never rejects on a non-zero exit).
   * `interruptWhen` sends SIGINT to terraform's whole process group (as Ctrl-C in a terminal does, reaching
   * the provider processes too) once the promise resolves.
   */
  run(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; interruptWhen?: Promise<unknown> } = {}): Promise<RunResult> {
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
      const p = spawn(TERRAFORM, [...args, ...(args[0] === 'state' || args[0] === 'output' || args[0] === 'providers' ? [] : ['-no-color'])], {
        cwd: this.dir,
        env: { ...this.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: !!opts.interruptWhen,
      });
      let exited = false;
      void opts.interruptWhen?.then(() => {
        if (!exited) process.kill(-p.pid!, 'SIGINT');
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        p.kill('SIGKILL');
        reject(new Error(`terraform ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 600000} ms\n${stdout}\n${stderr}`));
      }, opts.timeoutMs ?? 600000);
      p.on('error', reject);
      p.on('close', (code) => {
        exited = true;
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 });
      });
    });
  }

  /** Runs terraform and fails with its output unless it exits with one of `ok` (default 0). */
  async ok(args: string[], ok: number[] = [0], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
    const r = await this.run(args, opts);
    if (!ok.includes(r.code)) throw new Error(`terraform ${args.join(' ')} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    return r;
  }

  state(): { resources: { type: string; name: string; instances: { attributes: Record<string, unknown> }[] }[] } {
    return JSON.parse(fs.readFileSync(path.join(this.dir, 'terraform.tfstate'), 'utf8'));
  }

  attributes(type: string, name: string): Record<string, unknown> {
    const r = this.state().resources.find((x) => x.type === type && x.name === name);
    if (!r) throw new Error(`${type}.${name} is not in the state`);
    return r.instances[0].attributes;
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
