// When a freshly booted VM is ready to be saved as a base: the moment its memory snapshot is taken decides
// what every instance of it wakes up to, so a snapshot in the middle of boot is a base that boots forever.
// Readiness is asked of the guest through the QEMU guest agent (systemd, cloud-init, a port or URL inside the
// guest), or is a fixed delay. `auto` is the strictest the image supports: the agent, then cloud-init's end if
// cloud-init is installed, then systemd's end of boot if systemd runs the guest.

import { CloudletError } from '../errors';
import { QEMU_AGENT_CHANNEL } from './domain';
import { readinessValue } from '../contract/rules';
import { AgentTransport, agentExec, agentPing, shellQuote } from './qemu-agent';

export type Readiness = { kind: 'auto' | 'agent' | 'systemd' | 'cloud-init' } | { kind: 'tcp'; port: number } | { kind: 'http'; url: string } | { kind: 'delay'; seconds: number };

/** Reads the API's `ready` value (checked against the contract's rule already). */
export function readinessOf(v: string | number | undefined): Readiness {
  if (v === undefined) return { kind: 'auto' };
  const value = typeof v === 'string' ? readinessValue(v) : v;
  if (typeof value === 'number') return { kind: 'delay', seconds: value };
  if (value === 'auto' || value === 'agent' || value === 'systemd' || value === 'cloud-init') return { kind: value };
  if (value.startsWith('tcp:')) return { kind: 'tcp', port: Number(value.slice(4)) };
  if (/^https?:\/\//.test(value)) return { kind: 'http', url: value };
  throw new CloudletError('INVALID_ARGUMENT', `ready: unknown readiness ${JSON.stringify(v)}`);
}

/** What readiness needs of a VM's host side: its agent, and its power state (the engine's VmDriver has both). */
export type ReadinessTarget = AgentTransport & { state(domain: string): Promise<string | null> };

export interface ReadinessOptions {
  driver: ReadinessTarget;
  domain: string;
  /** How long readiness may take, from the call on. */
  timeoutS: number;
  /** Throws when the operation was cancelled. */
  check: () => void;
  /** Called with each step reached ("agent answered", "cloud-init done"). */
  progress: (step: string) => void;
  sleep: (ms: number) => Promise<void>;
}

type ReadinessWait = ReadinessOptions & { deadline: number };

/** Shell probes run in the guest; each exits 0 when what it looks for answers. */
export function tcpProbe(port: number): string {
  return [
    `p=${port}`,
    // bash's /dev/tcp, else busybox or netcat, else python3: whichever the image has.
    'if command -v bash >/dev/null 2>&1; then exec bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null; fi',
    'if command -v nc >/dev/null 2>&1; then exec nc -z 127.0.0.1 "$p"; fi',
    'if command -v python3 >/dev/null 2>&1; then exec python3 -c "import socket,sys; socket.create_connection((\'127.0.0.1\', int(sys.argv[1])), 2)" "$p"; fi',
    'echo "no bash, nc or python3 in the guest to open a TCP connection with" >&2; exit 127',
  ].join('\n');
}

export function httpProbe(url: string): string {
  return [
    `u=${shellQuote(url)}`,
    'if command -v curl >/dev/null 2>&1; then exec curl -fsS -o /dev/null --max-time 5 "$u"; fi',
    'if command -v wget >/dev/null 2>&1; then exec wget -q -O /dev/null -T 5 "$u"; fi',
    'if command -v python3 >/dev/null 2>&1; then exec python3 -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" "$u"; fi',
    'echo "no curl, wget or python3 in the guest to fetch the URL with" >&2; exit 127',
  ].join('\n');
}

function remainingMs(w: ReadinessWait): number {
  return Math.max(1000, w.deadline - Date.now());
}

function timedOut(what: string): CloudletError {
  return new CloudletError('GUEST_AGENT', `${what} (the readiness timeout ran out)`);
}

async function waitForAgent(w: ReadinessWait): Promise<void> {
  for (;;) {
    w.check();
    if (await agentPing(w.driver, w.domain, 2)) return;
    if (Date.now() > w.deadline)
      throw new CloudletError(
        'GUEST_AGENT',
        `no QEMU guest agent answered on the ${QEMU_AGENT_CHANNEL} channel within ${w.timeoutS} s: readiness needs the image to run qemu-guest-agent (Debian's package of that name; its unit starts when the channel appears), or give a fixed delay (ready: SECONDS)`,
      );
    const st = await w.driver.state(w.domain);
    if (st !== 'running') throw new CloudletError('VM_FAILED', `the VM stopped while booting (state: ${st ?? 'gone'}); the image may not be bootable`);
    await w.sleep(1000);
  }
}

/** Runs a readiness command once in the guest, with what is left of the deadline. */
async function once(w: ReadinessWait, script: string): Promise<{ code: number; out: string }> {
  const r = await agentExec(w.driver, w.domain, script, remainingMs(w)).catch((e: unknown) => {
    if (e instanceof CloudletError && /did not finish within/.test(e.message)) return null;
    throw e;
  });
  if (!r) return { code: -1, out: '' };
  return { code: r.code, out: `${r.stdout}${r.stderr}`.trim() };
}

/** Polls a probe until it succeeds or the deadline passes. */
async function poll(w: ReadinessWait, script: string, what: string): Promise<void> {
  let last = '';
  for (;;) {
    w.check();
    const r = await once(w, script);
    if (r.code === 0) return;
    if (r.code === 127) throw new CloudletError('INVALID_ARGUMENT', `ready: ${r.out}`);
    last = r.out;
    if (Date.now() > w.deadline) throw timedOut(`${what} did not answer inside the guest${last ? `: ${last.split('\n').slice(-2).join(' ')}` : ''}`);
    await w.sleep(1000);
  }
}

async function waitSystemd(w: ReadinessWait): Promise<void> {
  // --wait returns once boot has finished: "running", or "degraded" when some unit failed (boot is over
  // either way; the failed units are named so that the user sees them).
  const r = await once(w, 'systemctl is-system-running --wait; s=$?; [ $s -ne 0 ] && systemctl --failed --no-legend --plain 2>/dev/null | head -5; exit $s');
  if (r.code === -1) throw timedOut('systemd did not report the end of boot (systemctl is-system-running --wait)');
  const state = r.out.split('\n')[0]?.trim();
  if (r.code === 0 || state === 'degraded') {
    w.progress(state === 'degraded' ? `systemd: boot finished degraded (failed units: ${r.out.split('\n').slice(1).join('; ') || 'see systemctl --failed'})` : 'systemd: boot finished');
    return;
  }
  throw new CloudletError('COMMAND_FAILED', `systemd reports the system ${state || 'in an unknown state'} after boot: ${r.out}`);
}

async function waitCloudInit(w: ReadinessWait): Promise<void> {
  const r = await once(w, 'cloud-init status --wait >/dev/null 2>&1; s=$?; cloud-init status --long 2>&1 | tail -n 12; exit $s');
  if (r.code === -1) throw timedOut('cloud-init did not finish (cloud-init status --wait)');
  // 0: done; 2 (cloud-init 23 and later): done with recoverable errors. 1: cloud-init failed.
  if (r.code === 0 || r.code === 2) {
    w.progress(r.code === 0 ? 'cloud-init: done' : `cloud-init: done with recoverable errors: ${r.out}`);
    return;
  }
  throw new CloudletError('COMMAND_FAILED', `cloud-init reported an error on first boot (its user data may be wrong):\n${r.out}`);
}

/** What `auto` resolves to in this guest: the probes the image can answer. */
async function supported(w: ReadinessWait): Promise<{ systemd: boolean; cloudInit: boolean }> {
  const r = await once(w, 'command -v cloud-init >/dev/null 2>&1 && echo cloud-init; [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && echo systemd; true');
  return { systemd: /\bsystemd\b/.test(r.out), cloudInit: /\bcloud-init\b/.test(r.out) };
}

/** Waits until the VM is ready by the given readiness; throws a typed error saying what did not happen. */
export async function waitUntilReady(ready: Readiness, opts: ReadinessOptions): Promise<void> {
  if (ready.kind === 'delay') {
    await opts.sleep(ready.seconds * 1000);
    return;
  }
  const w: ReadinessWait = { ...opts, deadline: Date.now() + opts.timeoutS * 1000 };
  await waitForAgent(w);
  w.progress('guest agent answered');
  switch (ready.kind) {
    case 'agent':
      return;
    case 'systemd':
      return waitSystemd(w);
    case 'cloud-init':
      return waitCloudInit(w);
    case 'tcp':
      await poll(w, tcpProbe(ready.port), `TCP port ${ready.port}`);
      w.progress(`TCP port ${ready.port} answered`);
      return;
    case 'http':
      await poll(w, httpProbe(ready.url), ready.url);
      w.progress(`${ready.url} answered`);
      return;
    case 'auto': {
      const has = await supported(w);
      if (has.cloudInit) await waitCloudInit(w);
      if (has.systemd) await waitSystemd(w);
      return;
    }
  }
}
