// cloudlet_overlay: a VM overlay stored on the cloudlet, either brought in from a file or URL, or captured
// from a running customization VM (the VM keeps running). Its id is the SHA-256 of the overlay file.

import * as fs from 'node:fs';
import { Diagnostic, error, fail } from '../../protocol/diagnostics';
import { BlockSchema } from '../../framework/schema';
import { defineResource } from '../../framework/server';
import type { OverlayRecord } from '../../../engine/contract/schemas';
import { Cloudlet, engineDiagnostic } from '../connection';
import { cloudletAttr, engineSource, isUrl, ms, timeoutsBlock, validHex64, validRange, validSource } from '../common';

const schema = {
  description: 'A VM overlay on the cloudlet: the compressed difference between a customized VM and its base. Give either `source` or `customization_id`.',
  attributes: {
    id: { type: 'string', computed: true, description: 'SHA-256 of the overlay file (its content address).' },
    source: {
      type: 'string',
      optional: true,
      requiresReplace: true,
      description: "Where the overlay file is: an http(s) or file URL the engine fetches, or a local path the provider uploads (relative to Terraform's working directory).",
      validate: validSource,
    },
    sha256: { type: 'string', optional: true, requiresReplace: true, description: 'Expected SHA-256 of the overlay file; a different file is refused.', validate: validHex64('sha256') },
    customization_id: {
      type: 'string',
      optional: true,
      requiresReplace: true,
      description: 'Id of a running VM on this cloudlet (a `cloudlet_customization`) to capture the overlay from. The VM is paused for the capture and keeps running afterwards.',
    },
    compression_level: {
      type: 'number',
      optional: true,
      requiresReplace: true,
      description: 'zstd level for an overlay captured from `customization_id`, 1 to 19. Default 9.',
      validate: validRange('compressionLevel'),
    },
    keep_on_destroy: { type: 'bool', optional: true, computed: true, default: false, description: 'Leave the overlay on the cloudlet when this resource is destroyed. Default false.' },
    base_id: {
      type: 'string',
      optional: true,
      computed: true,
      requiresReplace: true,
      description:
        'Id of the base VM the overlay applies to. Set it (`cloudlet_base_vm.x.id`) to have the overlay checked against that base, and to order it after the base; otherwise it is read from the overlay.',
      validate: validHex64('base_id'),
    },
    size_bytes: { type: 'number', computed: true, description: 'Size of the overlay file in bytes.' },
    download_url: {
      type: 'string',
      computed: true,
      sensitive: true,
      description:
        'A signed URL other cloudlets can fetch the overlay from without a token (null when the engine is reached over a unix socket). Sensitive: anyone holding it can download the overlay.',
    },
    cloudlet: cloudletAttr,
  },
  blocks: { timeouts: timeoutsBlock(['create', 'delete'], { create: '30m', delete: '5m' }) },
} satisfies BlockSchema;

/** An overlay as state; an operation's result has no download URL (the engine's view of the overlay does). */
function overlayState(o: OverlayRecord & { downloadUrl?: string }, cloudletId: string) {
  return { id: o.id, base_id: o.baseId, size_bytes: o.bytes, download_url: o.downloadUrl ?? null, cloudlet: cloudletId };
}

