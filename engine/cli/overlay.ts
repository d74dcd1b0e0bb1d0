// `cloudlet overlay build | apply | inspect`: the overlay codec on local files, no engine involved.

import { applyOverlay, inspectOverlay } from '../overlay/apply';
import { createOverlay } from '../overlay/writer';
import { OptionSpec, helpText, parseArgs, splitCommand } from './args';
import { formatBytes, progressPrinter } from './progress';
import { CloudletError } from '../errors';

const CREATE: OptionSpec = {
  'base-disk': { type: 'string', required: true, help: 'base VM disk (raw)' },
  'base-memory': { type: 'string', required: true, help: 'base VM memory snapshot (libvirt save file)' },
  disk: { type: 'string', required: true, help: 'customized disk (qcow2 layered on the base disk)' },
  memory: { type: 'string', required: true, help: 'customized memory snapshot (libvirt save file)' },
  output: { type: 'string', required: true, help: 'overlay file to write' },
  level: { type: 'number', help: 'zstd level 1..22 (default 9)' },
  threads: { type: 'number', help: 'compression threads (default: CPUs)' },
  json: { type: 'boolean', help: 'print statistics as JSON' },
  quiet: { type: 'boolean', help: 'no progress output' },
};

const APPLY: OptionSpec = {
  'base-disk': { type: 'string', required: true, help: 'base VM disk (raw)' },
  'base-memory': { type: 'string', required: true, help: 'base VM memory snapshot' },
  'out-disk': { type: 'string', required: true, help: 'rebuilt disk to write (qcow2 on the base disk)' },
  'out-memory': { type: 'string', required: true, help: 'rebuilt memory snapshot to write' },
  'backing-file': { type: 'string', help: 'backing file name to record (default: relative path to the base disk)' },
  json: { type: 'boolean', help: 'print the result as JSON' },
  quiet: { type: 'boolean', help: 'no progress output' },
};

const INSPECT: OptionSpec = {
  verify: { type: 'boolean', help: 'also read every frame and check the whole-file digest' },
  json: { type: 'boolean', help: 'print as JSON' },
};

export const LOCAL_OVERLAY_USAGE = `usage:
  cloudlet overlay build --base-disk F --base-memory F --disk F --memory F --output F [--level N] [--threads N] [--json]
${helpText(CREATE)}
  cloudlet overlay apply OVERLAY --base-disk F --base-memory F --out-disk F --out-memory F [--backing-file NAME]
${helpText(APPLY)}
  cloudlet overlay inspect OVERLAY [--verify] [--json]
${helpText(INSPECT)}`;

export const LOCAL_OVERLAY_COMMANDS = ['build', 'apply', 'inspect'];

export async function localOverlayCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { cmd: sub, rest } = splitCommand(argv);
  if (sub === 'build') {
    const { positionals, options: o } = parseArgs(rest, CREATE, LOCAL_OVERLAY_USAGE);
    if (positionals.length) throw new CloudletError('INVALID_ARGUMENT', `unexpected argument ${positionals[0]}`);
    const stats = await createOverlay({
      baseDisk: o['base-disk'] as string,
      baseMemory: o['base-memory'] as string,
      customDisk: o.disk as string,
      customMemory: o.memory as string,
      output: o.output as string,
      level: o.level as number | undefined,
      threads: o.threads as number | undefined,
      onProgress: o.quiet ? undefined : progressPrinter('overlay build'),
    });
    if (o.json) out(JSON.stringify(stats, null, 2));
    else
      out(
        `wrote ${o.output as string}: ${formatBytes(stats.overlayBytes)} in ${stats.seconds.toFixed(2)} s ` +
          `(disk: ${stats.diskLiteral} literal, ${stats.diskBaseDisk + stats.diskBaseMemory + stats.diskEarlier} dedup, ${stats.diskZero} zero, ${stats.diskSame} unchanged chunks; ` +
          `memory: ${stats.memoryLiteral} literal, ${stats.memoryBaseDisk + stats.memoryBaseMemory + stats.memoryEarlier} dedup, ${stats.memoryZero} zero, ${stats.memorySame} unchanged pages)`,
      );
    return;
  }
  if (sub === 'apply') {
    const { positionals, options: o } = parseArgs(rest, APPLY, LOCAL_OVERLAY_USAGE);
    if (positionals.length !== 1) throw new CloudletError('INVALID_ARGUMENT', `overlay apply needs exactly one overlay file\n${LOCAL_OVERLAY_USAGE}`);
    const r = await applyOverlay({
      overlay: positionals[0],
      baseDisk: o['base-disk'] as string,
      baseMemory: o['base-memory'] as string,
      outputDisk: o['out-disk'] as string,
      outputMemory: o['out-memory'] as string,
      backingFile: o['backing-file'] as string | undefined,
      onProgress: o.quiet ? undefined : progressPrinter('overlay apply'),
    });
    if (o.json) out(JSON.stringify({ disk: o['out-disk'], memory: o['out-memory'], diskBytes: r.diskBytes, memoryBytes: r.memoryBytes, seconds: r.seconds }, null, 2));
    else out(`rebuilt ${o['out-disk'] as string} (${formatBytes(r.diskBytes)}) and ${o['out-memory'] as string} (${formatBytes(r.memoryBytes)}) in ${r.seconds.toFixed(2)} s`);
    return;
  }
  if (sub === 'inspect') {
    const { positionals, options: o } = parseArgs(rest, INSPECT, LOCAL_OVERLAY_USAGE);
    if (positionals.length !== 1) throw new CloudletError('INVALID_ARGUMENT', `overlay inspect needs exactly one overlay file\n${LOCAL_OVERLAY_USAGE}`);
    const s = await inspectOverlay(positionals[0], o.verify === true);
    if (o.json) {
      out(JSON.stringify(s, null, 2));
      return;
    }
    const kinds = (k: Record<string, number>) =>
      Object.entries(k)
        .map(([n, v]) => `${n} ${v}`)
        .join(', ');
    out(
      [
        `overlay ${positionals[0]} (format v${s.formatVersion}, ${formatBytes(s.fileBytes)})${s.verified ? ', digest verified' : ''}`,
        `base disk    sha256 ${s.base.disk.sha256} (${formatBytes(s.base.disk.size)})`,
        `base memory  sha256 ${s.base.memory.sha256} (${formatBytes(s.base.memory.size)})`,
        `disk         ${formatBytes(s.disk.virtualSize)} virtual, ${s.disk.entries} changed chunks: ${kinds(s.disk.byKind)}`,
        `memory       ${formatBytes(s.memory.ramBytes)} RAM in ${s.memory.blocks.length} blocks, ${s.memory.entries} changed pages: ${kinds(s.memory.byKind)}; device state ${formatBytes(s.memory.deviceStateBytes)}`,
        `dedup hits   base disk ${s.dedupHits.baseDisk}, base memory ${s.dedupHits.baseMemory}, earlier in overlay ${s.dedupHits.earlierInOverlay}`,
        `literals     ${s.literals.chunks} chunks, ${formatBytes(s.literals.bytesBeforeCompression)} -> ${formatBytes(s.literals.bytesAfterCompression)} compressed (${s.literals.ratio.toFixed(2)}x) in ${s.literals.frames} frames`,
      ].join('\n'),
    );
    return;
  }
  throw new CloudletError('INVALID_ARGUMENT', `unknown overlay command ${sub ?? '(none)'}\n${LOCAL_OVERLAY_USAGE}`);
}
