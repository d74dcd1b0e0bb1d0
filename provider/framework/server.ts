// The provider framework: turns tfplugin6 RPCs into calls on resource and data source definitions, in the
// manner of terraform-plugin-framework. It owns the protocol-level rules every resource shares: decoding and
// encoding values against the schema, planning (defaults, unknown computed values, replacement), keeping
// private state, timeouts and cancellation, schema upgrades, and turning failures into diagnostics.
// Resources only say what their schema is and how to create, read, update, delete and import.

import { CtyType, CtyValue, UNKNOWN, containsUnknown, decodeJson, decodeJsonValue, decodeMsgpack, encodeMsgpack, isUnknown, valueEquals } from '../protocol/cty';
import { Diagnostic, DiagnosticError, PathStep, attributePathMessage, diagnosticMessage, diagnosticsOf, error, fail } from '../protocol/diagnostics';
import { log } from '../protocol/log';
import { Outgoing, ProviderHandlers } from '../protocol/plugin-server';
import type * as tf from '../protocol/tfplugin6';
import { BlockSchema, ConfigOf, ModelOf, PlannedOf, VersionedSchema, blockType, schemaMessage, validateAttributes } from './schema';

export type Obj = Record<string, CtyValue>;

/** What a resource or data source call gets: the configured provider, a cancellation signal and its deadline. */
export interface CallContext<P> {
  provider: P;
  /** Aborted when Terraform stops the provider (Ctrl-C) or the operation's timeout passes. */
  signal: AbortSignal;
  /** Milliseconds left for this call (from the resource's `timeouts` block or its default). */
  timeoutMs: number;
}

export interface PlanContext {
  prior: Obj | null;
  config: Obj;
  /** Edit in place. */
  planned: Obj;
  requiresReplace: PathStep[][];
  diagnostics: Diagnostic[];
}

export interface ResourceType<P> {
  typeName: string;
  schema: VersionedSchema;
  /** Default timeouts in ms, used when the `timeouts` block leaves one unset. */
  timeouts?: { create?: number; update?: number; delete?: number; read?: number };
  /** Cross-attribute checks on a configuration that may hold unknowns. */
  validate?(config: Obj): Diagnostic[];
  /** Resource-specific planning after the generic rules ran (runs only when the provider is configured). */
  modifyPlan?(p: PlanContext, provider: P): Promise<void> | void;
  create(ctx: CallContext<P>, planned: Obj, config: Obj): Promise<Obj>;
  /** The object as it is now, or null if it is gone. */
  read(ctx: CallContext<P>, state: Obj): Promise<Obj | null>;
  /** In-place update; absent means only configuration-side attributes (like timeouts) can change in place. */
  update?(ctx: CallContext<P>, prior: Obj, planned: Obj, config: Obj): Promise<Obj>;
  delete(ctx: CallContext<P>, state: Obj): Promise<void>;
  /** State for `terraform import`/import blocks from the id the user gave. */
  importState(ctx: CallContext<P>, id: string): Promise<Obj>;
  /** Upgraders from older schema versions, keyed by the version they upgrade from (JSON in, JSON out). */
  upgraders?: Record<number, (old: Record<string, unknown>) => Record<string, unknown>>;
}

export interface DataSourceType<P> {
  typeName: string;
  schema: VersionedSchema;
  validate?(config: Obj): Diagnostic[];
  read(ctx: CallContext<P>, config: Obj): Promise<Obj>;
}

// ---- typed definitions: what resources write. The framework decodes every value against the resource's own
// schema, so a value has the shape its schema's model type (schema.ts) says; `defineResource` and
// `defineDataSource` state that once, here, instead of every resource reading values by string key.

/** Planning, as a resource with schema block B sees it. */
export interface TypedPlanContext<B> {
  prior: ModelOf<B> | null;
  config: ConfigOf<B>;
  /** Edit in place. */
  planned: ConfigOf<B>;
  requiresReplace: PathStep[][];
  diagnostics: Diagnostic[];
}

