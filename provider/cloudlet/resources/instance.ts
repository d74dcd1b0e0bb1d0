// cloudlet_instance: a VM synthesized on the cloudlet from a base VM and an overlay (or the base alone).
// Its placement (the cloudlet it runs on, and that cloudlet's endpoint) lives in computed attributes so that
// a later provider configuration can find it where the state says it is (see DESIGN.md, handoff): when the
// resource's provider configuration changes, the new one reads the instance at its peer, plans an in-place
// update of the placement, and on apply has its own engine pull the running VM from the peer.
// Power state is declarative: `power_state` is what the configuration wants; a VM stopped or paused out of
// band reads back as such, shows as a change in the next plan, and is put back on apply.

import { Diagnostic, DiagnosticError, error, fail } from '../../protocol/diagnostics';
import { log } from '../../protocol/log';
import { BlockSchema, ConfigOf, ModelOf } from '../../framework/schema';
import { CallContext, defineResource } from '../../framework/server';
import { UNKNOWN, isUnknown } from '../../protocol/cty';
import { PortRequestSpec, PowerRequest } from '../../../engine/contract/schemas';
import { PortSpec, RANGES, portsProblem } from '../../../engine/contract/rules';
import { Cloudlet, EngineBase, EngineInstance, EngineInstanceDetail } from '../connection';
import { cloudletAttr, engineSource, ms, timeoutsBlock, validHex64, validName, validPattern, validRange, validSource } from '../common';

const POWER_STATES = ['running', 'paused', 'stopped'];

