/** One request as the scripted fetch saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: Headers;
  body: string;
  at: number;
}

/** One scripted answer: a response, an error to throw, or a function of the request. */
export type Step = Response | Error | ((request: Request, seen: SeenRequest) => Response | Promise<Response>);

/**
 * A fetch that answers from a script, one step per attempt, and records every request. The
 * last step repeats when the script runs out.
 */
export function scriptedFetch(steps: Step[]) {
  const seen: SeenRequest[] = [];
  const fetch = async (request: Request): Promise<Response> => {
    const entry: SeenRequest = {
      method: request.method,
      url: request.url,
      headers: new Headers(request.headers),
      body: request.body ? await request.text() : "",
      at: Date.now(),
    };
    seen.push(entry);
    const step = steps[Math.min(seen.length - 1, steps.length - 1)];
    if (step === undefined) throw new Error("empty script");
    if (step instanceof Error) throw step;
    if (typeof step === "function") return step(request, entry);
    return step.clone();
  };
  return { fetch, seen };
}

/** A JSON response with an `x-request-id`. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "x-request-id": `req_${status}`, ...headers },
  });
}

/** A response in the spec's error schema. */
export function apiError(status: number, type: string, code: string, message = `${code} happened`, headers: Record<string, string> = {}): Response {
  return json(status, { error: { type, code, message, request_id: `req_${status}` } }, headers);
}

export const RUN_ID = "run_8f3a2c1d9e7b4a60";

export const run = {
  object: "run",
  run_id: RUN_ID,
  base_model: "signal-byte-base",
  lora_r: 8,
  lora_alpha: 16,
  target_modules: ["q_proj", "v_proj"],
  learning_rate: 0.0005,
  seed: 0,
  optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0 },
  name: null,
  metadata: {},
  status: "active",
  current_step: 0,
  created_at: "2026-11-30T10:15:00.000Z",
  updated_at: "2026-11-30T10:15:00.000Z",
};

export const fbResult = { loss: 2.5, grad_norm: 0.9, num_tokens: 10, num_examples: 1, step: 0, accumulated_calls: 1 };

export function trainStepResult(step: number, loss = 2): Record<string, number> {
  return { step, loss, grad_norm: 0.5, learning_rate: 0.0005, num_tokens: 10, num_examples: 1 };
}

/** A sample response echoing each prompt as `out:<prompt>`. */
export function sampleResponse(prompts: string[], n = 1): Response {
  const samples = prompts.flatMap((prompt, p) =>
    Array.from({ length: n }, (_, k) => ({ index: p * n + k, prompt_index: p, text: `out:${prompt}${n > 1 ? `#${k}` : ""}`, finish_reason: "stop" })),
  );
  return json(200, { object: "sample", run_id: RUN_ID, step: 100, samples, usage: { prompt_tokens: 1, completion_tokens: 1 } });
}

/** A fetch that answers `sample` by echoing the prompts it received. */
export function echoSampleFetch(onRequest?: (prompts: string[]) => void | Promise<void>) {
  return scriptedFetch([
    async (_request, seen) => {
      const prompts = (JSON.parse(seen.body) as { prompts: string[]; n?: number }).prompts;
      await onRequest?.(prompts);
      return sampleResponse(prompts, (JSON.parse(seen.body) as { n?: number }).n ?? 1);
    },
  ]);
}

export const KEY = "sk-test-SECRET-0123456789abcdef";
export const BASE = "http://signal.test";