export interface TypedResource<P, B extends BlockSchema> {
  typeName: string;
  schema: { version: number; block: B };
  timeouts?: ResourceType<P>['timeouts'];
  validate?(config: ConfigOf<B>): Diagnostic[];
  modifyPlan?(p: TypedPlanContext<B>, provider: P): Promise<void> | void;
  /** Returns the computed attributes (anything else returned is ignored where the plan already knows it). */
  create(ctx: CallContext<P>, planned: PlannedOf<B>, config: ModelOf<B>): Promise<Partial<ModelOf<B>>>;
  read(ctx: CallContext<P>, state: ModelOf<B>): Promise<Partial<ModelOf<B>> | null>;
  update?(ctx: CallContext<P>, prior: ModelOf<B>, planned: PlannedOf<B>, config: ModelOf<B>): Promise<Partial<ModelOf<B>>>;
  delete(ctx: CallContext<P>, state: ModelOf<B>): Promise<void>;
  importState(ctx: CallContext<P>, id: string): Promise<Partial<ModelOf<B>>>;
  upgraders?: ResourceType<P>['upgraders'];
}

export interface TypedDataSource<P, B extends BlockSchema> {
  typeName: string;
  schema: { version: number; block: B };
  validate?(config: ConfigOf<B>): Diagnostic[];
  read(ctx: CallContext<P>, config: ModelOf<B>): Promise<Partial<ModelOf<B>>>;
}

/** A resource written against its schema's model types, as the framework runs it. */
export function defineResource<P, B extends BlockSchema>(r: TypedResource<P, B>): ResourceType<P> {
  // The framework only hands a resource values decoded against r.schema, which is what the model types describe.
  return r as unknown as ResourceType<P>;
}

/** A data source written against its schema's model types, as the framework runs it. */
export function defineDataSource<P, B extends BlockSchema>(d: TypedDataSource<P, B>): DataSourceType<P> {
  return d as unknown as DataSourceType<P>;
}

export interface TypedProviderDefinition<P, B extends BlockSchema> {
  schema: { version: number; block: B };
  validate?(config: ConfigOf<B>): Diagnostic[];
  configure(config: ModelOf<B>, terraformVersion: string, signal: AbortSignal): Promise<P>;
  resources: ResourceType<P>[];
  dataSources: DataSourceType<P>[];
}

/** A provider configuration written against its schema's model type, as the framework runs it. */
export function defineProvider<P, B extends BlockSchema>(d: TypedProviderDefinition<P, B>): ProviderDefinition<P> {
  // As for resources: configure is only handed values decoded against d.schema.
  const erased: unknown = d;
  return erased as ProviderDefinition<P>;
}

export interface ProviderDefinition<P> {
  schema: VersionedSchema;
  validate?(config: Obj): Diagnostic[];
  /** Builds the configured provider. Throw a DiagnosticError for bad configuration. */
  configure(config: Obj, terraformVersion: string, signal: AbortSignal): Promise<P>;
  resources: ResourceType<P>[];
  dataSources: DataSourceType<P>[];
}

const DEFAULT_TIMEOUT_MS = 20 * 60 * 1000;

/** Parses Go duration syntax as Terraform users write it in `timeouts` ("90s", "30m", "1h30m"). */
export function parseDuration(s: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) return undefined;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60000, h: 3600000 };
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]];
  return total;
}

/**
 * Makes a value conform to its type: every object attribute present (missing ones null), no extra keys.
 * Other mismatches pass through for the codec to report with a path.
 */
export function conform(v: unknown, t: CtyType): CtyValue {
  if (v === undefined || v === null) return null;
  if (isUnknown(v)) return v;
  if (typeof t === 'object' && 'object' in t && typeof v === 'object' && !Array.isArray(v)) {
    const src = v as Record<string, unknown>;
    const out: Obj = {};
    for (const [k, at] of Object.entries(t.object)) out[k] = conform(src[k], at);
    return out;
  }
  if (typeof t === 'object' && ('list' in t || 'set' in t) && Array.isArray(v)) {
    const et = 'list' in t ? t.list : t.set;
    return v.map((x) => conform(x, et));
  }
  if (typeof t === 'object' && 'map' in t && typeof v === 'object') {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = conform(x, t.map);
    return out;
  }
  return v;
}

/** Serves a provider definition as tfplugin6 handlers. */
export class ProviderServer<P> {
  private configured: P | null = null;
  private readonly stop = new AbortController();
  private readonly resources = new Map<string, ResourceType<P>>();
  private readonly dataSources = new Map<string, DataSourceType<P>>();
  private readonly providerType: CtyType;

