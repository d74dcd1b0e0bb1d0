// The QEMU guest agent (Debian's stock `qemu-guest-agent`, protocol of QEMU's qga/qapi-schema.json) as the
// engine's way into a guest: libvirt owns the agent's virtio-serial channel (org.qemu.guest_agent.0) and
// carries each command (VmDriver.agentCommand). A command to run goes to the guest's shell on its standard
// input (`guest-exec` with `input-data`), so nothing in it needs quoting; the exit status, standard output and
// standard error come back apart, and an agent that does not answer is a different error from a command that
// fails.

import { CloudletError } from '../errors';
import { AgentCommand } from './virsh';

/** What carries agent commands to a VM: the engine's VmDriver, or a test's own virsh session. */
export interface AgentTransport {
  agentCommand(domain: string, command: AgentCommand, timeoutS: number): Promise<unknown>;
}

export interface AgentExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Output kept from a command: the agent caps what it captures, and so do we. */
const MAX_OUTPUT = 1 << 20;

async function command(driver: AgentTransport, domain: string, execute: string, args: Record<string, unknown> | undefined, timeoutS: number): Promise<unknown> {
  try {
    return await driver.agentCommand(domain, args ? { execute, arguments: args } : { execute }, timeoutS);
  } catch (e) {
    if (e instanceof CloudletError && e.code === 'GUEST_AGENT') throw e;
    const why = (e as Error).message.replace(/^libvirt: /, '');
    throw new CloudletError('GUEST_AGENT', `the QEMU guest agent of ${domain} did not answer ${execute}: ${why}`, e);
  }
}

/** Whether the agent answers a ping within `timeoutS`. */
export async function agentPing(driver: AgentTransport, domain: string, timeoutS = 5): Promise<boolean> {
  try {
    await command(driver, domain, 'guest-ping', undefined, timeoutS);
    return true;
  } catch {
    return false;
  }
}

/** Runs a shell command in the guest and waits for it (at most `timeoutMs`). */
export async function agentExec(driver: AgentTransport, domain: string, script: string, timeoutMs: number): Promise<AgentExecResult> {
  const deadline = Date.now() + timeoutMs;
  const started = (await command(
    driver,
    domain,
    'guest-exec',
    { path: '/bin/sh', arg: ['-s'], 'input-data': Buffer.from(script).toString('base64'), 'capture-output': true },
    Math.min(30, timeoutMs / 1000),
  )) as { pid?: unknown };
  if (typeof started?.pid !== 'number') throw new CloudletError('GUEST_AGENT', `the QEMU guest agent of ${domain} started no process for the command`);
  // Asked every 25 ms for the first 2 s (a short command, such as a fresh instance's identity script in a
  // synthesis's critical path, then ends at most 25 ms before it is seen; doubling from 20 ms lost up to a
  // third of a second there), then less and less often. A status query costs the engine a few milliseconds.
  const polledFrom = Date.now();
  let wait = 25;
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
    if (Date.now() - polledFrom > 2000) wait = Math.min(500, wait * 2);
  }
}

/**
 * Sets the guest's clock to the host's (a VM resumed from a memory snapshot wakes with the time it was saved
 * at). qemu-ga sets the system time, then the guest's hardware clock; `time` is nanoseconds since the epoch.
 */
export async function agentSetTime(driver: AgentTransport, domain: string, timeoutS = 5): Promise<void> {
  await command(driver, domain, 'guest-set-time', { time: Date.now() * 1e6 }, timeoutS);
}

/** A word for the guest's /bin/sh, single-quoted (the agent's commands reach the shell on its standard input). */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Raw bytes per guest-file-write: its base64 travels on virsh's command line, which caps one argument at 128 KiB. */
const FILE_CHUNK = 48 * 1024;

/**
 * Writes a file in the guest (guest-file-open/-write/-close), creating or truncating it, then sets its mode
 * through the shell when one is given (the agent's file commands have no mode). Parent directories are made.
 */
