import { APIPromise } from "./core/api-promise.js";
import type { WithRequestId } from "./core/request-id.js";
import { SignalError } from "./errors.js";

/** A page of a cursor-paginated list, as on the wire. */
export interface CursorPage<T> {
  object: "list";
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

/** @internal Fetches the page after `after` (`undefined`: the first page). */
export type PageFetcher<Item> = (after: string | undefined) => APIPromise<CursorPage<Item>>;

/**
 * One page of a list: the wire fields (`data`, `has_more`, `next_cursor`) plus the way on.
 * `for await (const item of page)` walks every item from this page to the end of the list,
 * fetching each next page only when the loop gets there; `iterPages()` walks the pages.
 * To resume later, keep `next_cursor` and pass it as `after` to the same list method.
 */
export class Page<Item> implements AsyncIterable<Item> {
  readonly object: "list" = "list";
  /** The items of this page. */
  readonly data: Item[];
  /** Whether the server has items after this page. */
  readonly has_more: boolean;
  /** The cursor to pass as `after` for the next page; `null` on the last page. */
  readonly next_cursor: string | null;
  readonly #fetch: PageFetcher<Item>;

  /** @internal Made by list methods. */
  constructor(page: CursorPage<Item>, fetch: PageFetcher<Item>) {
    this.data = page.data;
    this.has_more = page.has_more;
    this.next_cursor = page.next_cursor;
    this.#fetch = fetch;
    // Fields a newer server adds to the page (a `total`, say) stay readable, as on every result.
    for (const [key, value] of Object.entries(page)) {
      if (!(key in this)) (this as unknown as Record<string, unknown>)[key] = value;
    }
  }

  /** True when another page follows (`has_more` and a cursor). */
  hasNextPage(): boolean {
    return this.has_more && this.next_cursor !== null;
  }

  /** The query that fetches the next page, `null` on the last page. */
  nextPageParams(): { after: string } | null {
    return this.hasNextPage() ? { after: this.next_cursor as string } : null;
  }

  /**
   * Fetches the next page.
   * @throws SignalError when there is none (check `hasNextPage()` first).
   */
  getNextPage(): PagePromise<Item> {
    const params = this.nextPageParams();
    if (params === null) {
      throw new SignalError("No next page: this is the last page of the list (check hasNextPage() first).");
    }
    return new PagePromise(this.#fetch, params.after);
  }

  /** This page and every later one, each fetched when the loop gets there. */
  async *iterPages(): AsyncGenerator<Page<Item>, void, undefined> {
    let page: Page<Item> = this;
    yield page;
    while (page.hasNextPage()) {
      page = await page.getNextPage();
      yield page;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Item> {
    for await (const page of this.iterPages()) yield* page.data;
  }

  /** The wire list. */
  toJSON(): CursorPage<Item> {
    return { object: "list", data: this.data, has_more: this.has_more, next_cursor: this.next_cursor };
  }
}

/**
 * What a list method returns: an `APIPromise` of the first page (`await` it, `.withResponse()`)
 * that is also async-iterable over every item of every page:
 *
 * @example
 * for await (const run of client.listRuns()) console.log(run.run_id);
 * const page = await client.listRuns({ limit: 10 });
 * if (page.hasNextPage()) await page.getNextPage();
 * const resumed = await client.listRuns({ after: savedCursor });
 */
export class PagePromise<Item> extends APIPromise<Page<Item>> implements AsyncIterable<Item> {
  /** @internal */
  constructor(fetch: PageFetcher<Item>, after?: string | undefined) {
    const first = fetch(after);
    super(first._raw(), async () => new Page(await first, fetch));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Item> {
    const page: WithRequestId<Page<Item>> = await this;
    yield* page;
  }
}
