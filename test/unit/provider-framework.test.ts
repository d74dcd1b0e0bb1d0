// ProviderServer's generic rules, driven through its tfplugin6 handlers with a fake resource type backed by an
// in-memory map (the engine is the boundary faked here): planning (defaults, unknown computed values,
// replacement, changesOnUpdate), apply results and failures, refresh, private state, state upgrades,
// provider configuration, and malformed input. Requests and responses go through the real protobuf codec,
// as they would on the wire.

import { cloudletProvider } from '../../provider/cloudlet/provider';
import { Obj, ProviderDefinition, ProviderServer, ResourceType, conform } from '../../provider/framework/server';
import { BlockSchema, blockType, checkSchema } from '../../provider/framework/schema';
import { CtyType, CtyValue, UNKNOWN, containsUnknown, decodeMsgpack, encodeMsgpack, isUnknown } from '../../provider/protocol/cty';
import { compileDescriptor } from '../../provider/protocol/descriptor';
import { ProviderHandlers } from '../../provider/protocol/plugin-server';
import { Descriptor, ProtoCodec } from '../../provider/protocol/protobuf';

type Msg = Record<string, unknown>;

// ------------------------------------------------------------------------------------------- the fake

/** The "engine": objects by name, and a record of what the resource code was asked to do. */
interface FakeApi {
  objects: Map<string, Obj>;
  calls: string[];
  timeouts: Record<string, number>;
  failUpdate: boolean;
  seq: number;
}

const thingSchema: BlockSchema = {
  description: 'A thing.',
  attributes: {
    name: { type: 'string', required: true, requiresReplace: true, description: 'Name.' },
    size: { type: 'number', optional: true, description: 'Size.', validate: (v) => (typeof v === 'number' && v >= 0 ? undefined : `must not be negative, got ${String(v)}`) },
    mode: { type: 'string', optional: true, computed: true, default: 'on', description: 'Mode.' },
    result: { type: 'string', computed: true, description: 'What creating it produced.' },
    stamp: { type: 'string', computed: true, changesOnUpdate: true, description: 'Changes with every update.' },
  },
  blocks: {
    timeouts: {
      nesting: 'single',
      block: {
        description: 'Time limits.',
        attributes: {
          create: { type: 'string', optional: true, description: 'Create.' },
          update: { type: 'string', optional: true, description: 'Update.' },
        },
      },
    },
  },
};

const T = blockType(thingSchema);

function fakeResource(): ResourceType<FakeApi> & { upgraders: Record<number, jest.Mock> } {
  return {
    typeName: 'fake_thing',
    schema: { version: 1, block: thingSchema },
    timeouts: { create: 60_000, update: 70_000, read: 80_000, delete: 90_000 },
    async create(ctx, planned) {
      const api = ctx.provider;
      api.calls.push(`create ${String(planned.name)}`);
      api.timeouts.create = ctx.timeoutMs;
      const name = String(planned.name);
      const out = { result: `result-of-${name}`, stamp: `stamp-${++api.seq}` };
      api.objects.set(name, { ...planned, ...out });
      return out;
    },
    async read(ctx, state) {
      const api = ctx.provider;
      api.calls.push(`read ${String(state.name)}`);
      api.timeouts.read = ctx.timeoutMs;
      const o = api.objects.get(String(state.name));
      return o ? { size: o.size, mode: o.mode, result: o.result, stamp: o.stamp } : null;
    },
    async update(ctx, prior, planned) {
      const api = ctx.provider;
      api.calls.push(`update ${String(prior.name)}`);
      api.timeouts.update = ctx.timeoutMs;
      if (api.failUpdate) throw new Error('the engine said no');
      const stamp = `stamp-${++api.seq}`;
      api.objects.set(String(planned.name), { ...prior, ...planned, stamp });
      return { stamp };
    },
    async delete(ctx, state) {
      ctx.provider.calls.push(`delete ${String(state.name)}`);
      ctx.provider.objects.delete(String(state.name));
    },
    async importState(ctx, id) {
      ctx.provider.calls.push(`import ${id}`);
      const o = ctx.provider.objects.get(id);
      if (!o) throw new Error(`no thing ${id}`);
      return { name: id, size: o.size, mode: o.mode, result: o.result, stamp: o.stamp };
    },
    upgraders: {
      // Version 0 called the name `label`.
      0: jest.fn((old: Record<string, unknown>) => {
        const { label, ...rest } = old;
        return { ...rest, name: label };
      }),
    },
  };
}

