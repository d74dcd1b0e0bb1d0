// Synth-time validation shared by the L2 constructs: errors name the construct path and the prop, so the
// message points at the line of the app that is wrong.

import { IConstruct } from 'constructs';
import { Token } from 'cdktf';
import { PatternName, patternProblem, rangeProblem, RangeName } from '../../engine/contract/rules';

export function fail(scope: IConstruct, prop: string, message: string): never {
  throw new Error(`${scope.node.path}: invalid ${prop}: ${message}`);
}

/** A value only known at deploy time (a reference to another resource, a variable). */
export function isToken(v: unknown): boolean {
  return Token.isUnresolved(v);
}

// The value rules are the engine API's own (engine/contract/rules.ts, a file with no imports): a prop refused
// here would be refused by the provider at plan time and by the engine, in the same words.

export function checkName(scope: IConstruct, prop: string, v: string | undefined): void {
  const problem = v === undefined || isToken(v) ? undefined : patternProblem('name', v);
  if (problem) fail(scope, prop, problem);
}

export function checkHash(scope: IConstruct, prop: string, v: string | undefined): void {
  checkPattern(scope, prop, v, 'sha256');
}

export function checkPattern(scope: IConstruct, prop: string, v: string | undefined, rule: PatternName): void {
  const problem = v === undefined || isToken(v) ? undefined : patternProblem(rule, v);
  if (problem) fail(scope, prop, problem);
}

export function checkRange(scope: IConstruct, prop: string, v: number | undefined, rule: RangeName): void {
  const problem = v === undefined || isToken(v) ? undefined : rangeProblem(rule, v);
  if (problem) fail(scope, prop, problem);
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
