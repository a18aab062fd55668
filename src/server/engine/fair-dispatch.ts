/** One call waiting to be posted to a worker. */
interface Waiting {
  /** The worker runs it to completion before it reads its next message (everything but sampling). */
  blocking: boolean;
  post: () => void;
}

/**
 * The order in which one worker is given its calls, fair between tenants (API keys).
 *
 * A worker runs every call but sampling to completion before it reads the next message, so
 * calls posted as they come would queue in the worker in arrival order, and one tenant's
 * backlog (200 forward passes) would delay every other tenant's call by all of it. Here a
 * worker has at most one blocking call posted at a time; the others wait in one queue per
 * tenant, and the next is taken from the tenants in turn (the tenant served goes to the back).
 * So another tenant's call waits for the call in progress and at most one call of each other
 * tenant with work waiting: with one tenant flooding, about one of its calls.
 *
 * Sampling calls join the worker's continuous batch and do not block it, so they are posted as
 * soon as they reach the head of their tenant's queue. A tenant's calls are posted in the order
 * they were made (which is what keeps a run's calls ordered: a run has one tenant).
 */
export class FairDispatch {
  readonly #queues = new Map<string, Waiting[]>();
  #busy = false;

  /** Posts `post` now, or once it is its tenant's turn. */
  submit(tenant: string, blocking: boolean, post: () => void): void {
    const queue = this.#queues.get(tenant);
    if (queue) queue.push({ blocking, post });
    else this.#queues.set(tenant, [{ blocking, post }]);
    this.#pump();
  }

  /** The blocking call posted last has been answered: the next may go. */
  done(): void {
    this.#busy = false;
    this.#pump();
  }

  /** Calls waiting, over all tenants. */
  get waiting(): number {
    let n = 0;
    for (const queue of this.#queues.values()) n += queue.length;
    return n;
  }

  /** Forgets every waiting call (the worker is gone; their callers are failed elsewhere). */
  clear(): void {
    this.#queues.clear();
    this.#busy = false;
  }

  #pump(): void {
    for (const [tenant, queue] of this.#queues) {
      while (queue.length > 0 && !queue[0]!.blocking) queue.shift()!.post();
      if (queue.length === 0) this.#queues.delete(tenant);
    }
    if (this.#busy) return;
    // The first tenant in the map with work is the one served longest ago; it goes to the back.
    for (const [tenant, queue] of this.#queues) {
      this.#queues.delete(tenant);
      this.#busy = true;
      queue.shift()!.post();
      while (queue.length > 0 && !queue[0]!.blocking) queue.shift()!.post();
      if (queue.length > 0) this.#queues.set(tenant, queue);
      return;
    }
  }
}
