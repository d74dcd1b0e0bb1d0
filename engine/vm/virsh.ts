// A long-lived `virsh` fed commands on stdin. With libvirt's embedded QEMU driver (qemu:///embed?root=DIR) the
// driver lives inside the process that opened it, so every VM on a root is driven through one virsh process;
// a second process on the same root would fight over its state. virsh is used rather than the
// @unraid/libvirt binding because the embedded driver refuses to open without a registered event loop
// ("An event loop implementation must be registered") and the binding never registers one.

import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudletError } from '../errors';

/** Creates an embedded-driver root whose qemu.conf suits a root container without virtlogd. */
export function prepareEmbedRoot(root: string): string {
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(root, 'etc', 'qemu.conf'), 'stdio_handler = "file"\nuser = "root"\ngroup = "root"\nsave_image_format = "raw"\n');
  return `qemu:///embed?root=${root}`;
}

export class VirshSession {
  private readonly proc: ChildProcessWithoutNullStreams;
  private out = '';
  private err = '';
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private exited = false;

  constructor(
    readonly uri: string,
    readonly root = uri.replace(/^qemu:\/\/\/embed\?root=/, ''),
  ) {
    this.proc = spawn('virsh', ['-q', '-c', uri], { stdio: 'pipe' });
    this.proc.stdout.on('data', (d: Buffer) => {
      this.out += d.toString();
      this.wake();
    });
    this.proc.stderr.on('data', (d: Buffer) => {
      this.err += d.toString();
      this.wake();
    });
    this.proc.on('exit', () => {
      this.exited = true;
      this.wake();
    });
    // A virsh that died leaves a broken pipe behind; its exit is what callers see, not an EPIPE crash.
    this.proc.stdin.on('error', () => undefined);
  }

  /** Runs one virsh command line; resolves with its stdout, rejects with its error text. */
  run(command: string, timeoutMs = 120000): Promise<string> {
    const p = this.queue.then(() => this.runNow(command, timeoutMs));
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Wakes the command waiting for its end markers (called on every bit of output and on exit). */
  private wake: () => void = () => undefined;

  private async runNow(command: string, timeoutMs: number): Promise<string> {
    if (this.exited) throw new CloudletError('VM_FAILED', `virsh exited; cannot run: ${command}\n${this.err}`);
    const mark = `__cloudlet_done_${++this.seq}__`;
    const echoed = `echo --err ${mark}`;
    this.out = '';
    this.err = '';
    // virsh reads the next line only once a command is done, so the echo of the marker command on stdout
    // follows all of the command's output; the marker itself on stderr follows all of its error text (the two
    // pipes arrive here in no fixed order, hence both). No polling: every command is on some critical path
    // (a restore, a resume), and a poll interval would be added to each.
    this.proc.stdin.write(`${command}\n${echoed}\n`);
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    try {
      await new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          timedOut = true;
          resolve();
        }, timeoutMs);
        this.wake = () => {
          if (this.exited || (this.out.includes(echoed) && this.err.includes(`error: ${mark}`))) resolve();
        };
        this.wake();
      });
    } finally {
      clearTimeout(timer);
      this.wake = () => undefined;
    }
    if (timedOut) throw new CloudletError('VM_FAILED', `virsh timed out: ${command}`);
    if (this.exited && !(this.out.includes(echoed) && this.err.includes(`error: ${mark}`))) throw new CloudletError('VM_FAILED', `virsh exited during: ${command}\n${this.err}`);
    // Fed from a pipe, virsh still prints its prompt and echoes each command: keep only what lies between
    // our command's echo and the marker command's echo.
    let out = this.out.slice(0, this.out.indexOf(echoed));
    out = out.replace(/virsh # $/, '').replace(/^virsh # /, '');
    // The echo is the command and a newline, except when the prompt and command end exactly at readline's
    // 80-column wrap: then it redraws the line's tail with cursor escapes before the newline. Either way the
    // echo starts with the command and ends at the first newline.
    const nl = out.indexOf('\n');
    if (nl >= 0 && out.startsWith(command.slice(0, Math.min(command.length, 40)))) out = out.slice(nl + 1);
    // virsh prints echo --err as an error line of its own ("error: <mark>"): not one of the command's.
    const err = this.err.slice(0, this.err.indexOf(`error: ${mark}`));
    if (/^error:/m.test(err)) throw new CloudletError('VM_FAILED', `virsh ${command}: ${err.trim()}`);
    return out;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Ends the virsh process (VMs keep running); with removeRoot, deletes the embedded root too. */
  async close(removeRoot = false): Promise<void> {
    await this.quit();
    if (removeRoot) fs.rmSync(this.root, { recursive: true, force: true });
  }

  private async quit(): Promise<void> {
    if (this.exited) return;
    this.proc.stdin.end('quit\n');
    await new Promise<void>((r) => {
      const t = setTimeout(() => {
        this.proc.kill('SIGKILL');
        r();
      }, 10000);
      this.proc.on('exit', () => {
        clearTimeout(t);
        r();
      });
    });
  }
}

/** How long a command waits for libvirt to see a just-resumed guest's agent connect. */
const AGENT_CONNECT_GRACE_MS = 10000;

/** A QEMU guest agent command as qemu-agent.ts builds it. */
export interface AgentCommand {
  execute: string;
  arguments?: Record<string, unknown>;
}

/**
 * One QEMU guest agent command through virsh (`qemu-agent-command`, libvirt carrying it over the VM's agent
 * channel); resolves with the answer's `return` value. Commands are built by qemu-agent.ts from fixed names,
 * numbers, base64 and checked paths, so the JSON never holds a quote that could end virsh's single-quoted
 * argument (refused if it does).
 */
export async function virshAgentCommand(run: (cmd: string, timeoutMs: number) => Promise<string>, domain: string, command: AgentCommand, timeoutS: number): Promise<unknown> {
  const json = JSON.stringify(command);
  if (json.includes("'")) throw new CloudletError('INVALID_ARGUMENT', `a guest agent command may not contain a single quote (${command.execute})`);
  const cmd = `qemu-agent-command ${domain} --timeout ${Math.max(1, Math.ceil(timeoutS))} '${json}'`;
  // libvirt learns that a restored or resumed guest's agent is there from QEMU's VSERPORT_CHANGE event,
  // which comes a few milliseconds after the resume: a command sent at once can find it "not connected".
  // Asked again for a while (under load that event has come seconds late); an agent that stays away is
  // reported as libvirt says it, with how long it was waited for.
  const askedAt = Date.now();
  const graceEnd = askedAt + Math.min(AGENT_CONNECT_GRACE_MS, timeoutS * 1000);
  let out: string;
  for (;;) {
    try {
      out = await run(cmd, (timeoutS + 15) * 1000);
      break;
    } catch (e) {
      if (!/guest agent is not connected/i.test((e as Error).message)) throw e;
      if (Date.now() >= graceEnd) {
        const code = e instanceof CloudletError ? e.code : 'VM_FAILED';
        throw new CloudletError(code, `${(e as Error).message} (asked again for ${((Date.now() - askedAt) / 1000).toFixed(1)} s)`, e);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return (JSON.parse(out) as { return?: unknown }).return;
  } catch {
    throw new CloudletError('GUEST_AGENT', `the guest agent of ${domain} answered ${command.execute} with something that is not JSON: ${out.slice(0, 200)}`);
  }
}
