// The OpenAPI 3.1 document of the engine API, generated from the route table (served at GET
// /v1/openapi.json). Schemas with an `$id` become components and are referenced; every operation lists the
// statuses of the error codes it may return, from the one error table. Two routes share a method and path
// only when they differ by media type (an overlay by URL or capture as JSON, or uploaded as raw bytes): they
// become one operation with two request media types.

import { TSchema } from '@sinclair/typebox';
import { ERRORS, ErrorCode } from '../errors';
import { COMMON_ERRORS, ROUTES, RouteName, RouteSpec } from './routes';
import { ErrorBody } from './schemas';

type Json = Record<string, unknown>;

/** Plain JSON of a schema, its named parts moved into `components` and referenced. */
class SchemaTable {
  readonly components: Record<string, Json> = {};

  ref(schema: TSchema): Json {
    return this.plain(JSON.parse(JSON.stringify(schema)) as Json);
  }

  private plain(s: Json): Json {
    const out: Json = {};
    for (const [k, v] of Object.entries(s)) {
      if (k === '$id') continue;
      if (Array.isArray(v)) out[k] = v.map((x: unknown) => (typeof x === 'object' && x !== null ? this.plain(x as Json) : x));
      else if (typeof v === 'object' && v !== null) out[k] = k === 'properties' || k === 'patternProperties' ? this.each(v as Json) : this.plain(v as Json);
      else out[k] = v;
    }
    const id = s.$id;
    if (typeof id !== 'string') return out;
    this.components[id] ??= out;
    return { $ref: `#/components/schemas/${id}` };
  }

  private each(props: Json): Json {
    const out: Json = {};
    for (const [k, v] of Object.entries(props)) out[k] = this.plain(v as Json);
    return out;
  }
}

function errorResponses(codes: readonly ErrorCode[]): Json {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of [...COMMON_ERRORS, ...codes]) {
    const list = byStatus.get(ERRORS[c].status) ?? [];
    if (!list.includes(c)) list.push(c);
    byStatus.set(ERRORS[c].status, list);
  }
  const out: Json = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = {
      description: list.map((c) => `${c}: ${ERRORS[c].summary}`).join('; '),
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return out;
}

function security(r: RouteSpec): Json[] | undefined {
  if (r.access === 'signed-overlay') return [{ bearer: [] }, {}];
  if (r.access === 'public') return [{}];
  return undefined; // the document's default: the API token (or, where the path allows one, a handoff token) as a bearer token
}

function accessNote(r: RouteSpec): string {
  if (r.access === 'signed-overlay') return ' Without a token, the signed URL (`sig`) an overlay answer gives is enough.';
  if (r.access === 'handoff-instance' || r.access === 'handoff-session') return ' A handoff token for this instance is accepted in place of the API token.';
  if (r.access === 'public') return ' No token needed: the body carries the credentials (or the session cookie is ended).';
  return '';
}

function operation(name: RouteName, r: RouteSpec, t: SchemaTable): Json {
  const parameters: Json[] = [];
  if (r.path.includes(':id')) parameters.push({ name: 'id', in: 'path', required: true, schema: { type: 'string' } });
  const query = r.query ? t.ref(r.query) : undefined;
  for (const [k, v] of Object.entries((query?.properties ?? {}) as Json)) parameters.push({ name: k, in: 'query', required: false, schema: v });
  const op: Json = { operationId: name, summary: r.summary, description: r.summary + '.' + accessNote(r), tags: [name.split('.')[0]] };
  if (parameters.length) op.parameters = parameters;
  if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: t.ref(r.body) } } };
  if (r.kind === 'upload') op.requestBody = { required: true, content: { [r.media!]: { schema: { type: 'string', contentMediaType: r.media } } } };
  const success: Json = { description: r.summary };
  if (r.response) success.content = { 'application/json': { schema: t.ref(r.response) } };
  else if (r.media) success.content = { [r.media]: { schema: { type: 'string', contentMediaType: r.media } } };
  if (r.kind === 'download') op.responses = { [String(r.status)]: success, '206': { ...success, description: 'The requested range' } };
  else op.responses = { [String(r.status)]: success };
  Object.assign(op.responses as Json, errorResponses(r.errors ?? []));
  if (r.result) {
    op['x-operation-result'] = t.ref(r.result);
    op.description = `${String(op.description)} Once the operation succeeds, its \`result\` is the \`x-operation-result\` schema.`;
  }
  const sec = security(r);
  if (sec) op.security = sec;
  return op;
}

/** Two operations on one method and path (JSON and raw bodies) as one. */
function merged(a: Json, b: Json): Json {
  const bodyA = (a.requestBody as Json | undefined)?.content as Json | undefined;
  const bodyB = (b.requestBody as Json | undefined)?.content as Json | undefined;
  return {
    ...a,
    summary: `${String(a.summary)}; or ${String(b.summary).charAt(0).toLowerCase()}${String(b.summary).slice(1)}`,
    description: `${String(a.description)} With a raw body (${Object.keys(bodyB ?? {}).join(', ')}): ${String(b.description)}`,
    parameters: [...((a.parameters as Json[]) ?? []), ...((b.parameters as Json[]) ?? [])],
    requestBody: { required: true, content: { ...bodyA, ...bodyB } },
    responses: { ...(a.responses as Json), ...(b.responses as Json) },
  };
}

export function openApiDocument(version: string): Json {
  const t = new SchemaTable();
  const paths: Record<string, Json> = {};
  for (const [name, r] of Object.entries(ROUTES) as [RouteName, RouteSpec][]) {
    const p = r.path.replace(':id', '{id}');
    const item = (paths[p] ??= {});
    const method = r.method.toLowerCase();
    const op = operation(name, r, t);
    item[method] = item[method] ? merged(item[method] as Json, op) : op;
  }
  t.ref(ErrorBody);
  return {
    openapi: '3.1.0',
    info: {
      title: 'cloudlet engine API',
      version,
      description: 'The node-local cloudlet engine: base VMs, VM overlays, synthesized instances and VM handoff. Errors are `{"error":{"code","message"}}` with the codes listed per operation.',
    },
    servers: [{ url: '/', description: 'the engine (a unix socket by default, or TCP with --listen)' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: t.components,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The engine API token (<state>/token), or a handoff token where an operation says so.' } },
    },
  };
}