  constructor(private readonly def: ProviderDefinition<P>) {
    for (const r of def.resources) this.resources.set(r.typeName, r);
    for (const d of def.dataSources) this.dataSources.set(d.typeName, d);
    this.providerType = blockType(def.schema.block);
  }

  /** Aborted by StopProvider. */
  get stopSignal(): AbortSignal {
    return this.stop.signal;
  }

  handlers(): ProviderHandlers {
    const noEphemeral = async (req: { type_name?: string }) => ({
      diagnostics: [diagnosticMessage(error('No such ephemeral resource', `The cloudlet provider has no ephemeral resources (asked for ${req.type_name ?? 'one'}).`))],
    });
    const h: ProviderHandlers = {
      ValidateEphemeralResourceConfig: noEphemeral,
      OpenEphemeralResource: noEphemeral,
      RenewEphemeralResource: async () => ({ diagnostics: [diagnosticMessage(error('No such ephemeral resource', 'The cloudlet provider has no ephemeral resources.'))] }),
      CloseEphemeralResource: async () => ({ diagnostics: [diagnosticMessage(error('No such ephemeral resource', 'The cloudlet provider has no ephemeral resources.'))] }),
      GetMetadata: async () => ({
        server_capabilities: this.capabilities(),
        resources: [...this.resources.keys()].map((type_name) => ({ type_name })),
        data_sources: [...this.dataSources.keys()].map((type_name) => ({ type_name })),
        functions: [],
        ephemeral_resources: [],
        diagnostics: [],
      }),
      GetProviderSchema: async () => ({
        provider: schemaMessage(this.def.schema),
        resource_schemas: Object.fromEntries([...this.resources].map(([n, r]) => [n, schemaMessage(r.schema)])),
        data_source_schemas: Object.fromEntries([...this.dataSources].map(([n, d]) => [n, schemaMessage(d.schema)])),
        functions: {},
        ephemeral_resource_schemas: {},
        server_capabilities: this.capabilities(),
        diagnostics: [],
      }),
      ValidateProviderConfig: (req) =>
        this.guard('Invalid provider configuration', async () => {
          const config = this.decode(req.config, this.providerType, 'provider configuration') as Obj;
          return { diagnostics: [...validateAttributes(this.def.schema.block, config), ...(this.def.validate?.(config) ?? [])].map(diagnosticMessage) };
        }),
      ValidateResourceConfig: (req) =>
        this.guard('Invalid resource configuration', async () => {
          const r = this.resource(req.type_name);
          const config = this.decode(req.config, blockType(r.schema.block), r.typeName) as Obj;
          return { diagnostics: [...validateAttributes(r.schema.block, config), ...(r.validate?.(config) ?? [])].map(diagnosticMessage) };
        }),
      ValidateDataResourceConfig: (req) =>
        this.guard('Invalid data source configuration', async () => {
          const d = this.dataSource(req.type_name);
          const config = this.decode(req.config, blockType(d.schema.block), d.typeName) as Obj;
          return { diagnostics: [...validateAttributes(d.schema.block, config), ...(d.validate?.(config) ?? [])].map(diagnosticMessage) };
        }),
      ConfigureProvider: (req) =>
        this.guard('Could not configure the cloudlet provider', async () => {
          const config = this.decode(req.config, this.providerType, 'provider configuration') as Obj;
          if (containsUnknown(config)) {
            return {
              diagnostics: [
                diagnosticMessage(
                  error(
                    'Provider configuration depends on values not yet known',
                    'The cloudlet provider needs its endpoint and credentials during plan. Use values known before apply (variables, locals, or a separate run for the resources they come from).',
                  ),
                ),
              ],
            };
          }
          this.configured = await this.def.configure(config, req.terraform_version, this.stop.signal);
          return { diagnostics: [] };
        }),
      UpgradeResourceState: (req) => this.guard('Could not upgrade the stored state', async () => this.upgrade(req)),
      ReadResource: (req) => this.guard('Could not read the resource', async () => this.read(req)),
      PlanResourceChange: (req) => this.guard('Could not plan the change', async () => this.plan(req)),
      ApplyResourceChange: (req) => this.apply(req),
      ImportResourceState: (req) =>
        this.guard('Could not import', async () => {
          const r = this.resource(req.type_name);
          const ctx = this.context(null, r, 'read');
          const state = conform(await r.importState(ctx, req.id), blockType(r.schema.block)) as Obj;
          return { imported_resources: [{ type_name: r.typeName, state: this.encode(state, blockType(r.schema.block)), private: Buffer.alloc(0) }] };
        }),
      MoveResourceState: async (req) => ({
        diagnostics: [
          diagnosticMessage(
            error(
              'Moving state is not supported',
              `The cloudlet provider cannot take over state from ${req.source_type_name} (${req.source_provider_address}). Remove the old resource from state and use an import block for ${req.target_type_name} instead.`,
            ),
          ),
        ],
      }),
      ReadDataSource: (req) => this.guard('Could not read the data source', async () => this.readData(req)),
      StopProvider: async () => {
        log('info', 'StopProvider: cancelling in-flight engine operations');
        this.stop.abort();
        return { Error: '' };
      },
      GetFunctions: async () => ({ functions: {}, diagnostics: [] }),
      CallFunction: async (req) => ({ error: { text: `the cloudlet provider has no function named ${req.name}` } }),
    };
    return h;
  }

