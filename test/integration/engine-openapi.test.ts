// The engine's OpenAPI document against a real engine: it passes a well-kept OpenAPI 3.1 validator
// (@seriousme/openapi-schema-validator, run as its own CLI), every operation it lists is answered by the
// engine with a status the document lists for it (never "no such endpoint"), and on every documented path the
// methods it does not list are refused. (The unit test openapi.test.ts compares the server's dispatch table
// with the document; every JSON answer the suite sees is checked against its schema, see setup-env.ts.)

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROUTES } from '../../engine/contract/routes';
import { repoRoot } from '../../provider/build';
import { TestEngine } from '../helpers/engine';

type Doc = { openapi: string; paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown>; requestBody?: { content: Record<string, unknown> } }>> };

let e: TestEngine;
let doc: Doc;

beforeAll(async () => {
  e = await TestEngine.start('openapi');
  doc = (await e.client.engine.openapi()) as unknown as Doc;
});
afterAll(async () => {
  await e?.stop();
});

const VALIDATOR = path.join(repoRoot(), 'node_modules', '@seriousme', 'openapi-schema-validator', 'bin', 'validate-api-cli.js');

function validate(d: unknown): { valid: boolean; out: string } {
  const file = path.join(e.stateDir, `openapi-${Date.now()}.json`);
  fs.writeFileSync(file, JSON.stringify(d));
  const r = spawnSync(process.execPath, [VALIDATOR, file], { encoding: 'utf8' });
  return { valid: r.status === 0 && /"valid":\s*true/.test(r.stdout), out: r.stdout + r.stderr };
}

test('GET /v1/openapi.json is a valid OpenAPI 3.1 document', () => {
  expect(doc.openapi).toBe('3.1.0');
  const ok = validate(doc);
  expect(ok.out).toMatch(/"valid":\s*true/);
  expect(ok.valid).toBe(true);
  // The validator does refuse broken documents: one without its info object, one with a path parameter
  // that is not declared required.
  const noInfo = JSON.parse(JSON.stringify(doc)) as Doc & { info?: unknown };
  delete noInfo.info;
  expect(validate(noInfo).valid).toBe(false);
  const optionalId = JSON.parse(JSON.stringify(doc)) as Doc;
  (optionalId.paths['/v1/bases/{id}'].get as unknown as { parameters: { required: boolean }[] }).parameters[0].required = false;
  expect(validate(optionalId).valid).toBe(false);
});

async function send(method: string, p: string, type?: string, body?: string) {
  const headers: Record<string, string> = { authorization: `Bearer ${e.token}` };
  if (type) headers['content-type'] = type;
  const r = await fetch(e.endpoint + p, { method, headers, body });
  const text = await r.text();
  let json: { error?: { code: string; message: string } } = {};
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    // a raw answer (an archive, an overlay file): only the status matters here
  }
  return { status: r.status, error: json.error };
}

test('every documented operation is answered, with a status it documents', async () => {
  let probed = 0;
  for (const [p, item] of Object.entries(doc.paths)) {
    const url = p.replace('{id}', 'nope-0');
    for (const [method, op] of Object.entries(item)) {
      const types = Object.keys(op.requestBody?.content ?? {});
      for (const type of types.length ? types : [undefined]) {
        const body = type === 'application/json' ? '{}' : type ? '' : undefined;
        const r = await send(method.toUpperCase(), url, type, body);
        const seen = { operation: op.operationId, type, status: r.status, message: r.error?.message };
        expect(seen.message ?? '').not.toMatch(/no such endpoint|is not allowed on/);
        expect(r.status).not.toBe(500);
        expect({ ...seen, documented: Object.keys(op.responses).includes(String(r.status)) }).toEqual({ ...seen, documented: true });
        probed++;
      }
    }
  }
  expect(probed).toBe(Object.keys(ROUTES).length);
});

test('methods a path does not document are refused, and unknown paths are not found', async () => {
  for (const [p, item] of Object.entries(doc.paths)) {
    const url = p.replace('{id}', 'nope-0');
    for (const method of ['GET', 'POST', 'DELETE', 'PUT', 'PATCH']) {
      if (item[method.toLowerCase()]) continue;
      const r = await send(method, url, 'application/json', method === 'GET' ? undefined : '{}');
      expect({ method, p, status: r.status, code: r.error?.code }).toEqual({ method, p, status: 400, code: 'INVALID_ARGUMENT' });
      expect(r.error?.message).toMatch(/is not allowed on/);
    }
  }
  for (const p of ['/v1/nothing', '/v1/bases/a/b/c', '/v1', '/v2/info', '/v1/openapi']) {
    const r = await send('GET', p);
    expect({ p, status: r.status, code: r.error?.code }).toEqual({ p, status: 404, code: 'NOT_FOUND' });
  }
});
