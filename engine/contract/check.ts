// Checking values against the contract's schemas, with errors a person can act on: the first problem, named
// by its dotted path (`overlay.sha256: expected 64 lowercase hexadecimal digits, got "x"`), in the words of
// the schema's description. A union of objects is told apart by the first required property of each choice
// (`source`, `disk` or `instanceId` for a base import), so a request is checked against the one it meant.
// Checks are compiled once per schema (TypeBox's compiler) because the server runs them on every request.

import { Kind, Static, TSchema } from '@sinclair/typebox';
import { TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { CloudletError } from '../errors';

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function compiledFor(schema: TSchema): TypeCheck<TSchema> {
  let c = compiled.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    compiled.set(schema, c);
  }
  return c;
}

/** The choices of a union whose every choice is an object (a base import: archive, disk or capture). */
function objectChoices(schema: TSchema): TSchema[] | undefined {
  if (schema[Kind] !== 'Union') return undefined;
  const choices = (schema as TSchema & { anyOf: TSchema[] }).anyOf;
  return choices.every((c) => c[Kind] === 'Object') ? choices : undefined;
}

/** The first problem with `value`, or undefined when it fits `schema`. `where` prefixes the path. */
export function problemWith(schema: TSchema, value: unknown, where = ''): string | undefined {
  let target = schema;
  const choices = objectChoices(schema);
  if (choices && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    // Checked against the choice it means, by each choice's first required property.
    const choice = choices.find((c) => {
      const first = (c as TSchema & { required?: string[] }).required?.[0];
      return first !== undefined && (value as Record<string, unknown>)[first] !== undefined;
    });
    if (!choice) return `${where ? where + ': ' : ''}${String(schema.description ?? 'not one of the accepted shapes')}`;
    target = choice;
  }
  const check = compiledFor(target);
  if (check.Check(value)) return undefined;
  const first = check.Errors(value).First();
  if (!first) return 'does not match the schema';
  const dotted = first.path.split('/').filter(Boolean).join('.');
  const name = [where, dotted].filter(Boolean).join('.');
  const desc = typeof first.schema.description === 'string' ? first.schema.description : undefined;
  const prefix = name ? `${name}: ` : '';
  if (first.type === ValueErrorType.ObjectRequiredProperty) return `${prefix}required${desc ? `, ${desc}` : ''}`;
  return `${prefix}${desc ? `expected ${desc}` : first.message.toLowerCase()}, got ${JSON.stringify(first.value) ?? 'nothing'}`;
}

/** `value` as the schema's type, or INVALID_ARGUMENT naming the first problem. */
export function checked<T extends TSchema>(schema: T, value: unknown, where = ''): Static<T> {
  const problem = problemWith(schema, value, where);
  if (problem !== undefined) throw new CloudletError('INVALID_ARGUMENT', problem);
  return value; // problemWith found nothing: the value has the schema's type
}

/** A query string as the schema's type: numbers and booleans converted from their text first. */
export function checkedQuery<T extends TSchema>(schema: T, query: URLSearchParams): Static<T> {
  const raw: Record<string, string> = {};
  for (const [k, v] of query) raw[k] = v;
  return checked(schema, Value.Convert(schema, raw));
}