const schema = {
  description: 'A VM instance synthesized from a base VM and a VM overlay: the overlay is applied to the base (while it downloads, for a URL) and the VM resumes from its memory snapshot.',
  attributes: {
    id: { type: 'string', computed: true, description: 'The instance id on the cloudlet.' },
    name: { type: 'string', required: true, requiresReplace: true, description: 'Instance name, unique on the cloudlet.', validate: validName },
    base_id: { type: 'string', required: true, requiresReplace: true, description: 'Id of the base VM (`cloudlet_base_vm.x.id`).' },
    overlay_id: {
      type: 'string',
      optional: true,
      computed: true,
      requiresReplace: true,
      description: 'Id of an overlay stored on this cloudlet (`cloudlet_overlay.x.id`). With `overlay_url` instead, this is the id the fetched overlay got. Neither: the base VM resumes as it is.',
      validate: validHex64('overlay_id'),
    },
    overlay_url: {
      type: 'string',
      optional: true,
      requiresReplace: true,
      description:
        "URL (or path on the engine host; relative paths are resolved from Terraform's working directory) of an overlay to fetch (checked whole against the base as it downloads, then applied), such as another cloudlet's `download_url`. An overlay fetched this way is kept while instances use it and removed with the last of them.",
      validate: validSource,
    },
    overlay_sha256: {
      type: 'string',
      optional: true,
      requiresReplace: true,
      description: 'Expected SHA-256 of the overlay at `overlay_url`; skips the download when the cloudlet already has it.',
      validate: validHex64('overlay_sha256'),
    },
    vcpus: {
      type: 'number',
      optional: true,
      computed: true,
      requiresReplace: true,
      description: "Virtual CPUs. An instance resumes from its base's memory snapshot, so this must equal the base's; it defaults to it.",
    },
    memory_mib: {
      type: 'number',
      optional: true,
      computed: true,
      requiresReplace: true,
      description: "Guest memory in MiB; must equal the base's (a memory snapshot cannot be resized) and defaults to it.",
    },
    power_state: {
      type: 'string',
      optional: true,
      computed: true,
      default: 'running',
      description:
        'Wanted power state: `running` (default), `paused` or `stopped`. After a refresh it holds the actual state, so a VM stopped out of band plans a change back. Starting a stopped VM boots it from its disk (its memory state went with the power-off).',
      validate: (v) => (typeof v === 'string' && POWER_STATES.includes(v) ? undefined : `expected one of ${POWER_STATES.join(', ')}, got ${JSON.stringify(v)}`),
    },
    state: { type: 'string', computed: true, changesOnUpdate: true, description: 'State as the cloudlet reports it: running, paused or stopped.' },
    networks: {
      type: { list: 'string' },
      optional: true,
      requiresReplace: true,
      description:
        "Networks the instance joins, by name or id (`cloudlet_network.x.name`). Unset: the cloudlet's `default` network. `[]`: none (the guest reaches nothing). On a handoff the instance joins the destination's networks of these names.",
      validate: (v) => (Array.isArray(v) && v.length > 8 ? `at most 8 networks, got ${v.length}` : undefined),
    },
    ip_address: { type: 'string', computed: true, description: "The instance's address on its first network (null without one)." },
    ip_addresses: { type: { list: 'string' }, computed: true, description: "The instance's addresses, one per network in `networks` order." },
    mac_address: { type: 'string', computed: true, description: 'The MAC address the instance shows on its first network.' },
    endpoints: {
      type: { list: 'string' },
      computed: true,
      description: "Each `port` as a URL on the cloudlet host's address, in order: `http://HOST:PORT` for guest ports 80, 8000, 8008 and 8080, `https://` for 443 and 8443, else `tcp://` or `udp://`.",
    },
    published_ports: {
      type: { list: { object: { guest: 'number', host: 'number', protocol: 'string' } } },
      computed: true,
      description: 'The published ports as the cloudlet made them, with the host ports it assigned.',
    },
    address: {
      type: 'string',
      computed: true,
      description: 'How the cloudlet host reaches the guest without a network: its QEMU guest agent channel (`unix:PATH`), which `cloudlet instance exec` uses.',
    },
    cloudlet: cloudletAttr,
    cloudlet_endpoint: { type: 'string', computed: true, description: 'Endpoint of the engine the instance runs on, as this provider reached it (placement, used by handoff).' },
    created: { type: 'string', computed: true, description: 'When the instance was synthesized (RFC 3339).' },
    timings: { type: { map: 'number' }, computed: true, description: 'Seconds spent in each phase of synthesis: `fetch` and `apply` (or `prepare` for the base alone), `restore`, and `total`.' },
  },
  blocks: {
    port: {
      nesting: 'list',
      requiresReplace: true,
      maxItems: RANGES.publishedPorts.maximum,
      block: {
        description: "A guest port published on the cloudlet host's address (the floating-IP equivalent); it needs a network.",
        attributes: {
          guest: { type: 'number', required: true, description: 'The port inside the guest.', validate: validRange('port') },
          host: {
            type: 'number',
            optional: true,
            description: "The port on the cloudlet host's address. Default: a free one the cloudlet assigns (see `published_ports`).",
            validate: validRange('port'),
          },
          protocol: { type: 'string', optional: true, description: '`tcp` (default) or `udp`.', validate: validPattern('protocol') },
        },
      },
    },
    timeouts: timeoutsBlock(['create', 'update', 'delete'], { create: '30m', update: '10m', delete: '5m' }),
  },
} satisfies BlockSchema;

type Model = ModelOf<typeof schema>;
type Config = ConfigOf<typeof schema>;

function instanceState(i: EngineInstance & { agentSocket?: string; endpoints?: string[] }, c: Cloudlet, base: { vcpus: number; memoryMiB: number } | null) {
  const attachments = i.network?.attachments ?? [];
  return {
    ip_address: attachments[0]?.address ?? null,
    ip_addresses: attachments.map((a) => a.address),
    mac_address: attachments[0]?.mac ?? null,
    endpoints: i.endpoints ?? [],
    published_ports: (i.network?.ports ?? []).map((p) => ({ guest: p.guest, host: p.host, protocol: p.protocol })),
    id: i.id,
    name: i.name,
    base_id: i.baseId,
    overlay_id: i.overlayId ?? null,
    vcpus: base?.vcpus ?? null,
    memory_mib: base?.memoryMiB ?? null,
    power_state: i.state,
    state: i.state,
    address: i.agentSocket ? `unix:${i.agentSocket}` : null,
    cloudlet: c.id,
    cloudlet_endpoint: c.endpoint,
    created: i.created,
    timings: i.timings ?? {},
  };
}

function sizesOf(base: EngineBase): [attr: 'vcpus' | 'memory_mib', have: number, unit: string][] {
  return [
    ['vcpus', base.vcpus, 'vCPUs'],
    ['memory_mib', base.memoryMiB, 'MiB'],
  ];
}