let descriptor: Descriptor;
let codec: ProtoCodec;

beforeAll(() => {
  descriptor = compileDescriptor();
  codec = new ProtoCodec(descriptor);
});

interface Harness {
  api: FakeApi;
  resource: ReturnType<typeof fakeResource>;
  configure: jest.Mock;
  handlers: ProviderHandlers;
  /** Calls a handler with the request and response taken through the protobuf codec, as gRPC would. */
  rpc(name: string, req: Msg): Promise<Msg>;
}

function harness(): Harness {
  const api: FakeApi = { objects: new Map(), calls: [], timeouts: {}, failUpdate: false, seq: 0 };
  const resource = fakeResource();
  const configure = jest.fn(async () => api);
  const def: ProviderDefinition<FakeApi> = {
    schema: {
      version: 0,
      block: { description: 'Fake.', attributes: { endpoint: { type: 'string', optional: true, description: 'Where.', validate: (v) => (String(v).startsWith('http') ? undefined : 'not a URL') } } },
    },
    configure,
    resources: [resource],
    dataSources: [],
  };
  const handlers = new ProviderServer(def).handlers();
  const rpc = async (name: string, req: Msg): Promise<Msg> => {
    const m = descriptor.services['tfplugin6.Provider'][name];
    const decodedReq = codec.decode(m.request, codec.encode(m.request, req));
    // The request went through the codec, so it has the decoded shape the handler's type names.
    const res = await (handlers as unknown as Record<string, (req: Msg) => Promise<Msg>>)[name](decodedReq);
    return codec.decode(m.response, codec.encode(m.response, res));
  };
  return { api, resource, configure, handlers, rpc };
}

const PROVIDER_T: CtyType = { object: { endpoint: 'string' } };

/** A DynamicValue as Terraform sends it: the whole object (unset attributes null), msgpack. */
function dv(v: Record<string, CtyValue> | null, type: CtyType = T): Msg {
  return { msgpack: Buffer.from(encodeMsgpack(v === null ? null : conform(v, type), type)) };
}

function value(d: unknown, type: CtyType = T): Obj | null {
  return decodeMsgpack((d as { msgpack: Buffer }).msgpack, type) as Obj | null;
}

async function configured(): Promise<Harness> {
  const h = harness();
  const res = await h.rpc('ConfigureProvider', { terraform_version: '1.11.0', config: dv({ endpoint: 'http://engine:1' }, PROVIDER_T) });
  expect(res.diagnostics).toEqual([]);
  return h;
}

/** The prior state of an existing thing "a". */
const PRIOR: Record<string, CtyValue> = { name: 'a', size: 1, mode: 'on', result: 'result-of-a', stamp: 'stamp-1', timeouts: null };

/** What Terraform proposes: the configuration, with prior values for computed attributes it leaves unset. */
function proposed(prior: Record<string, CtyValue> | null, config: Record<string, CtyValue>): Record<string, CtyValue> {
  const out = { ...(conform(config, T) as Obj) };
  if (prior) for (const n of ['mode', 'result', 'stamp']) if (out[n] === null) out[n] = prior[n];
  return out;
}

async function plan(h: Harness, prior: Record<string, CtyValue> | null, config: Record<string, CtyValue> | null, priorPrivate?: Buffer): Promise<Msg> {
  return h.rpc('PlanResourceChange', {
    type_name: 'fake_thing',
    prior_state: dv(prior),
    proposed_new_state: dv(config === null ? null : proposed(prior, config)),
    config: dv(config),
    prior_private: priorPrivate,
  });
}