  private capabilities(): Outgoing<tf.ServerCapabilities> {
    return { plan_destroy: false, get_provider_schema_optional: true, move_resource_state: false };
  }

  private resource(name: string): ResourceType<P> {
    const r = this.resources.get(name);
    if (!r) fail('Unknown resource type', `The cloudlet provider has no resource type ${name}.`);
    return r;
  }

  private dataSource(name: string): DataSourceType<P> {
    const d = this.dataSources.get(name);
    if (!d) fail('Unknown data source', `The cloudlet provider has no data source ${name}.`);
    return d;
  }

  private provider(): P {
    if (!this.configured) fail('Provider not configured', 'Terraform called the cloudlet provider before configuring it.');
    return this.configured;
  }

  /** Runs a handler; anything thrown becomes diagnostics in the response rather than a gRPC failure. */
  private async guard<T extends object>(summary: string, fn: () => Promise<T>): Promise<T | { diagnostics: Outgoing<tf.Diagnostic>[] }> {
    try {
      return await fn();
    } catch (e) {
      const ds = diagnosticsOf(e, summary);
      if (!(e instanceof DiagnosticError)) log('error', summary, { error: String((e as Error)?.stack ?? e) });
      // Every guarded RPC's response has diagnostics; the rest of it is left at its defaults.
      return { diagnostics: ds.map(diagnosticMessage) };
    }
  }

  private decode(m: tf.DynamicValue | null, type: CtyType, what: string): CtyValue {
    try {
      if (m?.msgpack && m.msgpack.length > 0) return decodeMsgpack(m.msgpack, type);
      if (m?.json && m.json.length > 0) return decodeJson(m.json.toString('utf8'), type);
    } catch (e) {
      fail(`Malformed value for ${what}`, `Terraform sent a value that does not match the schema: ${(e as Error).message}`);
    }
    return null;
  }

  private encode(v: CtyValue, type: CtyType): Outgoing<tf.DynamicValue> {
    return { msgpack: Buffer.from(encodeMsgpack(v, type)) };
  }

  private context(state: Obj | null, r: ResourceType<P> | null, op: 'create' | 'update' | 'delete' | 'read'): CallContext<P> {
    const configured = r?.timeouts?.[op] ?? DEFAULT_TIMEOUT_MS;
    let timeoutMs = configured;
    const t = state?.timeouts as Obj | null | undefined;
    const given = t && !isUnknown(t) ? t[op] : null;
    if (typeof given === 'string') timeoutMs = parseDuration(given) ?? configured;
    const signal = AbortSignal.any([this.stop.signal, AbortSignal.timeout(timeoutMs)]);
    return { provider: this.provider(), signal, timeoutMs };
  }

  // ------------------------------------------------------------------ state upgrade

