// cloudlet_base_vm: a base VM (disk + memory snapshot) imported into the cloudlet from a base archive.
// Bases are content-addressed: the id is the hash of disk and memory, so importing one the cloudlet already
// has costs nothing, and when `sha256` pins the id, moving the archive to another URL is not a new base.

import { fail } from '../../protocol/diagnostics';
import { BlockSchema } from '../../framework/schema';
import { defineResource } from '../../framework/server';
import { Cloudlet, EngineBase } from '../connection';
import { cloudletAttr, engineSource, known, ms, timeoutsBlock, validHex64, validSource } from '../common';

export const baseAttributes = {
  name: { type: 'string', computed: true, description: "The base's name, as recorded in its archive." },
  disk_bytes: { type: 'number', computed: true, description: 'Size of the base disk image in bytes.' },
  memory_bytes: { type: 'number', computed: true, description: 'Size of the memory snapshot in bytes.' },
  memory_mib: { type: 'number', computed: true, description: 'Guest memory of the snapshot, in MiB (instances of this base have the same).' },
  vcpus: { type: 'number', computed: true, description: 'Virtual CPUs of the snapshot (instances of this base have the same).' },
  cpu_model: { type: 'string', computed: true, description: 'The guest CPU model the snapshot was taken with; pinned so snapshots restore on any cloudlet.' },
} as const;

const schema = {
  description: 'A base VM imported into the cloudlet from a base archive (a tar written by `cloudlet base export`). Overlays and instances build on it.',
  attributes: {
    id: { type: 'string', computed: true, description: 'The base id: SHA-256 content address of its disk and memory snapshot.' },
    source: {
      type: 'string',
      required: true,
      description:
        "Path or http(s)/file URL of the base archive. A path is read by the engine on its host (relative paths are resolved from Terraform's working directory). Changing it replaces the base unless `sha256` pins the same base.",
      validate: validSource,
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
    ...baseAttributes,
    cloudlet: cloudletAttr,
  },
  blocks: { timeouts: timeoutsBlock(['create', 'delete'], { create: '30m', delete: '5m' }) },
} satisfies BlockSchema;

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

  modifyPlan(p) {
    if (!p.prior) return;
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
    const source = engineSource(planned.source);
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
    return { ...baseState(b, ctx.provider.id), source: b.source, sha256: b.id, keep_on_destroy: false };
  },
});
