// The host's networking tools, run as child processes: iproute2's `ip` (in batches), nftables' `nft` (whole
// rule sets, applied atomically) and dnsmasq. A failure is a NETWORK_FAILED naming the command and what the
// tool said; nothing here decides what to build (plumbing.ts does).

import { spawn } from 'node:child_process';
import { CloudletError } from '../errors';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool with `input` on its stdin; resolves whatever its exit status. */
export function runTool(cmd: string, args: string[], input?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        new CloudletError(
          'NETWORK_FAILED',
          e.code === 'ENOENT' ? `${cmd} is not installed on this cloudlet host (engine/host/setup-host.sh installs iproute2, nftables and dnsmasq-base)` : `${cmd}: ${e.message}`,
        ),
      ),
    );
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.on('error', () => undefined); // a tool that exits early closes its stdin; its status says why
    child.stdin.end(input ?? '');
  });
}

/** Runs a tool and fails with NETWORK_FAILED, naming what it was doing, unless it exits 0. */
export async function mustRun(what: string, cmd: string, args: string[], input?: string): Promise<string> {
  const r = await runTool(cmd, args, input);
  if (r.code !== 0) throw new CloudletError('NETWORK_FAILED', `${what}: ${cmd} ${args.join(' ')} exited with status ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
  return r.stdout;
}

/** `ip` commands, one per line, in one process (`ip -batch -`), optionally inside a network namespace. */
export function ipBatch(what: string, lines: string[], netns?: string): Promise<string> {
  return mustRun(what, 'ip', [...(netns ? ['-n', netns] : []), '-batch', '-'], lines.join('\n') + '\n');
}

/** A whole nft script applied as one transaction (all of it or none), optionally inside a network namespace. */
export function nftApply(what: string, script: string, netns?: string): Promise<string> {
  return netns ? mustRun(what, 'ip', ['netns', 'exec', netns, 'nft', '-f', '-'], script) : mustRun(what, 'nft', ['-f', '-'], script);
}
