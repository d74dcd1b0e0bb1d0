// Which client a request came from (its x-cloudlet-client header: `terraform`, `cli`, `dashboard`), carried
// through the request's async work, operations included, so the services record it on what they make
// without every verb taking it as an argument. The dashboard marks what Terraform made.

import { AsyncLocalStorage } from 'node:async_hooks';

const current = new AsyncLocalStorage<{ client?: string }>();

/** Runs `work` (and whatever async work it starts) as a request of `client`. */
export function withClient<T>(client: string | undefined, work: () => T): T {
  return current.run({ client }, work);
}

/** The client of the request being served, for a record's `createdBy` (spread it: `...createdBy()`). */
export function createdBy(): { createdBy?: string } {
  const c = current.getStore()?.client;
  return c && /^[A-Za-z0-9._-]{1,40}$/.test(c) ? { createdBy: c } : {};
}
