// Synth-time validation shared by the L2 constructs: errors name the construct path and the prop, so the
// message points at the line of the app that is wrong.

import { IConstruct } from 'constructs';
import { Token } from 'cdktf';

export function fail(scope: IConstruct, prop: string, message: string): never {
  throw new Error(`${scope.node.path}: invalid ${prop}: ${message}`);
}

/** A value only known at deploy time (a reference to another resource, a variable). */
export function isToken(v: unknown): boolean {
  return Token.isUnresolved(v);
}

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const HEX64 = /^[0-9a-f]{64}$/;

export function checkName(scope: IConstruct, prop: string, v: string | undefined): void {
  if (v !== undefined && !isToken(v) && !NAME_RE.test(v))
    fail(scope, prop, `expected lowercase letters, digits and dashes, starting with a letter or digit, at most 63 characters; got ${JSON.stringify(v)}`);
}

export function checkHash(scope: IConstruct, prop: string, v: string | undefined): void {
  if (v !== undefined && !isToken(v) && !HEX64.test(v)) fail(scope, prop, `expected 64 lowercase hexadecimal digits, got ${JSON.stringify(v)}`);
}

export function checkCount(scope: IConstruct, prop: string, v: number | undefined, min: number, max: number): void {
  if (v !== undefined && !isToken(v) && !(Number.isInteger(v) && v >= min && v <= max)) fail(scope, prop, `expected a whole number from ${min} to ${max}, got ${v}`);
}

/** A default instance name from the construct path: lowercase, dashes, short, and unique per path. */
export function nameFromPath(scope: IConstruct): string {
  const raw = scope.node.path
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (raw.length <= 63 && raw !== '') return raw;
  const hash = scope.node.addr.slice(0, 8);
  return `${raw.slice(0, 54).replace(/-+$/, '')}-${hash}`;
}