/** Configured sizes that differ from the base's snapshot (which an instance resumes from, so cannot change). */
function sizeMismatches(base: EngineBase, values: Pick<Config, 'vcpus' | 'memory_mib'>): Diagnostic[] {
  return sizesOf(base)
    .filter(([attr, have]) => typeof values[attr] === 'number' && values[attr] !== have)
    .map(([attr, have, unit]) =>
      error(
        `Invalid value for ${attr}`,
        `The base VM ${base.name} (${base.id.slice(0, 12)}) was snapshotted with ${have} ${unit}; an instance resumes from that snapshot, so ${attr} must be ${have} (or left unset).`,
        [attr],
      ),
    );
}

type PowerState = PowerRequest['state'];

/** `networks` as an imported instance's configuration most likely says it: unset for the default network alone. */
function importedNetworks(i: EngineInstance): string[] | null {
  if (!i.network) return null; // a base without a network card: nothing to configure
  const names = i.network.attachments.map((a) => a.network);
  return names.length === 1 && names[0] === 'default' ? null : names;
}

/** The instance's networks and ports as the engine API takes them (for a synthesis, and for a handoff's destination). */
function placementOf(m: Pick<Model, 'networks' | 'port'>): { networks?: string[]; ports?: PortRequestSpec[] } {
  const ports = (m.port ?? []).map((b) => ({ guest: b.guest, ...(b.host !== null ? { host: b.host } : {}), ...(b.protocol !== null ? { protocol: b.protocol as 'tcp' | 'udp' } : {}) }));
  return { ...(m.networks !== null ? { networks: m.networks } : {}), ...(ports.length ? { ports } : {}) };
}

/** The configured power state (the attribute's validator admits only the three the engine knows). */
const wantedPower = (configured: string | null): PowerState => (configured ?? 'running') as PowerState;

async function setPower(ctx: CallContext<Cloudlet>, id: string, want: PowerState, c: Cloudlet = ctx.provider): Promise<EngineInstance> {
  return c.call(`set power state ${want}`, (api) => api.instances.power(id, { state: want }, { signal: ctx.signal }), { signal: ctx.signal, changes: true });
}

async function fullView(ctx: CallContext<Cloudlet>, id: string): Promise<EngineInstanceDetail> {
  return ctx.provider.call('read instance', (api) => api.instances.get(id, { signal: ctx.signal }), { signal: ctx.signal });
}

/** Whether the state places the instance on another cloudlet than this configuration's. */
function elsewhere(state: Model | null, c: Cloudlet): state is Model & { cloudlet: string } {
  return state !== null && typeof state.cloudlet === 'string' && state.cloudlet !== c.id;
}

/** The cloudlet the state says the instance is on: this one, or the configured peer that is it. */
async function placement(ctx: CallContext<Cloudlet>, state: Model): Promise<Cloudlet> {
  const c = ctx.provider;
  return elsewhere(state, c) ? c.peer(state.cloudlet, state.cloudlet_endpoint ?? 'endpoint unknown', ctx.signal) : c;
}

/**
 * Moves the instance from the peer it runs on to this cloudlet: the peer issues a handoff token for it
 * (with the peer credentials this configuration holds), and this cloudlet's engine pulls the running VM
 * with that token. Only the short-lived token reaches this engine; none of it reaches the state.
 */
async function handoffHere(ctx: CallContext<Cloudlet>, prior: Model & { cloudlet: string }): Promise<EngineInstance> {
  const c = ctx.provider;
  const from = await placement(ctx, prior);
  const id = prior.id!;
  const grant = await from.call('issue a handoff token', (api) => api.instances.handoffToken(id, { ttlSeconds: 3600 }, { signal: ctx.signal }), { signal: ctx.signal });
  const op = await c.operation(
    `handoff of ${prior.name} from cloudlet ${from.id}`,
    (api) => api.handoffs.create({ source: { endpoint: from.spec!.endpoint!, token: grant.token, ca: from.spec!.ca }, instanceId: id, ...placementOf(prior) }),
    ctx.signal,
  );
  const r = op.result;
  log('info', `handoff of ${prior.name} done`, { from: from.id, to: c.id, bytes: r.bytesReceived, downtime_ms: r.downtimeMs });
  return r.instance;
}

