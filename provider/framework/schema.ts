// Schemas as resources declare them, and their two derived forms: the protocol's Schema message (what
// `terraform providers schema` shows and cdktf generates bindings from) and the cty object type values of
// that schema have (what the msgpack codec needs).

import { CtyType, CtyValue, Unknown, isUnknown, typeToJson } from '../protocol/cty';
import { Diagnostic } from '../protocol/diagnostics';

export interface AttributeSchema {
  type: CtyType;
  /** Markdown; shown in docs and by cdktf-generated bindings. */
  description: string;
  required?: boolean;
  optional?: boolean;
  computed?: boolean;
  sensitive?: boolean;
  deprecated?: boolean;
  /** A change to this attribute replaces the object (destroy, then create). */
  requiresReplace?: boolean;
  /** For optional+computed attributes: the planned value when the configuration leaves it unset. */
  default?: CtyValue;
  /** For computed attributes: becomes unknown whenever the object is updated (its value is a result of the update). */
  changesOnUpdate?: boolean;
  /** Checks a known, non-null configured value. `path` is where to point the diagnostic. */
  validate?: (value: CtyValue) => string | undefined;
}

export type NestingMode = 'single' | 'list' | 'set' | 'map' | 'group';

export interface BlockSchema {
  description: string;
  attributes: Record<string, AttributeSchema>;
  blocks?: Record<string, NestedBlockSchema>;
  deprecated?: boolean;
}

export interface NestedBlockSchema {
  nesting: NestingMode;
  block: BlockSchema;
  /** A change anywhere in the block replaces the object. */
  requiresReplace?: boolean;
  minItems?: number;
  maxItems?: number;
}

export interface VersionedSchema {
  version: number;
  block: BlockSchema;
}

// ---- typed models: a resource's values as TypeScript sees them, derived from its schema declaration ----
// A schema declared `satisfies BlockSchema` keeps its literal types, so `ModelOf<typeof schema>` knows that
// `name` is a required string and `vcpus` an optional number: resources read `state.name`, not `str(state, 'name')`.

/** The TypeScript type of a known value of a cty type. */
export type ValueOf<T> = T extends 'string'
  ? string
  : T extends 'number'
    ? number
    : T extends 'bool'
      ? boolean
      : T extends { list: infer E } | { set: infer E }
        ? ValueOf<E>[]
        : T extends { map: infer E }
          ? Record<string, ValueOf<E>>
          : T extends { object: infer O }
            ? { [K in keyof O]: ValueOf<O[K]> | null }
            : CtyValue;

type AttrsOf<B> = B extends { attributes: infer A } ? A : never;
type BlocksOf<B> = B extends { blocks: infer N } ? N : Record<never, never>;
type NestedValue<N, Wrap> = N extends { nesting: infer M } ? (M extends 'list' | 'set' ? Wrap[] : M extends 'map' ? Record<string, Wrap> : Wrap) | null : never;
type Nested<N> = N extends { block: infer I } ? NestedValue<N, ModelOf<I>> : never;
type NestedMaybe<N> = N extends { block: infer I } ? NestedValue<N, ConfigOf<I>> | Unknown : never;

/** Stored state (and a configuration at apply): every value known; those not required may be null. */
export type ModelOf<B> = {
  [K in keyof AttrsOf<B>]: AttrsOf<B>[K] extends { required: true } ? ValueOf<AttrsOf<B>[K]['type' & keyof AttrsOf<B>[K]]> : ValueOf<AttrsOf<B>[K]['type' & keyof AttrsOf<B>[K]]> | null;
} & {
  [K in keyof BlocksOf<B>]: Nested<BlocksOf<B>[K]>;
};

/** The planned state at apply: what the configuration sets (or a default gives) is known; other computed values may still be unknown. */
export type PlannedOf<B> = {
  [K in keyof ModelOf<B>]: K extends keyof AttrsOf<B>
    ? AttrsOf<B>[K] extends { computed: true }
      ? AttrsOf<B>[K] extends { default: unknown }
        ? ModelOf<B>[K]
        : ModelOf<B>[K] | Unknown
      : ModelOf<B>[K]
    : ModelOf<B>[K];
};

/** A configuration or plan during planning: anything may still be unknown. */
export type ConfigOf<B> = { [K in keyof AttrsOf<B>]: ModelOf<B>[K & keyof ModelOf<B>] | Unknown } & { [K in keyof BlocksOf<B>]: NestedMaybe<BlocksOf<B>[K]> };

