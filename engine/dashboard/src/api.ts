// The dashboard's way to the engine: the typed API methods every client has (engine/contract/methods.ts) over
// the browser's fetch, with the session cookie (sent by the browser, never read by the page) and the session's
// CSRF token on every request that changes something. Errors are the engine's typed errors.

import { ApiGroups, typedMethods } from '../../contract/methods';
import { CLIENT_HEADER, CSRF_HEADER, ROUTES, routePath } from '../../contract/routes';

let csrf = '';

/** The session's CSRF token, from the login answer or GET dashboard/session. */
export function setCsrf(token: string): void {
  csrf = token;
}

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

function headers(json: boolean): Record<string, string> {
  return { [CLIENT_HEADER]: 'dashboard', ...(csrf ? { [CSRF_HEADER]: csrf } : {}), ...(json ? { 'content-type': 'application/json' } : {}) };
}

async function answer(res: Response): Promise<unknown> {
  const text = await res.text();
  let body: unknown = {};
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new ApiError('INTERNAL', `the engine answered ${res.status} with a body that is not JSON`, res.status);
  }
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string } }).error;
    throw new ApiError(e?.code ?? 'INTERNAL', e?.message ?? `HTTP ${res.status}`, res.status);
  }
  return body;
}

export const api: ApiGroups = typedMethods(async (method, path, body, opts) => {
  const res = await fetch(path, { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', signal: opts.signal });
  return answer(res);
});

/**
 * Uploads a file as an overlay (checked whole against its base) or a base archive (verified as it arrives),
 * reporting bytes sent.
 */
export function uploadFile(file: File, kind: 'overlay' | 'base', onProgress: (sent: number, total: number) => void): Promise<unknown> {
  const route = kind === 'base' ? ROUTES['bases.upload'] : ROUTES['overlays.upload'];
  // XMLHttpRequest rather than fetch: it reports upload progress.
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(route.method, route.path);
    for (const [k, v] of Object.entries(headers(false))) x.setRequestHeader(k, v);
    x.setRequestHeader('content-type', route.media);
    x.upload.onprogress = (e) => onProgress(e.loaded, e.total);
    x.onload = () => void answer(new Response(x.responseText, { status: x.status })).then(resolve, reject);
    x.onerror = () => reject(new ApiError('ENGINE_UNAVAILABLE', 'the upload did not reach the engine', 0));
    x.send(file);
  });
}

/** Saves an overlay file from the engine (with the session, never through a signed URL in the page). */
export async function downloadOverlay(id: string): Promise<void> {
  const res = await fetch(routePath('overlays.file', id), { headers: headers(false), credentials: 'same-origin' });
  if (!res.ok) await answer(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = `overlay-${id.slice(0, 12)}.clov`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/** What a failure says, for the page. */
export function describe(e: unknown): string {
  return e instanceof ApiError ? `${e.code}: ${e.message}` : String((e as Error)?.message ?? e);
}
