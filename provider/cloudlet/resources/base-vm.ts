// cloudlet_base_vm: a base VM (disk + memory snapshot) imported into the cloudlet from a base archive.
// Bases are content-addressed: the id is the hash of disk and memory, so importing one the cloudlet already
// has costs nothing, and when `sha256` pins the id, moving the archive to another URL is not a new base.

import { Diagnostic, error, fail } from '../../protocol/diagnostics';
import { BlockSchema } from '../../framework/schema';
import { defineResource } from '../../framework/server';
import { Cloudlet, EngineBase } from '../connection';
import { readinessProblem, readinessValue } from '../../../engine/contract/rules';
import { cloudletAttr, engineSource, known, ms, timeoutsBlock, validHex64, validName, validRange, validSource, without } from '../common';

export const baseAttributes = {
  name: { type: 'string', computed: true, description: "The base's name, as recorded in its archive." },
  disk_bytes: { type: 'number', computed: true, description: 'Size of the base disk image in bytes.' },
  memory_bytes: { type: 'number', computed: true, description: 'Size of the memory snapshot in bytes.' },
  memory_mib: { type: 'number', computed: true, description: 'Guest memory of the snapshot, in MiB (instances of this base have the same).' },
  vcpus: { type: 'number', computed: true, description: 'Virtual CPUs of the snapshot (instances of this base have the same).' },
  cpu_model: { type: 'string', computed: true, description: 'The guest CPU model the snapshot was taken with; pinned so snapshots restore on any cloudlet.' },
} as const;

const schema = {
  description:
    'A base VM on the cloudlet: imported from a base archive (a tar written by `cloudlet base export`), or made from a bootable disk image (`disk_image`): the engine boots it, waits until it is ready, and snapshots its memory. Overlays and instances build on it.',
  attributes: {
    id: { type: 'string', computed: true, description: 'The base id: SHA-256 content address of its disk and memory snapshot.' },
    source: {
      type: 'string',
      optional: true,
      description:
        "Path or http(s)/file URL of the base archive. A path is read by the engine on its host (relative paths are resolved from Terraform's working directory). Changing it replaces the base unless `sha256` pins the same base. Give `source` or `disk_image`.",
      validate: validSource,
    },
    disk_image: {
      type: 'string',
      optional: true,
      requiresReplace: true,
      description:
        "Path of a bootable disk image (qcow2 or raw) on the engine host (relative paths are resolved from Terraform's working directory) to make the base from: the engine converts a copy to raw, boots it with its own boot loader (or `kernel`), waits as `ready` says, and snapshots its memory. The image itself is not changed.",
    },
    name: {
      type: 'string',
      optional: true,
      computed: true,
      requiresReplace: true,
      description: "The base's name: set it for a `disk_image` (required there); for an archive, the name recorded in it.",
      validate: validName,
    },
    memory_mib: {
      type: 'number',
      optional: true,
      computed: true,
      requiresReplace: true,
      description: 'Guest memory, in MiB, for a `disk_image` (default 256); instances of this base have the same.',
      validate: validRange('memoryMiB'),
    },
    vcpus: {
      type: 'number',
      optional: true,
      computed: true,
      requiresReplace: true,
      description: 'Virtual CPUs for a `disk_image` (default 1); instances of this base have the same.',
      validate: validRange('vcpus'),
    },
    kernel: { type: 'string', optional: true, requiresReplace: true, description: "For a `disk_image`: a kernel to boot directly instead of the image's boot loader." },
    initrd: { type: 'string', optional: true, requiresReplace: true, description: 'For a `disk_image` booted with `kernel`: its initrd.' },
    cmdline: { type: 'string', optional: true, requiresReplace: true, description: 'For a `disk_image` booted with `kernel`: the kernel command line.' },
    ready: {
      type: 'string',
      optional: true,
      requiresReplace: true,
      description:
        'For a `disk_image`: when to snapshot it. `auto` (default: the strictest the image supports: the guest agent, then cloud-init done, then systemd boot finished), `agent` (the QEMU guest agent answers), `systemd` (`systemctl is-system-running --wait`), `cloud-init` (`cloud-init status --wait`), `tcp:PORT` or an `http://` URL answering inside the guest, or a number of seconds after boot.',
      validate: readinessProblem,
    },
    firmware: {
      type: 'string',
      optional: true,
      requiresReplace: true,
      description: 'For a `disk_image`: `bios` (default) or `uefi` (OVMF, Debian package ovmf on the cloudlet host).',
      validate: (v) => (v === 'bios' || v === 'uefi' ? undefined : `expected "bios" or "uefi", got ${JSON.stringify(v)}`),
    },
    ready_timeout_seconds: {
      type: 'number',
      optional: true,
      requiresReplace: true,
      description: 'For a `disk_image`: how long readiness may take (default 600). A timeout fails with the end of the guest console, which is kept on the engine host.',
      validate: validRange('readyTimeoutSeconds'),
    },
    sha256: {
      type: 'string',
      optional: true,
      description: 'The expected base id. The import fails if the archive holds another base, and nothing is downloaded when the cloudlet already has it.',
      validate: validHex64('sha256'),
    },
    keep_on_destroy: {
      type: 'bool',
      optional: true,
      computed: true,
      default: false,
      description: 'Leave the base on the cloudlet when this resource is destroyed (bases are large and may be shared). Default false.',
    },
    ...without(baseAttributes, 'name', 'memory_mib', 'vcpus'),
    cloudlet: cloudletAttr,
  },
  blocks: {
    cloud_init: {
      nesting: 'single',
      requiresReplace: true,
      block: {
        description:
          'For a `disk_image`: a cloud-init NoCloud seed for its first boot (a CD-ROM labelled cidata, ejected before the memory snapshot, never stored). The snapshot is taken after cloud-init has finished.',
        attributes: {
          user_data: {
            type: 'string',
            optional: true,
            sensitive: true,
            description: 'User data (`#cloud-config` with users, ssh keys, write_files, runcmd; or a script). Sensitive: it may hold passwords and keys.',
          },
          meta_data: { type: 'string', optional: true, description: 'NoCloud meta-data (YAML). Default: an `instance-id` and `local-hostname` from the base name.' },
          network_config: { type: 'string', optional: true, sensitive: true, description: 'cloud-init network configuration (version 1 or 2). Sensitive: it may hold Wi-Fi or VPN secrets.' },
        },
      },
    },
    timeouts: timeoutsBlock(['create', 'delete'], { create: '30m', delete: '5m' }),
  },
} satisfies BlockSchema;

