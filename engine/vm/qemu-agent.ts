// The QEMU guest agent (Debian's stock `qemu-guest-agent`, protocol of QEMU's qga/qapi-schema.json) as the
// engine's way into a guest: libvirt owns the agent's virtio-serial channel (org.qemu.guest_agent.0) and
// carries each command (VmDriver.agentCommand). A command to run goes to the guest's shell on its standard
// input (`guest-exec` with `input-data`), so nothing in it needs quoting; the exit status, standard output and
// standard error come back apart, and an agent that does not answer is a different error from a command that
// fails.

import { CloudletError } from '../errors';
import { VmDriver } from './driver';

export interface AgentExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Output kept from a command: the agent caps what it captures, and so do we. */
const MAX_OUTPUT = 1 << 20;

async function command(driver: VmDriver, domain: string, execute: string, args: Record<string, unknown> | undefined, timeoutS: number): Promise<unknown> {
  try {
    return await driver.agentCommand(domain, args ? { execute, arguments: args } : { execute }, timeoutS);
  } catch (e) {
    if (e instanceof CloudletError && e.code === 'GUEST_AGENT') throw e;
    const why = (e as Error).message.replace(/^libvirt: /, '');
    throw new CloudletError('GUEST_AGENT', `the QEMU guest agent of ${domain} did not answer ${execute}: ${why}`, e);
  }
}

/** Whether the agent answers a ping within `timeoutS`. */
export async function agentPing(driver: VmDriver, domain: string, timeoutS = 5): Promise<boolean> {
  try {
    await command(driver, domain, 'guest-ping', undefined, timeoutS);
    return true;
  } catch {
    return false;
  }
}

/** Runs a shell command in the guest and waits for it (at most `timeoutMs`). */
export async function agentExec(driver: VmDriver, domain: string, script: string, timeoutMs: number): Promise<AgentExecResult> {
  const deadline = Date.now() + timeoutMs;
  const started = (await command(
    driver,
    domain,
    'guest-exec',
    { path: '/bin/sh', arg: ['-s'], 'input-data': Buffer.from(script).toString('base64'), 'capture-output': true },
    Math.min(30, timeoutMs / 1000),
  )) as { pid?: unknown };
  if (typeof started?.pid !== 'number') throw new CloudletError('GUEST_AGENT', `the QEMU guest agent of ${domain} started no process for the command`);
  let wait = 20;
  for (;;) {
    const st = (await command(driver, domain, 'guest-exec-status', { pid: started.pid }, 30)) as {
      exited?: boolean;
      exitcode?: number;
      signal?: number;
      'out-data'?: string;
      'err-data'?: string;
    };
    if (st?.exited) {
      const text = (b64: string | undefined) =>
        Buffer.from(b64 ?? '', 'base64')
          .subarray(-MAX_OUTPUT)
          .toString('utf8');
      // A command killed by a signal has no exit code; report it the way a shell would (128 + signal).
      const code = typeof st.exitcode === 'number' ? st.exitcode : typeof st.signal === 'number' ? 128 + st.signal : -1;
      return { code, stdout: text(st['out-data']), stderr: text(st['err-data']) };
    }
    if (Date.now() > deadline) throw new CloudletError('GUEST_AGENT', `the command did not finish within ${Math.round(timeoutMs / 1000)} s in ${domain} (it may still be running in the guest)`);
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(500, wait * 2);
  }
}

/**
 * Sets the guest's clock to the host's (a VM resumed from a memory snapshot wakes with the time it was saved
 * at). qemu-ga sets the system time, then the guest's hardware clock; `time` is nanoseconds since the epoch.
 */
export async function agentSetTime(driver: VmDriver, domain: string, timeoutS = 5): Promise<void> {
  await command(driver, domain, 'guest-set-time', { time: Date.now() * 1e6 }, timeoutS);
}
