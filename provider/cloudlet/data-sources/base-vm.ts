// data "cloudlet_base_vm": a base VM the cloudlet already has, looked up by id (its hash) or by name, for
// configurations that build on a base managed elsewhere.

import { error, fail } from '../../protocol/diagnostics';
import { BlockSchema } from '../../framework/schema';
import { defineDataSource } from '../../framework/server';
import { Cloudlet } from '../connection';
import { baseAttributes, baseState } from '../resources/base-vm';
import { cloudletAttr, validHex64, without } from '../common';

const schema = {
  description: 'A base VM already on the cloudlet, found by `id` (its content hash) or by `name`.',
  attributes: {
    id: { type: 'string', optional: true, computed: true, description: 'The base id (SHA-256 content address) to look up.', validate: validHex64('id') },
    name: { type: 'string', optional: true, computed: true, description: 'The base name to look up; it must match exactly one base.' },
    ...without(baseAttributes, 'name'),
    source: { type: 'string', computed: true, description: 'Where the base came from.' },
    cloudlet: cloudletAttr,
  },
} satisfies BlockSchema;

export const baseVmDataSource = defineDataSource<Cloudlet, typeof schema>({
  typeName: 'cloudlet_base_vm',
  schema: { version: 0, block: schema },
  validate(config) {
    if (config.id === null && config.name === null) return [error('Missing lookup key', 'Set `id` or `name` to say which base VM to look up.', ['id'])];
    return [];
  },
  async read(ctx, config) {
    const c = ctx.provider;
    const { bases } = await c.call('list base VMs', (api) => api.bases.list({ signal: ctx.signal }), { signal: ctx.signal });
    const found = bases.filter((b) => (config.id === null || b.id === config.id) && (config.name === null || b.name === config.name));
    const key = config.id !== null ? `id ${String(config.id)}` : `name ${JSON.stringify(config.name)}`;
    if (found.length === 0)
      fail('Base VM not found', `The cloudlet ${c.id} has no base VM with ${key}${bases.length ? `; it has: ${bases.map((b) => `${b.name} (${b.id.slice(0, 12)})`).join(', ')}` : ''}.`, [
        config.id !== null ? 'id' : 'name',
      ]);
    if (found.length > 1) fail('Ambiguous base VM name', `${found.length} bases are named ${JSON.stringify(config.name)}: ${found.map((b) => b.id).join(', ')}. Look it up by id.`, ['name']);
    return { ...baseState(found[0], c.id), source: found[0].source };
  },
});
