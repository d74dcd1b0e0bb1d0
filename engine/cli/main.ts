#!/usr/bin/env node
// The `cloudlet` command-line client. Errors print as "cloudlet: CODE: message" and exit 1; usage errors exit 2.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudletError } from '../errors';
import { HELP_FLAGS, HelpRequested, splitCommand } from './args';
import { LOCAL_OVERLAY_COMMANDS, LOCAL_OVERLAY_USAGE, localOverlayCommand } from './overlay';
import type * as Serve from './serve';
import type * as Install from './install';
import type * as Commands from './commands';
import type * as Client from '../client/client';
import type * as StoreModule from '../store/store';

// Start-up time: a command loads only the modules it runs. The client (undici) and the engine's services take
// ~0.3 s to load, which `cloudlet overlay apply` (no engine involved) has no use for.
/* eslint-disable @typescript-eslint/no-require-imports -- loaded on demand, for the start-up time above */
const serveModule = (): typeof Serve => require('./serve') as typeof Serve;
const installModule = (): typeof Install => require('./install') as typeof Install;
const clientModule = (): typeof Commands => require('./commands') as typeof Commands;
const engineClientModule = (): typeof Client => require('../client/client') as typeof Client;
const storeModule = (): typeof StoreModule => require('../store/store') as typeof StoreModule;
/* eslint-enable @typescript-eslint/no-require-imports */

function usage(): string {
  const [{ SERVE_USAGE }, { INSTALL_USAGE }, { CLIENT_USAGE }] = [serveModule(), installModule(), clientModule()];
  return `cloudlet <command>

The engine (one per state directory; clients start the local one on demand):
${SERVE_USAGE}
  cloudlet engine start|stop|status [--state-dir DIR]
${INSTALL_USAGE}

${CLIENT_USAGE}

Overlay files without an engine:
${LOCAL_OVERLAY_USAGE}`;
}

async function engineCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { cmd: sub, rest } = splitCommand(argv);
  if (sub === 'serve') return serveModule().serveCommand(rest);
  if (sub === 'install') return installModule().installCommand(rest, out);
  if (sub === undefined || HELP_FLAGS.includes(sub) || rest.some((a) => HELP_FLAGS.includes(a))) {
    throw new HelpRequested(`${serveModule().SERVE_USAGE}
  cloudlet engine start|stop|status [--state-dir DIR]
${installModule().INSTALL_USAGE}`);
  }
  const { connectLocal, defaultStateDir } = engineClientModule();
  const i = rest.indexOf('--state-dir');
  const stateDir = path.resolve(i >= 0 && rest[i + 1] ? rest[i + 1] : defaultStateDir());
  if (sub === 'start') {
    const l = await connectLocal(stateDir);
    out(`engine running for ${l.stateDir} at ${l.endpoint}`);
  } else if (sub === 'stop' || sub === 'status') {
    const store = new (storeModule().Store)(stateDir);
    const pid = store.lockOwner();
    const alive = pid > 0;
    if (sub === 'status') out(alive ? `engine pid ${pid} owns ${stateDir}` : `no engine running for ${stateDir}`);
    else if (alive) {
      process.kill(pid, 'SIGTERM');
      for (let t = 0; t < 100 && fs.existsSync(store.lockFile); t++) await new Promise((r) => setTimeout(r, 100));
      out(`stopped engine pid ${pid} (VMs keep running)`);
    } else out(`no engine running for ${stateDir}`);
  } else throw new CloudletError('INVALID_ARGUMENT', `unknown engine command ${sub ?? '(none)'}\n${serveModule().SERVE_USAGE}`);
}

export async function main(argv: string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(s + '\n');
  const { cmd, rest } = splitCommand(argv);
  try {
    if (cmd === undefined || cmd === 'help' || HELP_FLAGS.includes(cmd)) {
      out(usage());
      return cmd === undefined ? 2 : 0;
    }
    if (cmd === 'engine') await engineCommand(rest, out);
    else if (cmd === 'overlay' && LOCAL_OVERLAY_COMMANDS.includes(splitCommand(rest).cmd ?? '')) await localOverlayCommand(rest, out);
    else if (['info', 'base', 'resume', 'synthesize', 'overlay', 'instance', 'handoff', 'network', 'peer', 'dashboard', 'doctor', 'probe', 'operation'].includes(cmd))
      await clientModule().clientCommand(cmd, rest, out);
    else throw new CloudletError('INVALID_ARGUMENT', `unknown command ${cmd}\n${usage()}`);
    return 0;
  } catch (e) {
    if (e instanceof HelpRequested) {
      out(e.text);
      return 0;
    }
    if (e instanceof CloudletError) {
      process.stderr.write(`cloudlet: ${e.code}: ${e.message}\n`);
      return e.code === 'INVALID_ARGUMENT' ? 2 : 1;
    }
    process.stderr.write(`cloudlet: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 70;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
