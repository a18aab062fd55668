/**
 * Python's `str.strip`, `lstrip` and `rstrip` (and Jinja's `trim` filter, which is `strip`) for
 * chat templates. `@huggingface/jinja` runs them as JavaScript's `trim*`, which ignores the
 * characters argument (Qwen3's template calls `content.lstrip('\n')`, so an answer starting with
 * spaces lost them) and strips a slightly different set of whitespace. `pythonStrings` rewrites a
 * parsed template so those calls go to the functions of `PYTHON_STRING_GLOBALS` instead.
 */

/** The characters Python's `str.isspace()` is true for. */
const PY_WHITESPACE = new Set([
  ..."\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000",
]);

type Side = "both" | "left" | "right";

/** `text.strip(chars)` by Python's rules: code points, whitespace when `chars` is None. */
function pyStrip(side: Side, text: unknown, chars: unknown, method: string): string {
  if (typeof text !== "string") throw new Error(`'${text === null ? "NoneType" : typeof text}' object has no attribute '${method}'`);
  if (chars !== undefined && chars !== null && typeof chars !== "string") throw new Error(`${method} arg must be None or str`);
  const set = typeof chars === "string" ? new Set(chars) : PY_WHITESPACE;
  const points = [...text];
  let start = 0;
  let end = points.length;
  if (side !== "right") while (start < end && set.has(points[start]!)) start++;
  if (side !== "left") while (end > start && set.has(points[end - 1]!)) end--;
  return points.slice(start, end).join("");
}

const NAMES = { strip: "__signal_py_strip", lstrip: "__signal_py_lstrip", rstrip: "__signal_py_rstrip" } as const;

/** Template globals the rewritten calls go to. */
export const PYTHON_STRING_GLOBALS: Readonly<Record<string, (text: unknown, chars?: unknown) => string>> = {
  [NAMES.strip]: (text, chars) => pyStrip("both", text, chars, "strip"),
  [NAMES.lstrip]: (text, chars) => pyStrip("left", text, chars, "lstrip"),
  [NAMES.rstrip]: (text, chars) => pyStrip("right", text, chars, "rstrip"),
};

type Node = { type?: unknown; [key: string]: unknown };

const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null;
const identifier = (value: string): Node => ({ type: "Identifier", value });

/**
 * Rewrites, in place, `x.strip(...)`, `x.lstrip(...)`, `x.rstrip(...)` into calls of the Python
 * versions with `x` first, and `x | trim` / `x | trim(chars)` into `strip`.
 */
export function pythonStrings(node: unknown): void {
  if (Array.isArray(node)) {
    for (const child of node) pythonStrings(child);
    return;
  }
  if (!isNode(node)) return;
  for (const value of Object.values(node)) pythonStrings(value);
  if (node.type === "CallExpression" && isNode(node.callee)) {
    const callee = node.callee;
    const property = callee.property;
    if (callee.type === "MemberExpression" && callee.computed === false && isNode(property) && property.type === "Identifier") {
      const name = NAMES[property.value as keyof typeof NAMES] as string | undefined;
      if (name !== undefined && Object.hasOwn(NAMES, property.value as string)) {
        node.callee = identifier(name);
        node.args = [callee.object, ...(node.args as unknown[])];
      }
    }
  } else if (node.type === "FilterExpression" && isNode(node.filter)) {
    const filter = node.filter;
    const plain = filter.type === "Identifier" && filter.value === "trim";
    const withArgs = filter.type === "CallExpression" && isNode(filter.callee) && filter.callee.type === "Identifier" && filter.callee.value === "trim";
    if (plain || withArgs) {
      const args = withArgs ? (filter.args as unknown[]) : [];
      node.type = "CallExpression";
      node.callee = identifier(NAMES.strip);
      node.args = [node.operand, ...args];
      delete node.operand;
      delete node.filter;
    }
  }
}