/** Runs `fn` with the provider's log lines (hclog JSON on stderr) captured instead of printed. */
async function captureLog<R>(fn: () => Promise<R>): Promise<{ result: R; lines: Msg[] }> {
  const lines: Msg[] = [];
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Msg);
    return true;
  });
  try {
    return { result: await fn(), lines };
  } finally {
    spy.mockRestore();
  }
}

const replacePaths = (res: Msg): string[][] => (res.requires_replace as Msg[]).map((p) => (p.steps as Msg[]).map((s) => String(s.attribute_name)));

// ------------------------------------------------------------------------------------------- plan

describe('PlanResourceChange', () => {
  test('create: computed attributes unknown, the default applied, configured values kept', async () => {
    const h = await configured();
    const res = await plan(h, null, { name: 'a', size: 1 });
    expect(res.diagnostics).toEqual([]);
    expect(res.requires_replace).toEqual([]);
    const p = value(res.planned_state)!;
    expect(p.name).toBe('a');
    expect(p.size).toBe(1);
    expect(p.mode).toBe('on');
    expect(isUnknown(p.result)).toBe(true);
    expect(isUnknown(p.stamp)).toBe(true);
    expect(p.timeouts).toBeNull();
    // A configured value beats the default.
    expect(value((await plan(h, null, { name: 'a', mode: 'off' })).planned_state)!.mode).toBe('off');
    // Planning does not touch the engine.
    expect(h.api.calls).toEqual([]);
  });

  test('an unchanged configuration plans exactly the prior state', async () => {
    const h = await configured();
    const res = await plan(h, PRIOR, { name: 'a', size: 1 });
    expect(res.requires_replace).toEqual([]);
    const p = value(res.planned_state)!;
    expect(containsUnknown(p)).toBe(false);
    expect(p).toEqual(PRIOR);
  });

  test('update with only size changed: in place, stamp unknown, result kept from prior', async () => {
    const h = await configured();
    const res = await plan(h, PRIOR, { name: 'a', size: 2 });
    expect(res.diagnostics).toEqual([]);
    expect(res.requires_replace).toEqual([]);
    const p = value(res.planned_state)!;
    expect(p.size).toBe(2);
    expect(p.result).toBe('result-of-a');
    expect(p.mode).toBe('on');
    expect(isUnknown(p.stamp)).toBe(true);
  });

  test('name changed: requires_replace [[name]], computed attributes unknown, default still applied', async () => {
    const h = await configured();
    const res = await plan(h, PRIOR, { name: 'b', size: 1 });
    expect(replacePaths(res)).toEqual([['name']]);
    const p = value(res.planned_state)!;
    expect(p.name).toBe('b');
    expect(isUnknown(p.result)).toBe(true);
    expect(isUnknown(p.stamp)).toBe(true);
    expect(p.mode).toBe('on');
    // Size changing along with the name does not add a replacement path: size is updatable.
    expect(replacePaths(await plan(h, PRIOR, { name: 'b', size: 5 }))).toEqual([['name']]);
  });

  test('destroy: a null proposed state plans null', async () => {
    const h = await configured();
    const res = await plan(h, PRIOR, null);
    expect(value(res.planned_state)).toBeNull();
    expect(res.requires_replace).toEqual([]);
    expect(res.diagnostics).toEqual([]);
  });

  test('private bytes are echoed from prior_private to planned_private', async () => {
    const h = await configured();
    const priv = Buffer.from([0, 1, 2, 0xfe, 0xff, ...Buffer.from('{"k":"v"}')]);
    expect((await plan(h, PRIOR, { name: 'a', size: 2 }, priv)).planned_private).toEqual(priv);
    expect((await plan(h, PRIOR, null, priv)).planned_private).toEqual(priv);
    expect((await plan(h, PRIOR, { name: 'a', size: 1 })).planned_private).toEqual(Buffer.alloc(0));
  });

  test('unknown configured values: an unknown name plans a replacement, an unknown size an update', async () => {
    const h = await configured();
    const res = await h.rpc('PlanResourceChange', {
      type_name: 'fake_thing',
      prior_state: dv(PRIOR),
      proposed_new_state: dv({ ...PRIOR, name: UNKNOWN }),
      config: dv({ name: UNKNOWN, size: 1 }),
    });
    expect(replacePaths(res)).toEqual([['name']]);
    const upd = await h.rpc('PlanResourceChange', {
      type_name: 'fake_thing',
      prior_state: dv(PRIOR),
      proposed_new_state: dv({ ...PRIOR, size: UNKNOWN }),
      config: dv({ name: 'a', size: UNKNOWN }),
    });
    expect(upd.requires_replace).toEqual([]);
    expect(isUnknown(value(upd.planned_state)!.stamp)).toBe(true);
    expect(value(upd.planned_state)!.result).toBe('result-of-a');
  });
});

