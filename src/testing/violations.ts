/** One entry of Prism's `sl-violations` header. */
interface Violation {
  location?: (string | number)[];
  severity?: string;
  message?: string;
}

/**
 * Turns Prism's request violations (the `sl-violations` header of its 422) into the body the
 * real service sends for the same mistake: `validation_error` whose `param` names the first
 * offending field the way the server writes it (`batch[3].completion`, `run_id`, `limit`), and
 * whose message lists every violation. Undefined when the header holds no request error.
 */
export function validationErrorBody(header: string | undefined, requestId: string): { error: Record<string, string> } | undefined {
  if (!header) return undefined;
  let violations: Violation[];
  try {
    violations = JSON.parse(header) as Violation[];
  } catch {
    return undefined;
  }
  const errors = violations.filter((v) => v.severity === "Error" && v.location?.[0] === "request" && v.location.length >= 2);
  if (errors.length === 0) return undefined;
  const described = errors.map((v) => {
    const param = paramOf(v);
    return { param, text: param ? `${param}: ${reason(v.message)}` : (v.message ?? "invalid request") };
  });
  const error: Record<string, string> = {
    type: "invalid_request_error",
    code: "validation_error",
    message: [...new Set(described.map((d) => d.text))].join("; "),
  };
  const first = described.find((d) => d.param)?.param;
  if (first) error.param = first;
  error.request_id = requestId;
  return { error };
}

/** Prism's "Request body property lora_r must be >= 1" without the part `param` already says. */
function reason(message: string | undefined): string {
  if (!message) return "invalid";
  if (/required property '[^']+'/.test(message)) return "is required";
  return message.replace(/^Request (body|query|path|header)( (property|parameter) \S+)? /, "");
}

/** `["request", "body", "batch", "3", "completion"]` → `batch[3].completion`. */
function paramOf(v: Violation): string | undefined {
  const parts = (v.location ?? []).slice(2).map(String);
  // A missing property is reported on its parent: name the property itself.
  const missing = /required property '([^']+)'/.exec(v.message ?? "")?.[1];
  if (missing) parts.push(missing);
  let out = "";
  for (const part of parts) out += /^\d+$/.test(part) ? `[${part}]` : out === "" ? part : `.${part}`;
  return out === "" ? undefined : out;
}
