/** The object without its `undefined` fields (an `after: undefined` is no cursor, not a bad one). */
export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
