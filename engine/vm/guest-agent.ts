// Host side of the guest control agent (guest-agent.sh): one command at a time over the guest's second
// serial port, exposed by QEMU as a unix socket. Replies are framed with the request id, so banner text or
// bytes left on the line from before a save never confuse a reply.

import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { CloudletError } from '../errors';

export interface ExecResult {
  code: number;
  stdout: string;
}

export async function guestExec(socketPath: string, command: string, timeoutMs = 30000): Promise<ExecResult> {
  const id = randomBytes(6).toString('hex');
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  // The socket appears a moment after QEMU starts; retry connecting until the deadline.
  while (Date.now() < deadline) {
    try {
      return await attempt(socketPath, id, command, deadline);
    } catch (e) {
      lastErr = e;
      if ((e as Error).message.startsWith('timeout')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new CloudletError('GUEST_AGENT', `guest command timed out after ${timeoutMs} ms: ${command} (${(lastErr as Error)?.message ?? ''})`);
}

function attempt(socketPath: string, id: string, command: string, deadline: number): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    const re = new RegExp(`@@${id} (\\d+) ([A-Za-z0-9+/=]*)@@`);
    // Sent once: the agent runs every line it reads, so a resent request would run the command again.
    const timer = setTimeout(
      () => {
        sock.destroy();
        reject(new Error('timeout waiting for the guest agent'));
      },
      Math.max(1, deadline - Date.now()),
    );
    const done = (f: () => void) => {
      clearTimeout(timer);
      sock.destroy();
      f();
    };
    sock.on('connect', () => {
      const line = `\n${id} ${Buffer.from(command).toString('base64')}\n`;
      sock.write(line);
    });
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      const m = re.exec(buf);
      if (m) done(() => resolve({ code: Number(m[1]), stdout: Buffer.from(m[2], 'base64').toString('utf8') }));
      else if (buf.length > 1 << 20) buf = buf.slice(-4096);
    });
    sock.on('error', (e) => done(() => reject(e)));
  });
}
