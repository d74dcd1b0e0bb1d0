// Live migration of a running VM's state out of QEMU, for handoff. QEMU's own pre-copy does the hard part:
// it sends all of RAM while the guest runs, re-sends what the guest dirtied, and pauses it only for the
// last, small round. We ask for it through the monitor (`migrate -d unix:PATH`) and take the stream on a
// unix socket we listen on; `exec:` targets are refused by libvirt's seccomp sandbox (QEMU may not spawn).
//
// The stream is what follows the header in a libvirt save file, so a destination that prepends a header
// (save-header.ts saveHeaderFor) can `virsh restore` it. After a completed migration the source VM is left
// paused; after a failed or cancelled one QEMU keeps it running. Resuming or destroying it is the caller's
// decision, made once the destination has confirmed.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { CloudletError } from '../errors';

export interface LiveMigrationOptions {
  /** Runs one HMP command on the VM's QEMU monitor and returns its output. */
  monitor: (hmp: string) => Promise<string>;
  /** Where to listen for QEMU's connection (a unix socket path, under 108 bytes). */
  socketPath: string;
  /** Takes the stream, chunk by chunk; QEMU waits while it is busy (backpressure). A throw aborts the migration. */
  sink: (chunk: Buffer) => Promise<void> | void;
  /** Bandwidth cap QEMU applies, MiB/s. Default: unlimited in practice (the sink paces it). */
  maxBandwidthMiBps?: number;
  /** Longest pause QEMU aims for in the final round, ms. Default 300. */
  downtimeLimitMs?: number;
  signal?: AbortSignal;
  /** Gives up (and cancels) after this long. Default 30 min. */
  timeoutMs?: number;
}

export interface LiveMigrationStats {
  bytes: number;
  totalMs: number;
  /** QEMU's measure of how long the guest was paused at the source. */
  downtimeMs: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function hmpError(out: string): string | null {
  const m = /(?:^|\n)\s*(?:Error|error)[:\s].*$/m.exec(out);
  return m ? m[0].trim() : null;
}

async function monitorOk(o: LiveMigrationOptions, hmp: string): Promise<string> {
  const out = await o.monitor(hmp);
  const err = hmpError(out);
  if (err) throw new CloudletError('VM_FAILED', `QEMU refused "${hmp}": ${err}`);
  return out;
}

export async function liveMigrate(o: LiveMigrationOptions): Promise<LiveMigrationStats> {
  const t0 = Date.now();
  fs.rmSync(o.socketPath, { force: true });
  const server = net.createServer();
  let bytes = 0;
  let sinkError: Error | null = null;
  let conn: net.Socket | null = null;
  // Resolves when QEMU has sent everything and closed; rejects when the sink fails.
  const received = new Promise<void>((resolve, reject) => {
    server.once('connection', (sock) => {
      conn = sock;
      void (async () => {
        try {
          for await (const chunk of sock) {
            bytes += (chunk as Buffer).length;
            await o.sink(chunk as Buffer);
          }
          resolve();
        } catch (e) {
          sinkError = e instanceof Error ? e : new Error(String(e));
          sock.destroy();
          reject(sinkError);
        }
      })();
    });
  });
  received.catch(() => undefined);
  /** Settles when the stream has ended, either way (wakes the status loop). */
  let streamEnded = false;
  const ended = received.then(
    () => void (streamEnded = true),
    () => void (streamEnded = true),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.socketPath, () => resolve());
  });
  let started = false;
  try {
    await monitorOk(o, `migrate_set_parameter max-bandwidth ${o.maxBandwidthMiBps ?? 100000}M`);
    await monitorOk(o, `migrate_set_parameter downtime-limit ${o.downtimeLimitMs ?? 300}`);
    await monitorOk(o, `migrate -d unix:${o.socketPath}`);
    started = true;
    const deadline = t0 + (o.timeoutMs ?? 30 * 60 * 1000);
    for (;;) {
      if (o.signal?.aborted) throw new CloudletError('CANCELLED', 'the live migration was cancelled');
      // Set by the socket's data handler (narrowing cannot see that).
      const failed = sinkError as Error | null;
      if (failed) throw failed;
      if (Date.now() > deadline) throw new CloudletError('VM_FAILED', 'the live migration did not finish in time');
      // Asked again as soon as the stream has ended (QEMU closes it when done), then every 5 ms, and before that
      // every 100 ms: the guest is paused from QEMU's last round until the caller learns it is over.
      const info = await o.monitor('info migrate');
      const status = /Migration status:\s*(\S+)/.exec(info)?.[1] ?? 'unknown';
      if (status === 'completed') {
        await received;
        const downtime = /downtime:\s*(\d+)\s*ms/.exec(info);
        return { bytes, totalMs: Date.now() - t0, downtimeMs: downtime ? Number(downtime[1]) : null };
      }
      if (status === 'failed' || status === 'cancelled') {
        const late = sinkError as Error | null; // may have been set while `info migrate` ran
        if (late) throw late;
        const why = /error:?\s*(.+)/i.exec(info)?.[1];
        throw new CloudletError('VM_FAILED', `QEMU's live migration ${status}${why ? `: ${why}` : ''}`);
      }
      if (streamEnded) await sleep(5);
      else {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([ended, new Promise((r) => (timer = setTimeout(r, 100)))]);
        clearTimeout(timer);
      }
    }
  } catch (e) {
    if (started) await o.monitor('migrate_cancel').catch(() => undefined);
    throw e;
  } finally {
    (conn as net.Socket | null)?.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(o.socketPath, { force: true });
  }
}
