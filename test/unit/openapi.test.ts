// The API contract without an engine: the server's dispatch table and the OpenAPI document list the same
// routes, the client has a typed method for every JSON route, request checks name the first problem in the
// rule's words, and the one set of value rules is what the engine, the provider and the constructs use.

import { ApiServer } from '../../engine/api/server';
import { EngineClient } from '../../engine/client/client';
import { checked, checkedQuery, problemWith } from '../../engine/contract/check';
import { openApiDocument } from '../../engine/contract/openapi';
import { ROUTES, RouteName, routePath } from '../../engine/contract/routes';
import { PATTERNS, patternProblem, rangeProblem } from '../../engine/contract/rules';
import * as S from '../../engine/contract/schemas';
import { Engine } from '../../engine/core/engine';
import { HEX64, NAME_RE } from '../../engine/core/context';
import { validName, validRange } from '../../provider/cloudlet/common';

const doc = openApiDocument('test') as { paths: Record<string, Record<string, { operationId: string }>>; components: { schemas: Record<string, unknown> } };

test('the server answers exactly the routes the document lists', () => {
  // The server only reads the engine when a request arrives; its dispatch table needs none.
  const server = new ApiServer({ engine: {} as Engine, token: 't' });
  const served = new Set(server.answered.map((r) => `${r.method} ${r.path.replace(':id', '{id}')}`));
  const documented = new Set(Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`)));
  expect([...served].sort()).toEqual([...documented].sort());
  expect(served.size).toBeGreaterThanOrEqual(25);
  // Named shapes are components, referenced rather than repeated.
  for (const name of ['Base', 'Overlay', 'Instance', 'Operation', 'Info', 'Error']) expect(doc.components.schemas[name]).toBeDefined();
  expect(JSON.stringify(doc)).not.toContain('"$id"');
});

test('the client has a typed method for every JSON route and none for raw ones', async () => {
  const c = new EngineClient({ endpoint: 'http://127.0.0.1:9', token: 't' });
  try {
    for (const [name, r] of Object.entries(ROUTES) as [RouteName, { kind?: string }][]) {
      const [group, method] = name.split('.');
      const fn = (c as unknown as Record<string, Record<string, unknown> | undefined>)[group]?.[method];
      expect({ name, typed: typeof fn }).toEqual({ name, typed: r.kind === undefined || r.kind === 'json' ? 'function' : 'undefined' });
    }
    // An unreachable engine is a typed error through the typed methods too.
    await expect(c.bases.get('x')).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
  } finally {
    await c.close();
  }
  expect(routePath('bases.get', 'a/b')).toBe('/v1/bases/a%2Fb');
  expect(() => routePath('bases.get')).toThrow(/needs an id/);
});

test('request checks name the first problem, in the rule’s words', () => {
  expect(problemWith(S.CreateInstance, { name: 'Bad Name!', baseId: 'b' })).toBe(`name: expected ${PATTERNS.name.description}, got "Bad Name!"`);
  expect(problemWith(S.CreateInstance, { baseId: 'b' })).toMatch(/^name: required, lowercase letters/);
  expect(problemWith(S.CreateInstance, { name: 'ok', baseId: 42 })).toMatch(/^baseId: /);
  expect(problemWith(S.CreateInstance, { name: 'ok', baseId: 'b', overlay: 'x' })).toBe('overlay: expected an object with id, url and/or sha256, got "x"');
  expect(problemWith(S.CreateInstance, { name: 'ok', baseId: 'b', overlay: { sha256: 'nothex' } })).toMatch(/^overlay\.sha256: expected 64 lowercase hexadecimal digits/);
  expect(problemWith(S.CreateInstance, { name: 'ok', baseId: 'b' })).toBeUndefined();
  // A union of objects is told apart by each choice's first required property.
  expect(problemWith(S.ImportBase, {})).toMatch(/^give source .* disk .* or instanceId/);
  expect(problemWith(S.ImportBase, { source: '/a.tar', sha256: 'nothex' })).toMatch(/^sha256: expected the base id/);
  expect(problemWith(S.ImportBase, { disk: '/d.raw' })).toMatch(/^name: required/);
  expect(problemWith(S.ImportBase, { disk: '/d.raw', name: 'b', memoryMiB: 32 })).toBe('memoryMiB: expected a whole number from 64 to 65536, got 32');
  expect(problemWith(S.ImportBase, { disk: '/d.raw', name: 'b', ready: 'soon' })).toMatch(/^ready: expected when the booted VM is saved: 'auto'.*, got "soon"$/);
  expect(problemWith(S.ImportBase, { instanceId: 'i-1', name: 'b' })).toBeUndefined();
  expect(problemWith(S.PowerRequest, { state: 'off' })).toMatch(/^state: expected 'running', 'paused' or 'stopped'/);
  expect(() => checked(S.ExecRequest, { command: '' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
  expect(checkedQuery(S.WaitQuery, new URLSearchParams('wait=1.5'))).toEqual({ wait: 1.5 });
  expect(() => checkedQuery(S.WaitQuery, new URLSearchParams('wait=999'))).toThrow(/^wait: expected a number from 0 to 60, got 999/);
  expect(() => checkedQuery(S.WaitQuery, new URLSearchParams('wait=soon'))).toThrow(/^wait: /);
});

test('one set of value rules for the engine, the provider and the constructs', () => {
  expect(NAME_RE).toBe(PATTERNS.name.pattern);
  expect(HEX64).toBe(PATTERNS.sha256.pattern);
  for (const v of ['web', 'a-1', 'x'.repeat(63), 'Bad', '-a', 'x'.repeat(64), '', 7]) {
    expect({ v, provider: validName(v as string) }).toEqual({ v, provider: patternProblem('name', v) });
    expect({ v, engine: problemWith(S.CreateInstance, { name: v, baseId: 'b' }) === undefined }).toEqual({ v, engine: patternProblem('name', v) === undefined });
  }
  for (const v of [0, 1, 19, 20, 2.5]) expect({ v, provider: validRange('compressionLevel')(v) }).toEqual({ v, provider: rangeProblem('compressionLevel', v) });
});
