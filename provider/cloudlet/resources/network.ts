// cloudlet_network: a private network on one cloudlet. Instances on it reach each other by their addresses;
// guests reach nothing on the cloudlet host but what is published to them. The engine makes the host's
// bridge while an instance is on the network, and refuses a range that overlaps another network or a route
// of the host.

import { error, fail } from '../../protocol/diagnostics';
import { BlockSchema, ModelOf } from '../../framework/schema';
import { defineResource } from '../../framework/server';
import type { NetworkRecord } from '../../../engine/contract/schemas';
import { cidrProblem, cidrsOverlap, parseCidr } from '../../../engine/contract/rules';
import { Cloudlet } from '../connection';
import { cloudletAttr, ms, timeoutsBlock, validName } from '../common';

const schema = {
  description: 'A private network on the cloudlet (an IPv4 range; the cloudlet host is its gateway, at the first address). Every cloudlet also has a network named `default`, made on first use.',
  attributes: {
    id: { type: 'string', computed: true, description: 'The network id on the cloudlet.' },
    name: { type: 'string', required: true, requiresReplace: true, description: 'Network name, unique on the cloudlet; instances name it in `networks`.', validate: validName },
    cidr: {
      type: 'string',
      optional: true,
      computed: true,
      requiresReplace: true,
      description:
        'The range in CIDR notation: private (10/8, 172.16/12, 192.168/16 or 100.64/10), /16 to /29, host bits zero, not overlapping another network of the cloudlet or a route of its host. Default: a free /24 in 10.213.0.0/16.',
      validate: (v) => cidrProblem(v),
    },
    gateway: { type: 'string', computed: true, description: "The cloudlet host's address on the network." },
    bridge: { type: 'string', computed: true, description: 'The Linux bridge on the cloudlet host (present while an instance is on the network).' },
    cloudlet: cloudletAttr,
  },
  blocks: { timeouts: timeoutsBlock(['create', 'delete'], { create: '2m', delete: '2m' }) },
} satisfies BlockSchema;

type Model = ModelOf<typeof schema>;

function networkState(n: NetworkRecord, c: Cloudlet): Omit<Model, 'timeouts'> {
  return { id: n.id, name: n.name, cidr: n.cidr, gateway: n.gateway, bridge: n.bridge, cloudlet: c.id };
}

export const networkResource = defineResource<Cloudlet, typeof schema>({
  typeName: 'cloudlet_network',
  schema: { version: 0, block: schema },
  timeouts: { create: ms('2m'), delete: ms('2m') },

  async modifyPlan(p, c) {
    // A range overlapping a network the cloudlet has is refused at plan time (the engine also checks the host's
    // routes and other engines' networks when it creates it).
    if (p.prior !== null || typeof p.config.cidr !== 'string' || cidrProblem(p.config.cidr)) return;
    const mine = parseCidr(p.config.cidr);
    const { networks } = await c.call('list networks', (api) => api.networks.list());
    const clash = networks.find((n) => cidrsOverlap(mine, parseCidr(n.cidr)));
    if (clash) p.diagnostics.push(error('Overlapping network range', `cidr ${p.config.cidr} overlaps ${clash.cidr}, the range of network ${clash.name} on cloudlet ${c.id}.`, ['cidr']));
  },

  async create(ctx, planned) {
    const c = ctx.provider;
    const n = await c.call(
      `create network ${planned.name}`,
      (api) => api.networks.create({ name: planned.name, ...(typeof planned.cidr === 'string' ? { cidr: planned.cidr } : {}) }, { signal: ctx.signal }),
      {
        signal: ctx.signal,
        changes: true,
      },
    );
    return networkState(n, c);
  },

  async read(ctx, state) {
    const c = ctx.provider;
    const n = await c.find('read network', (api) => api.networks.get(state.id!, { signal: ctx.signal }), { signal: ctx.signal });
    return n ? networkState(n, c) : null;
  },

  async delete(ctx, state) {
    await ctx.provider.find('delete network', (api) => api.networks.delete(state.id!, { signal: ctx.signal }), { signal: ctx.signal, changes: true });
  },

  async importState(ctx, id) {
    const n = await ctx.provider.find('read network', (api) => api.networks.get(id, { signal: ctx.signal }), { signal: ctx.signal });
    if (!n) fail('Cannot import cloudlet_network', `The cloudlet ${ctx.provider.id} has no network with id or name ${JSON.stringify(id)}. \`cloudlet network list\` shows them.`);
    return networkState(n, ctx.provider);
  },
});