// ------------------------------------------------------------------------------------------- apply

describe('ApplyResourceChange', () => {
  async function apply(h: Harness, prior: Record<string, CtyValue> | null, planned: Obj | null, config: Record<string, CtyValue> | null, priv?: Buffer): Promise<Msg> {
    return h.rpc('ApplyResourceChange', { type_name: 'fake_thing', prior_state: dv(prior), planned_state: dv(planned), config: dv(config), planned_private: priv });
  }

  test("create returns a wholly known state with the resource's computed values", async () => {
    const h = await configured();
    const config = { name: 'a', size: 1, timeouts: { create: '90s', update: null } };
    const planned = value((await plan(h, null, config)).planned_state)!;
    expect(containsUnknown(planned)).toBe(true);
    const res = await apply(h, null, planned, config, Buffer.from('priv'));
    expect(res.diagnostics).toEqual([]);
    const s = value(res.new_state)!;
    expect(containsUnknown(s)).toBe(false);
    expect(s).toEqual({ name: 'a', size: 1, mode: 'on', result: 'result-of-a', stamp: 'stamp-1', timeouts: { create: '90s', update: null } });
    expect(res.private).toEqual(Buffer.from('priv'));
    expect(h.api.calls).toEqual(['create a']);
    // The timeouts block's value wins over the resource's default.
    expect(h.api.timeouts.create).toBe(90_000);
    expect(h.api.objects.get('a')).toMatchObject({ result: 'result-of-a' });
  });

  test("the resource's default timeout applies when the timeouts block leaves it unset", async () => {
    const h = await configured();
    const planned = value((await plan(h, null, { name: 'a' })).planned_state)!;
    await apply(h, null, planned, { name: 'a' });
    expect(h.api.timeouts.create).toBe(60_000);
  });

  test('update: the new stamp comes from the resource, everything else as planned', async () => {
    const h = await configured();
    h.api.objects.set('a', { ...PRIOR });
    h.api.seq = 1;
    const planned = value((await plan(h, PRIOR, { name: 'a', size: 2 })).planned_state)!;
    const res = await apply(h, PRIOR, planned, { name: 'a', size: 2 });
    expect(res.diagnostics).toEqual([]);
    expect(value(res.new_state)).toEqual({ ...PRIOR, size: 2, stamp: 'stamp-2' });
    expect(h.api.calls).toEqual(['update a']);
    expect(h.api.timeouts.update).toBe(70_000);
  });

  test('a failed update returns the prior state and an error naming the resource', async () => {
    const h = await configured();
    h.api.objects.set('a', { ...PRIOR });
    h.api.failUpdate = true;
    const planned = value((await plan(h, PRIOR, { name: 'a', size: 2 })).planned_state)!;
    // An unexpected error is also logged (as an hclog JSON line on stderr) with its stack.
    const { result: res, lines } = await captureLog(() => apply(h, PRIOR, planned, { name: 'a', size: 2 }, Buffer.from('kept')));
    const logged = lines.find((l) => l['@level'] === 'error');
    expect(logged?.['@message']).toBe('apply fake_thing "a" failed');
    expect(String(logged?.error)).toMatch(/the engine said no/);
    expect(value(res.new_state)).toEqual(PRIOR);
    const ds = res.diagnostics as Msg[];
    expect(ds).toHaveLength(1);
    expect(ds[0].severity).toBe('ERROR');
    expect(ds[0].summary).toBe('Could not update fake_thing "a"');
    expect(ds[0].detail).toBe('the engine said no');
    expect(res.private).toEqual(Buffer.from('kept'));
  });

  test('destroy deletes and returns a null state', async () => {
    const h = await configured();
    h.api.objects.set('a', { ...PRIOR });
    const res = await apply(h, PRIOR, null, null);
    expect(res.diagnostics).toEqual([]);
    expect(value(res.new_state)).toBeNull();
    expect(h.api.objects.has('a')).toBe(false);
    expect(h.api.calls).toEqual(['delete a']);
    expect(h.api.timeouts).toEqual({});
  });
});

