import type { WithRequestId } from "./core/request-id.js";

/** A page of a cursor-paginated list, as on the wire. */
export interface CursorPage<T> {
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

/**
 * The result of a list call: `await` it for the first page, or `for await` over it for every
 * item of every page (the next page is fetched only when the loop gets there).
 */
export class PagePromise<P extends CursorPage<T>, T> implements PromiseLike<WithRequestId<P>>, AsyncIterable<T> {
  readonly #fetchPage: (after: string | undefined) => Promise<WithRequestId<P>>;
  #first: Promise<WithRequestId<P>> | undefined;

  /** @internal */
  constructor(fetchPage: (after: string | undefined) => Promise<WithRequestId<P>>) {
    this.#fetchPage = fetchPage;
  }

  #firstPage(): Promise<WithRequestId<P>> {
    this.#first ??= this.#fetchPage(undefined);
    return this.#first;
  }

  then<A = WithRequestId<P>, B = never>(
    onfulfilled?: ((value: WithRequestId<P>) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#firstPage().then(onfulfilled, onrejected);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    let page = await this.#firstPage();
    for (;;) {
      yield* page.data;
      if (!page.has_more || page.next_cursor === null) return;
      page = await this.#fetchPage(page.next_cursor);
    }
  }
}
