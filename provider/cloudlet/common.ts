// Schema pieces and value helpers the cloudlet resources share.

import * as path from 'node:path';
import { PatternName, RangeName, patternProblem, rangeProblem } from '../../engine/contract/rules';
import { CtyValue, isUnknown } from '../protocol/cty';
import { AttributeSchema, NestedBlockSchema } from '../framework/schema';
import { Obj, parseDuration } from '../framework/server';

// Names, hashes and bounded numbers keep the engine API's own rules (engine/contract/rules.ts), checked here at
// plan time in the words the engine and the constructs use.
export const validHex64 = (what: string) => (v: CtyValue) => {
  const problem = patternProblem('sha256', v);
  return problem && `${what}: ${problem}`;
};
export const validName = (v: CtyValue) => patternProblem('name', v);
export const validRange = (rule: RangeName) => (v: CtyValue) => rangeProblem(rule, v);
export const validPattern = (rule: PatternName) => (v: CtyValue) => patternProblem(rule, v);
export const validSource = (v: CtyValue) =>
  typeof v === 'string' && v.trim() !== '' && (/^(https?|file):\/\/./.test(v) || !/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) ? undefined : `expected a path or an http(s)/file URL, got ${JSON.stringify(v)}`;

/** A `timeouts` block with the given operations, each a Go duration string ("30m", "1h"). */
export function timeoutsBlock(ops: ('create' | 'update' | 'delete')[], defaults: Record<string, string>): NestedBlockSchema {
  const attributes: Record<string, AttributeSchema> = {};
  for (const op of ops) {
    attributes[op] = {
      type: 'string',
      optional: true,
      description: `How long ${op} may take before it is cancelled on the engine, as a duration like "30m" or "1h30m". Default ${defaults[op]}.`,
      validate: (v) => (typeof v === 'string' && parseDuration(v) !== undefined ? undefined : `expected a duration like "90s", "30m" or "1h30m", got ${JSON.stringify(v)}`),
    };
  }
  return { nesting: 'single', block: { description: 'Time limits for long operations.', attributes } };
}

export function ms(d: string): number {
  return parseDuration(d)!;
}

export const cloudletAttr = {
  type: 'string',
  computed: true,
  description: 'Id of the cloudlet (engine state directory) the object lives on: its placement.',
} as const satisfies AttributeSchema;

export function str(o: Obj, k: string): string | null {
  const v = o[k];
  return typeof v === 'string' ? v : null;
}

export function known(v: CtyValue | undefined): boolean {
  return v !== undefined && !isUnknown(v);
}

/** A source as the engine should see it: URLs as given, relative paths made absolute from Terraform's working directory. */
export function engineSource(s: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : path.resolve(s);
}

export function isUrl(s: string): boolean {
  return /^(https?|file):\/\//.test(s);
}

/** A copy of `o` without the keys given, typed as such (schemas built from shared attribute sets keep their types). */
export function without<T extends object, K extends keyof T>(o: T, ...keys: K[]): Omit<T, K> {
  const copy = { ...o };
  for (const k of keys) delete copy[k];
  return copy;
}
