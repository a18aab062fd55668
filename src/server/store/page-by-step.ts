import { validationError } from "../wire/api-error.js";

/** One page of a list ordered by step (metrics, checkpoints); the cursor is the page's last step. */
export function pageByStep<T extends { step: number }>(
  items: readonly T[],
  query: { limit: number; after?: string | undefined },
  operation: string,
): { object: "list"; data: T[]; has_more: boolean; next_cursor: string | null } {
  let start = 0;
  const step = stepCursor(query.after, operation);
  if (step !== undefined) {
    start = items.findIndex((item) => item.step > step);
    if (start < 0) start = items.length;
  }
  const data = items.slice(start, start + query.limit);
  const hasMore = start + query.limit < items.length;
  const last = data[data.length - 1];
  return { object: "list", data, has_more: hasMore, next_cursor: hasMore && last ? String(last.step) : null };
}

/**
 * The step an `after` cursor of a list by step stands for.
 * @throws ApiError 400 naming `after` when it is not such a cursor.
 */
export function stepCursor(after: string | undefined, operation: string): number | undefined {
  if (after === undefined) return undefined;
  if (!/^\d{1,10}$/.test(after)) throw validationError(`after: not a cursor returned by ${operation}`, "after");
  return Number(after);
}