// ------------------------------------------------------------------------------------------- read and import

describe('ReadResource and ImportResourceState', () => {
  test("refresh takes the resource's values and echoes the private bytes", async () => {
    const h = await configured();
    h.api.objects.set('a', { ...PRIOR, size: 7, stamp: 'stamp-drifted' });
    const priv = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const res = await h.rpc('ReadResource', { type_name: 'fake_thing', current_state: dv(PRIOR), private: priv });
    expect(res.diagnostics).toEqual([]);
    expect(value(res.new_state)).toEqual({ ...PRIOR, size: 7, stamp: 'stamp-drifted' });
    expect(res.private).toEqual(priv);
    expect(h.api.timeouts.read).toBe(80_000);
  });

  test('a resource that read returns null for is removed from state', async () => {
    const h = await configured();
    const { result: res, lines } = await captureLog(() => h.rpc('ReadResource', { type_name: 'fake_thing', current_state: dv(PRIOR), private: Buffer.from('p') }));
    expect(lines.map((l) => l['@level'])).toEqual(['info']);
    expect(res.diagnostics).toEqual([]);
    expect(value(res.new_state)).toBeNull();
    expect(res.private).toEqual(Buffer.from('p'));
    expect(h.api.calls).toEqual(['read a']);
  });

  test("import returns the object's state conformed to the schema", async () => {
    const h = await configured();
    h.api.objects.set('a', { ...PRIOR });
    const res = await h.rpc('ImportResourceState', { type_name: 'fake_thing', id: 'a' });
    expect(res.diagnostics).toEqual([]);
    const imported = res.imported_resources as Msg[];
    expect(imported).toHaveLength(1);
    expect(imported[0].type_name).toBe('fake_thing');
    expect(value(imported[0].state)).toEqual(PRIOR);
    const { result: missing, lines } = await captureLog(() => h.rpc('ImportResourceState', { type_name: 'fake_thing', id: 'zzz' }));
    expect(lines.map((l) => l['@message'])).toEqual(['Could not import']);
    expect(missing.imported_resources).toEqual([]);
    expect((missing.diagnostics as Msg[])[0]).toMatchObject({ severity: 'ERROR', summary: 'Could not import', detail: 'no thing zzz' });
  });

  test('before ConfigureProvider, read is a diagnostic and the resource code is not called', async () => {
    const h = harness();
    const res = await h.rpc('ReadResource', { type_name: 'fake_thing', current_state: dv(PRIOR) });
    expect((res.diagnostics as Msg[]).map((d) => d.summary)).toEqual(['Provider not configured']);
    expect(h.api.calls).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------- upgrade

describe('UpgradeResourceState', () => {
  const raw = (o: unknown): Msg => ({ json: Buffer.from(JSON.stringify(o)) });

  test('from version 0: runs the upgrader, drops attributes the schema no longer has, fills new ones with null', async () => {
    const h = harness();
    const old = { label: 'old', size: 3, obsolete: 'gone', timeouts: { create: '5m', legacy: true } };
    const res = await h.rpc('UpgradeResourceState', { type_name: 'fake_thing', version: 0, raw_state: raw(old) });
    expect(res.diagnostics).toEqual([]);
    expect(h.resource.upgraders[0]).toHaveBeenCalledTimes(1);
    expect(h.resource.upgraders[0]).toHaveBeenCalledWith(old);
    expect(value(res.upgraded_state)).toEqual({ name: 'old', size: 3, mode: null, result: null, stamp: null, timeouts: { create: '5m', update: null } });
  });

  test('at the current version: no upgrader, unknown attributes still dropped', async () => {
    const h = harness();
    const res = await h.rpc('UpgradeResourceState', { type_name: 'fake_thing', version: 1, raw_state: raw({ ...PRIOR, extra: 1 }) });
    expect(res.diagnostics).toEqual([]);
    expect(h.resource.upgraders[0]).not.toHaveBeenCalled();
    expect(value(res.upgraded_state)).toEqual(PRIOR);
  });

  test('a version newer than the schema is an error diagnostic', async () => {
    const h = harness();
    const res = await h.rpc('UpgradeResourceState', { type_name: 'fake_thing', version: 2, raw_state: raw(PRIOR) });
    const ds = res.diagnostics as Msg[];
    expect(ds.map((d) => [d.severity, d.summary])).toEqual([['ERROR', 'State written by a newer provider']]);
    expect(String(ds[0].detail)).toMatch(/schema version 2.*up to 1/);
    expect(res.upgraded_state).toBeNull();
  });

  test('a version with no upgrader and a flatmap-only state are error diagnostics', async () => {
    const h = harness();
    const neg = await h.rpc('UpgradeResourceState', { type_name: 'fake_thing', version: -1, raw_state: raw(PRIOR) });
    expect((neg.diagnostics as Msg[]).map((d) => d.summary)).toEqual(['Cannot upgrade state']);
    const flat = await h.rpc('UpgradeResourceState', { type_name: 'fake_thing', version: 0, raw_state: { flatmap: { name: 'a' } } });
    expect((flat.diagnostics as Msg[]).map((d) => d.summary)).toEqual(['Unsupported state format']);
  });
});

// ------------------------------------------------------------------------------------------- configuration

describe('provider configuration and validation', () => {
  test('ConfigureProvider passes the configuration and Terraform version to configure', async () => {
    const h = harness();
    const res = await h.rpc('ConfigureProvider', { terraform_version: '1.11.2', config: dv({ endpoint: 'http://e:1' }, PROVIDER_T) });
    expect(res.diagnostics).toEqual([]);
    expect(h.configure).toHaveBeenCalledTimes(1);
    expect(h.configure.mock.calls[0][0]).toEqual({ endpoint: 'http://e:1' });
    expect(h.configure.mock.calls[0][1]).toBe('1.11.2');
  });

  test('ConfigureProvider with an unknown value is an error diagnostic and configure is not called', async () => {
    const h = harness();
    const res = await h.rpc('ConfigureProvider', { terraform_version: '1.11.2', config: dv({ endpoint: UNKNOWN }, PROVIDER_T) });
    expect((res.diagnostics as Msg[]).map((d) => [d.severity, d.summary])).toEqual([['ERROR', 'Provider configuration depends on values not yet known']]);
    expect(h.configure).not.toHaveBeenCalled();
    const read = await h.rpc('ReadResource', { type_name: 'fake_thing', current_state: dv(PRIOR) });
    expect((read.diagnostics as Msg[]).map((d) => d.summary)).toEqual(['Provider not configured']);
  });

  test('malformed msgpack is a diagnostic from every handler that decodes a value, never a throw', async () => {
    const h = await configured();
    // A fixmap of one entry whose key is an int, then garbage: not an object of the schema's type.
    const bad = { msgpack: Buffer.from([0x81, 0x01, 0xc1, 0xff]) };
    const cases: [string, Msg][] = [
      ['ConfigureProvider', { terraform_version: '1.11.0', config: bad }],
      ['ValidateProviderConfig', { config: bad }],
      ['ValidateResourceConfig', { type_name: 'fake_thing', config: bad }],
      ['PlanResourceChange', { type_name: 'fake_thing', prior_state: dv(PRIOR), proposed_new_state: bad, config: bad }],
      ['ApplyResourceChange', { type_name: 'fake_thing', prior_state: dv(PRIOR), planned_state: bad, config: bad }],
      ['ReadResource', { type_name: 'fake_thing', current_state: bad }],
    ];
    for (const [rpc, req] of cases) {
      const res = await h.rpc(rpc, req);
      const ds = res.diagnostics as Msg[];
      expect({ rpc, summaries: ds.map((d) => d.summary) }).toEqual({ rpc, summaries: [expect.stringMatching(/^Malformed value for /)] });
      expect(ds[0].severity).toBe('ERROR');
    }
    // Truncated msgpack and JSON that is not JSON too.
    const cut = dv({ name: 'a', size: 1 }) as { msgpack: Buffer };
    const truncated = await h.rpc('ValidateResourceConfig', { type_name: 'fake_thing', config: { msgpack: cut.msgpack.subarray(0, cut.msgpack.length - 3) } });
    expect((truncated.diagnostics as Msg[])[0].summary).toMatch(/^Malformed value/);
    const notJson = await h.rpc('ValidateResourceConfig', { type_name: 'fake_thing', config: { json: Buffer.from('{"name":') } });
    expect((notJson.diagnostics as Msg[])[0].summary).toMatch(/^Malformed value/);
    expect(h.api.calls).toEqual([]);
  });

  test('validation diagnostics point at the attribute (AttributePath) on the wire', async () => {
    const h = harness();
    const res = await h.rpc('ValidateResourceConfig', { type_name: 'fake_thing', config: dv({ name: 'a', size: -1 }) });
    const ds = res.diagnostics as Msg[];
    expect(ds.map((d) => [d.severity, d.summary])).toEqual([['ERROR', 'Invalid value for size']]);
    expect(((ds[0].attribute as Msg | null)?.steps as Msg[] | undefined)?.map((s) => s.attribute_name)).toEqual(['size']);
    const ok = await h.rpc('ValidateResourceConfig', { type_name: 'fake_thing', config: dv({ name: 'a', size: 1 }) });
    expect(ok.diagnostics).toEqual([]);

    const prov = await h.rpc('ValidateProviderConfig', { config: dv({ endpoint: 'ftp://x' }, PROVIDER_T) });
    expect(((prov.diagnostics as Msg[])[0]?.attribute as Msg | null)?.steps).toEqual([expect.objectContaining({ attribute_name: 'endpoint' })]);
  });

  test('a validator is not run on unknown or null values', async () => {
    const h = harness();
    expect((await h.rpc('ValidateResourceConfig', { type_name: 'fake_thing', config: dv({ name: 'a', size: UNKNOWN }) })).diagnostics).toEqual([]);
    expect((await h.rpc('ValidateResourceConfig', { type_name: 'fake_thing', config: dv({ name: 'a', size: null }) })).diagnostics).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------- schemas

describe('checkSchema', () => {
  test('finds nothing wrong with the cloudlet provider, its resources and data sources', () => {
    const def = cloudletProvider();
    expect(def.resources.length).toBe(5);
    expect(def.dataSources.length).toBe(2);
    const problems = [
      ...checkSchema('provider', def.schema.block),
      ...def.resources.flatMap((r) => checkSchema(r.typeName, r.schema.block)),
      ...def.dataSources.flatMap((d) => checkSchema(d.typeName, d.schema.block)),
    ];
    expect(problems).toEqual([]);
  });

  test('finds nothing wrong with the fake either, and does catch the mistakes it is for', () => {
    expect(checkSchema('fake_thing', thingSchema)).toEqual([]);
    const broken: BlockSchema = {
      description: 'Broken.',
      attributes: {
        neither: { type: 'string', description: 'x' },
        both: { type: 'string', required: true, computed: true, description: 'x' },
        defaulted: { type: 'string', optional: true, default: 'x', description: 'x' },
        undocumented: { type: 'string', optional: true, description: '' },
        CamelCase: { type: 'string', optional: true, description: 'x' },
      },
      blocks: { inner: { nesting: 'list', block: { description: 'x', attributes: { bad: { type: 'string', description: 'x' } } } } },
    };
    expect(checkSchema('broken', broken)).toEqual([
      'broken.neither: neither required, optional nor computed',
      'broken.both: required excludes optional and computed',
      'broken.defaulted: a default needs optional + computed',
      'broken.undocumented: no description',
      'broken.CamelCase: not a snake_case name',
      'broken.inner.bad: neither required, optional nor computed',
    ]);
  });
});
