// The host's own libvirtd (Debian's libvirt-daemon-system), for tests of an engine on qemu:///system. Our test
// containers run no systemd, so the test starts virtlogd and libvirtd itself, in the foreground as its
// children, and stops them when done; a host where libvirtd already answers keeps its own.

import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export const SYSTEM_URI = 'qemu:///system';

export function virshSystem(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('virsh', ['-c', SYSTEM_URI, ...args], { encoding: 'utf8', timeout: 30000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export interface Libvirtd {
  /** Whether this test started it (and stop() ends it). */
  started: boolean;
  stop(): Promise<void>;
}

export async function ensureLibvirtd(logFile: string): Promise<Libvirtd> {
  if (virshSystem('uri').status === 0) return { started: false, stop: async () => undefined };
  for (const bin of ['/usr/sbin/libvirtd', '/usr/sbin/virtlogd'])
    if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: install Debian's libvirt-daemon-system (engine/host/setup-host.sh does)`);
  const log = fs.openSync(logFile, 'a');
  const children: ChildProcess[] = [];
  // virtlogd first: libvirtd's QEMU driver hands each VM's log to it (qemu.conf stdio_handler = "logd").
  if (spawnSync('pgrep', ['-x', 'virtlogd']).status !== 0) children.push(spawn('/usr/sbin/virtlogd', [], { stdio: ['ignore', log, log] }));
  children.push(spawn('/usr/sbin/libvirtd', [], { stdio: ['ignore', log, log] }));
  const deadline = Date.now() + 30000;
  while (virshSystem('uri').status !== 0) {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead) throw new Error(`${dead.spawnfile} exited with ${dead.exitCode}:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`libvirtd did not answer on ${SYSTEM_URI} within 30 s:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    started: true,
    stop: async () => {
      for (const c of children.reverse()) {
        if (c.exitCode !== null || c.signalCode !== null) continue;
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await exited;
      }
      fs.closeSync(log);
    },
  };
}
