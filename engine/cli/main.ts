#!/usr/bin/env node
// The `cloudlet` command-line client. Errors print as "cloudlet: CODE: message" and exit 1; usage errors exit 2.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { connectLocal, defaultStateDir } from '../client/client';
import { Store } from '../store/store';
import { CloudletError } from '../errors';
import { CLIENT_USAGE, clientCommand } from './commands';
import { LOCAL_OVERLAY_COMMANDS, LOCAL_OVERLAY_USAGE, localOverlayCommand } from './overlay';
import { SERVE_USAGE, serveCommand } from './serve';

const USAGE = `cloudlet <command>

The engine (one per state directory; clients start the local one on demand):
${SERVE_USAGE}
  cloudlet engine start|stop|status [--state-dir DIR]

${CLIENT_USAGE}

Overlay files without an engine:
${LOCAL_OVERLAY_USAGE}`;

async function engineCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'serve') return serveCommand(rest);
  const i = rest.indexOf('--state-dir');
  const stateDir = path.resolve(i >= 0 && rest[i + 1] ? rest[i + 1] : defaultStateDir());
  if (sub === 'start') {
    const l = await connectLocal(stateDir);
    out(`engine running for ${l.stateDir} at ${l.endpoint}`);
  } else if (sub === 'stop' || sub === 'status') {
    const store = new Store(stateDir);
    const pid = store.lockOwner();
    const alive = pid > 0;
    if (sub === 'status') out(alive ? `engine pid ${pid} owns ${stateDir}` : `no engine running for ${stateDir}`);
    else if (alive) {
      process.kill(pid, 'SIGTERM');
      for (let t = 0; t < 100 && fs.existsSync(store.lockFile); t++) await new Promise((r) => setTimeout(r, 100));
      out(`stopped engine pid ${pid} (VMs keep running)`);
    } else out(`no engine running for ${stateDir}`);
  } else throw new CloudletError('INVALID_ARGUMENT', `unknown engine command ${sub ?? '(none)'}\n${SERVE_USAGE}`);
}

export async function main(argv: string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(s + '\n');
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
      out(USAGE);
      return cmd === undefined ? 2 : 0;
    }
    if (cmd === 'engine') await engineCommand(rest, out);
    else if (cmd === 'overlay' && LOCAL_OVERLAY_COMMANDS.includes(rest[0])) await localOverlayCommand(rest, out);
    else if (['info', 'base', 'resume', 'synthesize', 'overlay', 'instance', 'handoff', 'operation'].includes(cmd)) await clientCommand(cmd, rest, out);
    else throw new CloudletError('INVALID_ARGUMENT', `unknown command ${cmd}\n${USAGE}`);
    return 0;
  } catch (e) {
    if (e instanceof CloudletError) {
      process.stderr.write(`cloudlet: ${e.code}: ${e.message}\n`);
      return e.code === 'INVALID_ARGUMENT' ? 2 : 1;
    }
    process.stderr.write(`cloudlet: internal error: ${(e as Error)?.stack ?? e}\n`);
    return 70;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
