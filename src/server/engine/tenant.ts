import { AsyncLocalStorage } from "node:async_hooks";

/**
 * On whose behalf an engine call is made: the server runs each request's handler as its API
 * key's tenant (`asTenant`), and the engine serves the tenants with work waiting in turn (see
 * `FairDispatch`), so one tenant's backlog delays another's call by about one call. Calls made
 * outside any tenant (the server's own: loading and unloading idle runs) are the tenant "".
 */
const current = new AsyncLocalStorage<string>();

/** Runs `fn` (and every engine call it makes, however deep in its promises) as `tenant`'s. */
export function asTenant<T>(tenant: string, fn: () => T): T {
  return current.run(tenant, fn);
}

/** The tenant of the engine call being made now. */
export function currentTenant(): string {
  return current.getStore() ?? "";
}