export const instanceResource = defineResource<Cloudlet, typeof schema>({
  typeName: 'cloudlet_instance',
  schema: { version: 0, block: schema },
  timeouts: { create: ms('30m'), update: ms('10m'), delete: ms('5m') },

  validate(config) {
    const out: Diagnostic[] = [];
    if (config.overlay_id !== null && config.overlay_url !== null)
      out.push(error('Conflicting overlays', 'Set `overlay_id` (an overlay on this cloudlet) or `overlay_url` (one to fetch), not both.', ['overlay_url']));
    // Values still unknown at plan time (from other resources) are checked by the engine at apply.
    const blocks = config.port === null || isUnknown(config.port) ? [] : config.port;
    const ports = blocks.map((b) => ({ guest: b.guest, host: b.host ?? undefined, protocol: b.protocol ?? undefined }));
    if (ports.every((x) => typeof x.guest === 'number' && (x.host === undefined || typeof x.host === 'number') && (x.protocol === undefined || typeof x.protocol === 'string'))) {
      const problem = portsProblem(ports as PortSpec[]);
      if (problem) out.push(error('Invalid port', problem, ['port']));
    }
    if (Array.isArray(config.networks) && config.networks.length === 0 && ports.length > 0)
      out.push(error('A published port needs a network', '`networks = []` puts the instance on no network, so no `port` can reach it; name a network or leave `networks` unset.', ['networks']));
    if (config.overlay_sha256 !== null && config.overlay_url === null)
      out.push(error('overlay_sha256 without overlay_url', '`overlay_sha256` checks the file fetched from `overlay_url`.', ['overlay_sha256']));
    return out;
  },

  async modifyPlan(p, c) {
    // A move: the state places the instance on another cloudlet. The plan is an in-place update of the
    // placement (never a replacement: the VM moves with its memory and disk); what depends on the host
    // where it runs is known after the move.
    if (elsewhere(p.prior, c) && p.requiresReplace.length === 0) {
      p.planned.cloudlet = c.id;
      p.planned.cloudlet_endpoint = c.endpoint;
      for (const n of ['state', 'address', 'timings', 'ip_address', 'ip_addresses', 'mac_address', 'endpoints', 'published_ports'] as const) p.planned[n] = UNKNOWN;
    }
    // A host port another instance of this cloudlet publishes is refused now (the engine also checks, at apply,
    // that nothing else on the host listens on it).
    if (p.prior === null && Array.isArray(p.config.port)) {
      const wanted = p.config.port.filter((b) => typeof b.host === 'number').map((b) => ({ host: b.host as number, protocol: typeof b.protocol === 'string' ? b.protocol : 'tcp' }));
      if (wanted.length) {
        const { instances } = await c.call('list instances', (api) => api.instances.list());
        for (const w of wanted) {
          const holder = instances.find((i) => i.network?.ports.some((x) => x.host === w.host && x.protocol === w.protocol));
          if (holder) p.diagnostics.push(error('Host port in use', `Host port ${w.protocol}/${w.host} is published by instance ${holder.name} (${holder.id}) on cloudlet ${c.id}.`, ['port']));
        }
      }
    }
    // Sizes come from the base's memory snapshot: check them against it now rather than fail at apply.
    const baseId = p.config.base_id;
    if (typeof baseId !== 'string') return;
    const base = await c.base(baseId);
    if (!base) {
      if (p.prior === null) p.diagnostics.push(error('Base VM not found', `The cloudlet ${c.id} (${c.endpoint}) has no base VM ${baseId}.`, ['base_id']));
      // A move needs the base at the destination; it may still come in this apply (a cloudlet_base_vm here).
      return;
    }
    p.diagnostics.push(...sizeMismatches(base, p.config));
    for (const [attr, have] of sizesOf(base)) if (p.config[attr] === null) p.planned[attr] = have;
  },

  async create(ctx, planned) {
    const c = ctx.provider;
    const name = planned.name;
    const baseId = planned.base_id;
    // The plan could not check sizes when the base was made in the same apply: check them now, before any work.
    const base = await c.base(baseId, ctx.signal);
    const wrong = base ? sizeMismatches(base, { vcpus: planned.vcpus, memory_mib: planned.memory_mib }) : [];
    if (wrong.length > 0) throw new DiagnosticError(wrong);
    const overlayId = typeof planned.overlay_id === 'string' ? planned.overlay_id : null;
    const url = planned.overlay_url === null ? null : engineSource(planned.overlay_url);
    const overlay = url ? { url, sha256: planned.overlay_sha256 ?? undefined } : overlayId ? { id: overlayId } : undefined;
    const op = await c.operation(`synthesize ${name}`, (api) => api.instances.create({ name, baseId, overlay, ...placementOf(planned) }), ctx.signal);
    let inst: EngineInstance = op.result.instance;
    const want = wantedPower(planned.power_state);
    if (want !== 'running') inst = await setPower(ctx, inst.id, want);
    const view = await fullView(ctx, inst.id);
    return instanceState(view, c, await c.base(view.baseId, ctx.signal));
  },

  async read(ctx, state) {
    // Read where the state says it is: a VM running on a peer is never reported as gone (Terraform would
    // forget it and plan a second one); with no way to reach that cloudlet, placement() fails instead.
    let c = await placement(ctx, state);
    const id = state.id!;
    let i = await c.instance(id, ctx.signal);
    if (!i && c !== ctx.provider) {
      // A handoff that completed while its apply failed afterwards leaves the VM here with the state placing it
      // at the peer: find it here rather than plan a second one.
      i = await ctx.provider.instance(id, ctx.signal);
      if (i) c = ctx.provider;
    }
    if (!i) return null;
    // The listing has neither the agent socket nor the endpoints (the host address is the engine's to say).
    const detail = i.network?.ports.length ? await c.find('read instance', (api) => api.instances.get(id, { signal: ctx.signal }), { signal: ctx.signal }) : null;
    const s = instanceState(detail ?? i, c, await c.base(i.baseId, ctx.signal));
    return { ...s, address: s.address ?? state.address, networks: state.networks, port: state.port };
  },

  async update(ctx, prior, planned) {
    const want = wantedPower(planned.power_state);
    const id = prior.id!;
    if (elsewhere(prior, ctx.provider)) {
      // A handoff moves a running VM; one that is paused or stopped at the source is started there first.
      if (prior.state !== 'running') await setPower(ctx, id, 'running', await placement(ctx, prior));
      await handoffHere(ctx, prior);
      if (want !== 'running') {
        // The VM has moved: a power change that fails now must not fail the apply (the state would place the
        // VM at the source). Its actual state shows in the next plan, which puts it right.
        await setPower(ctx, id, want).catch((e: unknown) => log('warn', `${prior.name} moved but could not be set ${want}`, { error: String((e as Error)?.message ?? e) }));
      }
      const moved = await fullView(ctx, id);
      return instanceState(moved, ctx.provider, await ctx.provider.base(moved.baseId, ctx.signal));
    }
    if (want !== prior.power_state || want !== prior.state) await setPower(ctx, id, want);
    const view = await fullView(ctx, id);
    if (view.state !== want) {
      fail('Power state not reached', `Instance ${view.name} is ${view.state} after asking for ${want}; its console log on the cloudlet host may say why.`, ['power_state']);
    }
    return instanceState(view, ctx.provider, await ctx.provider.base(view.baseId, ctx.signal));
  },

  async delete(ctx, state) {
    const id = state.id!;
    await (await placement(ctx, state)).find('delete instance', (api) => api.instances.delete(id, { signal: ctx.signal }), { signal: ctx.signal, changes: true });
  },

  async importState(ctx, id) {
    const i = await ctx.provider.find('read instance', (api) => api.instances.get(id, { signal: ctx.signal }), { signal: ctx.signal });
    if (!i) fail('Cannot import cloudlet_instance', `The cloudlet ${ctx.provider.id} has no instance with id or name ${JSON.stringify(id)}. \`cloudlet instance list\` shows them.`);
    const ports = (i.network?.ports ?? []).map((p) => ({ guest: p.guest, host: p.host, protocol: p.protocol }));
    return {
      ...instanceState(i, ctx.provider, await ctx.provider.base(i.baseId, ctx.signal)),
      overlay_url: null,
      overlay_sha256: null,
      // On the default network alone is what a configuration without `networks` says (the usual case).
      networks: importedNetworks(i),
      port: ports,
    };
  },
});
