#!/usr/bin/env node
// The `cloudlet` command-line client. Errors print as "cloudlet: CODE: message" and exit 1; usage errors exit 2.

import { CloudletError } from '../errors';
import { OVERLAY_USAGE, overlayCommand } from './overlay';

const USAGE = `cloudlet <command>

commands:
  overlay create|apply|inspect   build, apply and examine VM overlays

${OVERLAY_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(s + '\n');
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'overlay') await overlayCommand(rest, out);
    else if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
      out(USAGE);
      return cmd === undefined ? 2 : 0;
    } else throw new CloudletError('INVALID_ARGUMENT', `unknown command ${cmd}\n${USAGE}`);
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
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