  private async upgrade(req: tf.UpgradeResourceState_Request): Promise<Outgoing<tf.UpgradeResourceState_Response>> {
    const r = this.resource(req.type_name);
    const type = blockType(r.schema.block);
    const raw = req.raw_state;
    if (!raw?.json || raw.json.length === 0) {
      if (raw?.flatmap && Object.keys(raw.flatmap).length > 0)
        fail('Unsupported state format', `The stored state of this ${r.typeName} is in the pre-0.12 flatmap format, which this provider never wrote.`);
      return { upgraded_state: this.encode(null, type), diagnostics: [] };
    }
    let json = JSON.parse(raw.json.toString('utf8')) as Record<string, unknown>;
    let version = req.version;
    if (version > r.schema.version) {
      fail('State written by a newer provider', `This ${r.typeName} was stored with schema version ${version}; this provider knows versions up to ${r.schema.version}. Upgrade the cloudlet provider.`);
    }
    while (version < r.schema.version) {
      const up = r.upgraders?.[version];
      if (!up) fail('Cannot upgrade state', `No upgrade path for ${r.typeName} state from schema version ${version}.`);
      json = up(json);
      version++;
    }
    // Attributes a newer schema dropped are dropped; new ones start out null.
    const value = decodeJsonValue(conform(json, type), type);
    return { upgraded_state: this.encode(value, type), diagnostics: [] };
  }

  // ------------------------------------------------------------------ read

  private async read(req: tf.ReadResource_Request): Promise<Outgoing<tf.ReadResource_Response>> {
    const r = this.resource(req.type_name);
    const type = blockType(r.schema.block);
    const state = this.decode(req.current_state, type, r.typeName) as Obj | null;
    const priv = req.private;
    if (state === null) return { new_state: this.encode(null, type), private: priv, diagnostics: [] };
    const now = await r.read(this.context(state, r, 'read'), state);
    const merged = now === null ? null : (conform({ ...state, ...now }, type) as Obj);
    if (now === null) log('info', `${r.typeName}${typeof state.id === 'string' ? ` ${state.id}` : ''} no longer exists; removing it from state`);
    return { new_state: this.encode(merged, type), private: priv, diagnostics: [] };
  }

  // ------------------------------------------------------------------ plan

  private async plan(req: tf.PlanResourceChange_Request): Promise<Outgoing<tf.PlanResourceChange_Response>> {
    const r = this.resource(req.type_name);
    const type = blockType(r.schema.block);
    const prior = this.decode(req.prior_state, type, r.typeName) as Obj | null;
    const proposed = this.decode(req.proposed_new_state, type, r.typeName) as Obj | null;
    const config = this.decode(req.config, type, r.typeName) as Obj | null;
    const priv = req.prior_private;
    if (proposed === null || config === null) return { planned_state: this.encode(null, type), planned_private: priv, requires_replace: [], diagnostics: [] };

    const p: PlanContext = { prior, config, planned: { ...proposed }, requiresReplace: [], diagnostics: [] };
    planAttributes(r.schema.block, p);
    if (this.configured) await r.modifyPlan?.(p, this.configured);
    if (prior !== null && p.requiresReplace.length > 0) {
      // The object will be a new one: everything it computes is unknown until it exists.
      for (const [n, a] of Object.entries(r.schema.block.attributes)) {
        if (a.computed && (config[n] === null || config[n] === undefined) && a.default === undefined) p.planned[n] = UNKNOWN;
      }
    }
    return {
      planned_state: this.encode(conform(p.planned, type), type),
      requires_replace: p.requiresReplace.map(attributePathMessage),
      planned_private: priv,
      diagnostics: p.diagnostics.map(diagnosticMessage),
    };
  }

  // ------------------------------------------------------------------ apply