export const overlayResource = defineResource<Cloudlet, typeof schema>({
  typeName: 'cloudlet_overlay',
  schema: { version: 0, block: schema },
  timeouts: { create: ms('30m'), delete: ms('5m') },

  validate(config) {
    const out: Diagnostic[] = [];
    const hasSource = config.source !== null;
    const hasCustom = config.customization_id !== null;
    if (!hasSource && !hasCustom) out.push(error('Missing overlay origin', 'Set `source` (a file or URL) or `customization_id` (a running VM to capture).', ['source']));
    if (hasSource && hasCustom) out.push(error('Conflicting overlay origins', '`source` and `customization_id` are alternatives; set one.', ['customization_id']));
    if (config.compression_level !== null && !hasCustom)
      out.push(error('compression_level without customization_id', '`compression_level` applies only to an overlay captured from `customization_id`.', ['compression_level']));
    if (config.sha256 !== null && hasCustom && !hasSource)
      out.push(error('sha256 with customization_id', "A captured overlay's hash is known only after the capture; `sha256` checks a `source`.", ['sha256']));
    return out;
  },

  modifyPlan(p) {
    // An imported overlay has no record of its origin: adopting the configured one is a state-only change.
    if (p.prior && p.prior.source === null && p.prior.customization_id === null) {
      const origin = ['source', 'customization_id', 'compression_level', 'sha256'];
      p.requiresReplace = p.requiresReplace.filter(([first]) => !(typeof first === 'string' && origin.includes(first)));
    }
  },

  async create(ctx, planned) {
    const c = ctx.provider;
    const source = planned.source;
    const sha256 = planned.sha256 ?? undefined;
    let o: OverlayRecord & { downloadUrl?: string };
    if (source === null) {
      const inst = planned.customization_id!; // validate() requires source or customization_id
      const level = planned.compression_level ?? undefined;
      const op = await c.operation(`capture overlay from ${inst}`, (api) => api.overlays.import({ instanceId: inst, level }), ctx.signal);
      o = op.result.overlay;
    } else if (isUrl(source)) {
      const op = await c.operation(`import overlay from ${source.replace(/\?.*$/, '')}`, (api) => api.overlays.import({ url: source, sha256 }), ctx.signal);
      o = op.result.overlay;
    } else {
      const file = engineSource(source);
      if (!fs.existsSync(file)) fail('Overlay file not found', `${file} does not exist.`, ['source']);
      try {
        o = await c.client.uploadOverlay(file, { sha256 }, { signal: ctx.signal });
      } catch (e) {
        throw engineDiagnostic(e, c.endpoint, ['source']);
      }
    }
    const wantBase = planned.base_id;
    if (typeof wantBase === 'string' && o.baseId !== wantBase) {
      // Not deleted: the cloudlet may have had it before, for someone else. Say how to remove it.
      fail(
        'Overlay for another base',
        `The overlay ${o.id} was made against base ${o.baseId}, not ${wantBase}. An overlay applies only to the base it was made from. It stays stored on the cloudlet; \`cloudlet overlay delete ${o.id}\` removes it if nothing else needs it.`,
        ['base_id'],
      );
    }
    // The engine's own view carries the download URL (the upload answer does too; an operation result does not).
    const id = o.id;
    const view = (await c.find('read overlay', (api) => api.overlays.get(id, { signal: ctx.signal }), { signal: ctx.signal })) ?? o;
    return overlayState(view, c.id);
  },

  async read(ctx, state) {
    const id = state.id!;
    const o = await ctx.provider.find('read overlay', (api) => api.overlays.get(id, { signal: ctx.signal }), { signal: ctx.signal });
    return o ? overlayState(o, ctx.provider.id) : null;
  },

  async delete(ctx, state) {
    if (state.keep_on_destroy === true) return;
    const id = state.id!;
    await ctx.provider.find('delete overlay', (api) => api.overlays.delete(id, { signal: ctx.signal }), { signal: ctx.signal, changes: true });
  },

  async importState(ctx, id) {
    const o = await ctx.provider.find('read overlay', (api) => api.overlays.get(id, { signal: ctx.signal }), { signal: ctx.signal });
    if (!o) fail('Cannot import cloudlet_overlay', `The cloudlet ${ctx.provider.id} has no overlay ${id}. \`cloudlet overlay list\` shows the ids it has.`);
    // Where it came from is not configuration the engine keeps; the next plan adopts the configured origin.
    return { ...overlayState(o, ctx.provider.id), source: null, sha256: null, customization_id: null, compression_level: null, keep_on_destroy: false };
  },
});