export async function agentWriteFile(driver: AgentTransport, domain: string, file: string, data: Buffer, opts: { mode?: string; timeoutMs?: number } = {}): Promise<void> {
  const timeoutS = Math.max(5, (opts.timeoutMs ?? 60000) / 1000);
  const dir = file.replace(/\/[^/]*$/, '') || '/';
  const mk = await agentExec(driver, domain, `mkdir -p ${shellQuote(dir)}`, timeoutS * 1000);
  if (mk.code !== 0) throw new CloudletError('COMMAND_FAILED', `cannot make ${dir} in the guest: ${mk.stderr.trim() || `exit ${mk.code}`}`);
  const handle = await command(driver, domain, 'guest-file-open', { path: file, mode: 'w' }, timeoutS);
  if (typeof handle !== 'number') throw new CloudletError('GUEST_AGENT', `the QEMU guest agent of ${domain} opened no file for ${file}`);
  try {
    for (let at = 0; at < data.length; at += FILE_CHUNK) {
      const part = data.subarray(at, at + FILE_CHUNK);
      const w = (await command(driver, domain, 'guest-file-write', { handle, 'buf-b64': part.toString('base64') }, timeoutS)) as { count?: number };
      if (w?.count !== part.length) throw new CloudletError('GUEST_AGENT', `the guest wrote ${w?.count ?? 0} of ${part.length} bytes to ${file}`);
    }
  } finally {
    await command(driver, domain, 'guest-file-close', { handle }, timeoutS).catch(() => undefined);
  }
  if (opts.mode) {
    const r = await agentExec(driver, domain, `chmod ${opts.mode} ${shellQuote(file)}`, timeoutS * 1000);
    if (r.code !== 0) throw new CloudletError('COMMAND_FAILED', `cannot set mode ${opts.mode} on ${file} in the guest: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
}

/**
 * Reads a file from the guest, at most `maxBytes` of it: a longer file is refused, not cut, and no more than
 * one byte past the limit is ever asked of the agent.
 */
export async function agentReadFile(driver: AgentTransport, domain: string, file: string, maxBytes: number, timeoutMs = 60000): Promise<Buffer> {
  const timeoutS = Math.max(5, timeoutMs / 1000);
  const handle = await command(driver, domain, 'guest-file-open', { path: file, mode: 'r' }, timeoutS);
  if (typeof handle !== 'number') throw new CloudletError('GUEST_AGENT', `the QEMU guest agent of ${domain} opened no file for ${file}`);
  const parts: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const count = Math.min(FILE_CHUNK * 4, maxBytes + 1 - total);
      const r = (await command(driver, domain, 'guest-file-read', { handle, count }, timeoutS)) as { count?: number; 'buf-b64'?: string; eof?: boolean };
      const part = Buffer.from(r?.['buf-b64'] ?? '', 'base64');
      total += part.length;
      if (total > maxBytes) throw new CloudletError('INVALID_ARGUMENT', `path: ${file} in the guest is larger than ${maxBytes} bytes, the most one read returns (copy larger files with a command)`);
      parts.push(part);
      if (r?.eof || part.length === 0) break;
    }
  } finally {
    await command(driver, domain, 'guest-file-close', { handle }, timeoutS).catch(() => undefined);
  }
  return Buffer.concat(parts);
}

export interface GuestInterface {
  name: string;
  mac?: string;
  addresses: { type: 'ipv4' | 'ipv6'; address: string; prefix: number }[];
}

/** The guest's network interfaces and addresses as the guest sees them (guest-network-get-interfaces). */
export async function agentInterfaces(driver: AgentTransport, domain: string, timeoutS = 10): Promise<GuestInterface[]> {
  const raw = (await command(driver, domain, 'guest-network-get-interfaces', undefined, timeoutS)) as {
    name?: string;
    'hardware-address'?: string;
    'ip-addresses'?: { 'ip-address-type'?: string; 'ip-address'?: string; prefix?: number }[];
  }[];
  if (!Array.isArray(raw)) throw new CloudletError('GUEST_AGENT', `the QEMU guest agent of ${domain} gave no interface list`);
  return raw.map((i) => ({
    name: String(i.name ?? ''),
    mac: i['hardware-address'],
    addresses: (i['ip-addresses'] ?? [])
      .filter((a) => (a['ip-address-type'] === 'ipv4' || a['ip-address-type'] === 'ipv6') && typeof a['ip-address'] === 'string')
      .map((a) => ({ type: a['ip-address-type'] as 'ipv4' | 'ipv6', address: a['ip-address']!, prefix: Number(a.prefix ?? 0) })),
  }));
}