/** Attributes that only a disk image takes. */
const DISK_ONLY = ['memory_mib', 'vcpus', 'kernel', 'initrd', 'cmdline', 'ready', 'ready_timeout_seconds', 'firmware', 'cloud_init'] as const;

/** The computed attributes of a base, shared with the cloudlet_base_vm data source. */
export function baseState(b: EngineBase, cloudletId: string) {
  return {
    id: b.id,
    name: b.name,
    disk_bytes: b.disk.bytes,
    memory_bytes: b.memory.bytes,
    memory_mib: b.memoryMiB,
    vcpus: b.vcpus,
    cpu_model: b.cpuModel,
    cloudlet: cloudletId,
  };
}

export const baseVmResource = defineResource<Cloudlet, typeof schema>({
  typeName: 'cloudlet_base_vm',
  schema: { version: 0, block: schema },
  timeouts: { create: ms('30m'), delete: ms('5m') },

  validate(config) {
    const out: Diagnostic[] = [];
    const set = (v: unknown) => v !== null && v !== undefined;
    if (set(config.source) === set(config.disk_image))
      out.push(error('Give source or disk_image', 'A base comes from a base archive (`source`) or from a bootable disk image (`disk_image`): set exactly one.', ['source']));
    if (set(config.disk_image)) {
      if (!set(config.name)) out.push(error('Missing name', 'A base made from a `disk_image` needs a `name`.', ['name']));
      if (set(config.sha256)) out.push(error('sha256 with disk_image', "A base made from a disk image gets its id when its memory is snapshotted; `sha256` pins an archive's base.", ['sha256']));
      if (set(config.initrd) && !set(config.kernel)) out.push(error('initrd without kernel', '`initrd` goes with `kernel` (a direct kernel boot).', ['initrd']));
    } else {
      for (const a of DISK_ONLY) if (set(config[a])) out.push(error(`${a} without disk_image`, `\`${a}\` applies only to a base made from a \`disk_image\`; an archive's base has its own.`, [a]));
      if (set(config.name) && set(config.source)) out.push(error('name with source', "An archive's base keeps the name recorded in it.", ['name']));
    }
    return out;
  },

  modifyPlan(p) {
    if (!p.prior) return;
    // A base from a disk image is replaced when one of its own (requiresReplace) attributes changes.
    if (p.prior.disk_image !== null || (p.config.disk_image !== null && p.config.disk_image !== undefined)) return;
    const pin = p.config.sha256;
    const sourceChanged = !known(p.config.source) || p.config.source !== p.prior.source;
    const pinChanged = !known(pin) || (pin !== null && pin !== p.prior.id);
    // With the id pinned to what we have, a new source is only a new place to find the same bytes.
    if ((sourceChanged && !(known(pin) && pin === p.prior.id)) || pinChanged) {
      p.requiresReplace.push(sourceChanged ? ['source'] : ['sha256']);
    }
  },

  async create(ctx, planned) {
    const c = ctx.provider;
    if (planned.disk_image !== null) {
      const image = planned.disk_image;
      const name = typeof planned.name === 'string' ? planned.name : ''; // validate() requires it with disk_image
      const abs = (f: string | null) => (f === null ? undefined : engineSource(f));
      const ready = planned.ready === null ? undefined : readinessValue(planned.ready);
      const ci = planned.cloud_init;
      const cloudInit = ci ? { userData: ci.user_data ?? undefined, metaData: ci.meta_data ?? undefined, networkConfig: ci.network_config ?? undefined } : undefined;
      const op = await c.operation(
        `make base VM ${name} from ${image}`,
        (api) =>
          api.bases.import({
            disk: engineSource(image),
            name,
            memoryMiB: typeof planned.memory_mib === 'number' ? planned.memory_mib : undefined,
            vcpus: typeof planned.vcpus === 'number' ? planned.vcpus : undefined,
            kernel: abs(planned.kernel),
            initrd: abs(planned.initrd),
            cmdline: planned.cmdline ?? undefined,
            ready,
            readyTimeoutSeconds: planned.ready_timeout_seconds ?? undefined,
            firmware: planned.firmware === 'uefi' || planned.firmware === 'bios' ? planned.firmware : undefined,
            cloudInit,
          }),
        ctx.signal,
      );
      return baseState(op.result.base, c.id);
    }
    const source = engineSource(planned.source!); // validate() requires source or disk_image
    const sha256 = planned.sha256 ?? undefined;
    const op = await c.operation(`import base VM from ${planned.source}`, (api) => api.bases.import({ source, sha256 }), ctx.signal);
    const b = op.result.base;
    return baseState(b, c.id);
  },

  async read(ctx, state) {
    const id = state.id!;
    const b = await ctx.provider.find('read base VM', (api) => api.bases.get(id, { signal: ctx.signal }), { signal: ctx.signal });
    return b ? baseState(b, ctx.provider.id) : null;
  },

  async delete(ctx, state) {
    if (state.keep_on_destroy === true) return;
    const id = state.id!;
    await ctx.provider.find('delete base VM', (api) => api.bases.delete(id, { signal: ctx.signal }), { signal: ctx.signal, changes: true });
  },

  async importState(ctx, id) {
    const b = await ctx.provider.find('read base VM', (api) => api.bases.get(id, { signal: ctx.signal }), { signal: ctx.signal });
    if (!b) fail('Cannot import cloudlet_base_vm', `The cloudlet ${ctx.provider.id} has no base VM ${id}. \`cloudlet base list\` shows the ids it has.`);
    // A base the engine made from a disk image records it as `disk image PATH`.
    const fromDisk = /^disk image (.+)$/.exec(b.source);
    if (fromDisk) return { ...baseState(b, ctx.provider.id), disk_image: fromDisk[1], source: null, sha256: null, keep_on_destroy: false };
    return { ...baseState(b, ctx.provider.id), source: b.source, sha256: b.id, keep_on_destroy: false };
  },
});
