// The API's typed methods, derived from the route table once, for every client: the engine client (Node,
// undici) and the dashboard (a browser, fetch) build theirs from this with their own transport. Route
// 'bases.import' is `api.bases.import(body)`; the arguments are, in order and where the route has them: the
// path's id, the JSON body (optional when every field is), the query, then call options. Raw routes
// (uploads, downloads, the handoff stream) are left to each client.

import { Static, TSchema } from '@sinclair/typebox';
import { ROUTES, RouteName, RouteSpec, Routes, routePath } from './routes';
import { OperationOf } from './schemas';

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

type IdArg<R> = R extends { readonly path: `${string}:id${string}` } ? [id: string] : [];
type BodyArg<R> = R extends { readonly body: infer B extends TSchema } ? (object extends Static<B> ? [body?: Static<B>] : [body: Static<B>]) : [];
type QueryArg<R> = R extends { readonly query: infer Q extends TSchema } ? [query?: Static<Q>] : [];
type Answer<R> = R extends { readonly result: infer X extends TSchema } ? { operation: OperationOf<Static<X>> } : R extends { readonly response: infer S extends TSchema } ? Static<S> : never;
type JsonMethod<R> = (...args: [...IdArg<R>, ...BodyArg<R>, ...QueryArg<R>, opts?: CallOptions]) => Promise<Answer<R>>;
type JsonRoute = { [K in RouteName]: Routes[K] extends { readonly kind: 'upload' | 'download' | 'stream' } ? never : K }[RouteName];
type Group<K> = K extends `${infer G}.${string}` ? G : never;
export type ApiGroups = { [G in Group<JsonRoute>]: { [K in JsonRoute as K extends `${G}.${infer M}` ? M : never]: JsonMethod<Routes[K]> } };

/** How a client sends one JSON call: method, path with its query, body (or undefined), options. */
export type Transport = (method: string, path: string, body: unknown, opts: CallOptions) => Promise<unknown>;

/** One method per JSON route, sending through `send`. */
export function typedMethods(send: Transport): ApiGroups {
  const groups: Record<string, Record<string, (...args: unknown[]) => Promise<unknown>>> = {};
  for (const name of Object.keys(ROUTES) as RouteName[]) {
    const r: RouteSpec = ROUTES[name];
    if (r.kind !== undefined && r.kind !== 'json') continue;
    const [group, method] = name.split('.');
    (groups[group] ??= {})[method] = (...args: unknown[]) => {
      let i = 0;
      const id = r.path.includes(':id') ? (args[i++] as string) : undefined;
      const body = r.body ? (args[i++] ?? {}) : undefined;
      const query = r.query ? (args[i++] as Record<string, string | number | undefined> | undefined) : undefined;
      const opts = (args[i] as CallOptions | undefined) ?? {};
      return send(r.method, withQuery(routePath(name, id), query), body, opts);
    };
  }
  // The loop above made exactly the methods ApiGroups lists (both come from ROUTES).
  return groups as unknown as ApiGroups;
}

export function withQuery(p: string, query: Record<string, string | number | undefined> | undefined): string {
  if (!query) return p;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `${p}?${s}` : p;
}
