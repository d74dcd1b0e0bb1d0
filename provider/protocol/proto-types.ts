// Generates TypeScript types for the protocol messages from the compiled descriptor (descriptor.ts, itself
// from our .proto files): one interface per message in the shape protobuf.ts decodes it to (scalars with their
// proto3 defaults, messages `| null` when absent, proto3 `optional` fields `?:`, repeated fields arrays, maps
// records, enums their names, 64-bit integers numbers, bytes Buffers), and one entry per RPC of each service.
// `npm run generate` (constructs/generate.ts) writes provider/protocol/tfplugin6.ts; test/unit/provider-protobuf.test.ts fails when
// the committed file differs from a fresh generation.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Descriptor, FieldDescriptor } from './protobuf';

export const GENERATED_TYPES_FILE = 'provider/protocol/tfplugin6.ts';

/** `tfplugin6.ReadResource.Request` → `ReadResource_Request`; other packages keep theirs (`plugin_GRPCStdio...`). */
export function typeName(full: string): string {
  return full.replace(/^tfplugin6\./, '').replace(/\./g, '_');
}

function scalar(t: string): string | undefined {
  switch (t) {
    case 'string':
      return 'string';
    case 'bytes':
      return 'Buffer';
    case 'bool':
      return 'boolean';
    case 'double':
    case 'float':
    case 'int32':
    case 'int64':
    case 'uint32':
    case 'uint64':
    case 'sint32':
    case 'sint64':
    case 'fixed32':
    case 'fixed64':
    case 'sfixed32':
    case 'sfixed64':
      return 'number';
    default:
      return undefined;
  }
}

function fieldLine(f: FieldDescriptor, d: Descriptor): string {
  const base = scalar(f.type) ?? typeName(f.type);
  const isMessage = !!d.messages[f.type];
  if (f.keyType) return `  ${f.name}: Record<string, ${isMessage ? `${base} | null` : base}>;`;
  if (f.repeated) return `  ${f.name}: ${base}[];`;
  if (f.optional) return `  ${f.name}?: ${base};`;
  return `  ${f.name}: ${isMessage ? `${base} | null` : base};`;
}

export function protoTypesSource(d: Descriptor): string {
  const out: string[] = [
    '// Generated from provider/protocol/proto/*.proto by provider/protocol/proto-types.ts (`npm run generate`): do not edit.',
    '// The messages as provider/protocol/protobuf.ts decodes them; handlers send `Outgoing<...>` of the responses.',
    '',
  ];
  for (const [name, values] of Object.entries(d.enums).sort(([a], [b]) => a.localeCompare(b))) {
    out.push(
      `export type ${typeName(name)} = ${Object.keys(values)
        .map((v) => `'${v}'`)
        .join(' | ')};`,
    );
  }
  out.push('');
  for (const [name, m] of Object.entries(d.messages).sort(([a], [b]) => a.localeCompare(b))) {
    if (m.fields.length === 0) {
      out.push(`export type ${typeName(name)} = Record<string, never>;`, '');
      continue;
    }
    out.push(`export interface ${typeName(name)} {`, ...m.fields.map((f) => fieldLine(f, d)), '}', '');
  }
  for (const [service, methods] of Object.entries(d.services).sort(([a], [b]) => a.localeCompare(b))) {
    out.push(`/** The RPCs of ${service}. */`, `export interface ${typeName(service).replace(/^.*_/, '')}Rpcs {`);
    for (const [m, x] of Object.entries(methods)) out.push(`  ${m}: { request: ${typeName(x.request)}; response: ${typeName(x.response)} };`);
    out.push('}', '');
  }
  return out.join('\n');
}

/** Writes the generated types into the checkout at `root` (build-time only: descriptor.ts reads the .proto text). */
export function writeProtoTypes(root: string, compile: () => Descriptor): void {
  fs.writeFileSync(path.join(root, GENERATED_TYPES_FILE), protoTypesSource(compile()));
}