  private async apply(req: tf.ApplyResourceChange_Request): Promise<Outgoing<tf.ApplyResourceChange_Response>> {
    let r: ResourceType<P>;
    let type: CtyType;
    let prior: Obj | null;
    let planned: Obj | null;
    let config: Obj | null;
    try {
      r = this.resource(req.type_name);
      type = blockType(r.schema.block);
      prior = this.decode(req.prior_state, type, r.typeName) as Obj | null;
      planned = this.decode(req.planned_state, type, r.typeName) as Obj | null;
      config = this.decode(req.config, type, r.typeName) as Obj | null;
    } catch (e) {
      return { diagnostics: diagnosticsOf(e, 'Could not apply the change').map(diagnosticMessage) };
    }
    const priv = req.planned_private;
    const shownName = (planned ?? prior)?.name;
    const what = `${r.typeName}${typeof shownName === 'string' && shownName !== '' ? ` "${shownName}"` : ''}`;
    try {
      if (planned === null) {
        await r.delete(this.context(prior, r, 'delete'), prior!);
        return { new_state: this.encode(null, type), private: Buffer.alloc(0), diagnostics: [] };
      }
      const result =
        prior === null
          ? await r.create(this.context(planned, r, 'create'), planned, config ?? planned)
          : r.update
            ? await r.update(this.context(planned, r, 'update'), prior, planned, config ?? planned)
            : fillUnknowns(planned, prior);
      const final = settle(r.schema.block, planned, result);
      if (containsUnknown(final)) {
        fail('Provider produced an incomplete result', `${what}: some computed attributes are still unknown after apply; this is a bug in the cloudlet provider.`);
      }
      return { new_state: this.encode(conform(final, type), type), private: priv, diagnostics: [] };
    } catch (e) {
      const verb = planned === null ? 'delete' : prior === null ? 'create' : 'update';
      const ds = diagnosticsOf(e, `Could not ${verb} ${what}`);
      if (!(e instanceof DiagnosticError)) log('error', `apply ${what} failed`, { error: String((e as Error)?.stack ?? e) });
      // A failed create leaves nothing (the engine cleans up); a failed update or delete leaves the prior object.
      return { new_state: this.encode(prior === null ? null : conform(prior, type), type), private: priv, diagnostics: ds.map(diagnosticMessage) };
    }
  }

  // ------------------------------------------------------------------ data sources

  private async readData(req: tf.ReadDataSource_Request): Promise<Outgoing<tf.ReadDataSource_Response>> {
    const d = this.dataSource(req.type_name);
    const type = blockType(d.schema.block);
    const config = this.decode(req.config, type, d.typeName) as Obj;
    const state = conform({ ...config, ...(await d.read(this.context(null, null, 'read'), config)) }, type);
    return { state: this.encode(state, type), diagnostics: [] };
  }
}

/**
 * The generic planning rules: computed attributes the configuration leaves unset keep their prior value
 * (unknown on create), or take their default; a changed `requiresReplace` attribute asks for replacement;
 * attributes marked changesOnUpdate become unknown when anything else changes.
 */
export function planAttributes(b: BlockSchema, p: PlanContext): void {
  const { prior, config, planned } = p;
  for (const [n, a] of Object.entries(b.attributes)) {
    const configured = config[n] !== null && config[n] !== undefined;
    if (a.computed && !configured) {
      if (a.default !== undefined) planned[n] = a.default;
      else if (prior === null) planned[n] = UNKNOWN;
      else planned[n] = prior[n] ?? null;
    }
  }
  if (prior === null) return;
  let changed = false;
  for (const n of [...Object.keys(b.attributes), ...Object.keys(b.blocks ?? {})]) {
    const a = b.attributes[n];
    if (a && a.computed && !a.optional) continue;
    const before = prior[n] ?? null;
    const after = planned[n] ?? null;
    if (isUnknown(after) || !valueEquals(before, after, typeOf(b, n))) {
      changed = true;
      if (a?.requiresReplace || b.blocks?.[n]?.requiresReplace) p.requiresReplace.push([n]);
    }
  }
  if (changed && p.requiresReplace.length === 0) {
    for (const [n, a] of Object.entries(b.attributes)) if (a.changesOnUpdate) planned[n] = UNKNOWN;
  }
}

/** The type of a block's attribute or nested block. */
function typeOf(b: BlockSchema, name: string): CtyType {
  return (blockType(b) as { object: Record<string, CtyType> }).object[name];
}

/** Unknowns in a planned value take the prior value (an update that changed only configuration-side attributes). */
function fillUnknowns(planned: Obj, prior: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(planned)) out[k] = isUnknown(v) ? (prior[k] ?? null) : v;
  return out;
}

/**
 * The state after apply: what the configuration set is kept as planned (Terraform requires the result to
 * match every known planned value), computed attributes come from the resource.
 */
function settle(b: BlockSchema, planned: Obj, result: Obj): Obj {
  const out: Obj = { ...planned };
  for (const [n, a] of Object.entries(b.attributes)) {
    const p = planned[n];
    if (a.computed && (isUnknown(p) || p === null || p === undefined) && result[n] !== undefined) out[n] = result[n];
    else if (a.computed && !isUnknown(p) && result[n] !== undefined && !valueEquals(p, result[n], a.type)) {
      // A known planned computed value must not change; keep the plan's and let read report drift later.
      out[n] = p;
    }
  }
  return out;
}