const blockTypes = new WeakMap<BlockSchema, CtyType>();

/** The cty type of a block's values: an object of its attributes and nested blocks (computed once per block; every RPC needs it). */
export function blockType(b: BlockSchema): CtyType {
  const have = blockTypes.get(b);
  if (have) return have;
  const object: Record<string, CtyType> = {};
  for (const [name, a] of Object.entries(b.attributes)) object[name] = a.type;
  for (const [name, nb] of Object.entries(b.blocks ?? {})) {
    const inner = blockType(nb.block);
    object[name] = nb.nesting === 'list' ? { list: inner } : nb.nesting === 'set' ? { set: inner } : nb.nesting === 'map' ? { map: inner } : inner;
  }
  const t: CtyType = { object };
  blockTypes.set(b, t);
  return t;
}

const NESTING: Record<NestingMode, string> = { single: 'SINGLE', list: 'LIST', set: 'SET', map: 'MAP', group: 'GROUP' };

function blockMessage(b: BlockSchema, version: number): Record<string, unknown> {
  return {
    version,
    description: b.description,
    description_kind: 'MARKDOWN',
    deprecated: !!b.deprecated,
    // Terraform expects a stable order; the protocol documents none, so sort by name.
    attributes: Object.entries(b.attributes)
      .sort(([x], [y]) => (x < y ? -1 : 1))
      .map(([name, a]) => ({
        name,
        type: Buffer.from(JSON.stringify(typeToJson(a.type))),
        description: a.description,
        description_kind: 'MARKDOWN',
        required: !!a.required,
        optional: !!a.optional,
        computed: !!a.computed,
        sensitive: !!a.sensitive,
        deprecated: !!a.deprecated,
      })),
    block_types: Object.entries(b.blocks ?? {})
      .sort(([x], [y]) => (x < y ? -1 : 1))
      .map(([name, nb]) => ({
        type_name: name,
        block: blockMessage(nb.block, 0),
        nesting: NESTING[nb.nesting],
        min_items: nb.minItems ?? 0,
        max_items: nb.maxItems ?? 0,
      })),
  };
}

/** The protocol's Schema message. */
export function schemaMessage(s: VersionedSchema): Record<string, unknown> {
  return { version: s.version, block: blockMessage(s.block, s.version) };
}

/** Checks a schema for mistakes a provider author can make (caught by unit tests, not users). */
export function checkSchema(name: string, b: BlockSchema): string[] {
  const problems: string[] = [];
  for (const [n, a] of Object.entries(b.attributes)) {
    const where = `${name}.${n}`;
    if (!a.required && !a.optional && !a.computed) problems.push(`${where}: neither required, optional nor computed`);
    if (a.required && (a.optional || a.computed)) problems.push(`${where}: required excludes optional and computed`);
    if (a.default !== undefined && !(a.optional && a.computed)) problems.push(`${where}: a default needs optional + computed`);
    if (!a.description) problems.push(`${where}: no description`);
    if (!/^[a-z][a-z0-9_]*$/.test(n)) problems.push(`${where}: not a snake_case name`);
  }
  for (const [n, nb] of Object.entries(b.blocks ?? {})) problems.push(...checkSchema(`${name}.${n}`, nb.block));
  return problems;
}

/** Runs attribute validators over a (possibly partly unknown) configuration object. */
export function validateAttributes(b: BlockSchema, value: Record<string, CtyValue> | null, base: (string | number)[] = []): Diagnostic[] {
  if (!value) return [];
  const out: Diagnostic[] = [];
  for (const [n, a] of Object.entries(b.attributes)) {
    const v = value[n];
    if (v === null || v === undefined || !a.validate || isUnknown(v)) continue;
    const why = a.validate(v);
    if (why) out.push({ severity: 'ERROR', summary: `Invalid value for ${n}`, detail: why, path: [...base, n] });
  }
  for (const [n, nb] of Object.entries(b.blocks ?? {})) {
    const v = value[n];
    if (v === null || v === undefined || isUnknown(v)) continue;
    if (nb.nesting === 'single' || nb.nesting === 'group') out.push(...validateAttributes(nb.block, v as Record<string, CtyValue>, [...base, n]));
    else if (Array.isArray(v)) v.forEach((item, i) => out.push(...validateAttributes(nb.block, item as Record<string, CtyValue>, [...base, n, i])));
  }
  return out;
}
