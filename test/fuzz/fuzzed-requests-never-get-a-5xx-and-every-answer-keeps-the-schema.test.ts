import fc from "fast-check";
import type { z } from "zod/mini";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPERATIONS, type OperationId } from "../../generated/operations.js";
import * as gen from "../../generated/zod/zod.gen.js";
import { invalidArbitrary, validArbitrary } from "../helpers/schema-arbitrary.js";
import { QA, call, createTinyRun, useTestServer } from "../server/helpers.js";
import { type Checked, type Expect, FuzzClient } from "./fuzz-client.js";

// Fixed seed, so a failure reproduces exactly. To explore further locally:
// FUZZ_SEED=<n> FUZZ_RUNS=<valid runs per property> npx vitest run test/fuzz
const SEED = Number(process.env.FUZZ_SEED ?? 20_606);
const VALID_RUNS = Number(process.env.FUZZ_RUNS ?? 14);
const INVALID_RUNS = Math.ceil(VALID_RUNS / 2) + 1;

let client: FuzzClient;
let runId: string;
/** The step of a checkpoint of `runId` that no fuzzed request deletes. */
const KEPT_STEP = 1;
const logLines: string[] = [];

/** A set-up call that must succeed, or every test after it would fail for the wrong reason. */
async function setUp(reply: Promise<{ status: number; body: unknown }>): Promise<void> {
  const { status, body } = await reply;
  if (status >= 300) throw new Error(`set-up call failed: ${status} ${JSON.stringify(body)}`);
}

const fixture = useTestServer({ bodyLimitBytes: 256 * 1024, log: (line) => logLines.push(line) });
beforeAll(async () => {
  client = new FuzzClient(fixture.server.url, fixture.server.key);
  runId = await createTinyRun(fixture.server);
  await setUp(call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } }));
  await setUp(call(fixture.server, "POST", `/v1/runs/${runId}/checkpoints`, { body: { mode: "state" } }));
});

afterAll(async () => {
  console.log(`fuzz: ${client?.sent ?? 0} requests`);
});

/** A set-up POST on our run that must succeed; its JSON answer. */
async function fetchOk(path: string, body: unknown): Promise<any> {
  const reply = await call(fixture.server, "POST", path, { body });
  if (reply.status >= 300) throw new Error(`set-up call failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** Our run most of the time, sometimes an id nobody has. */
const runIdArb = (): fc.Arbitrary<string> =>
  fc.oneof({ weight: 5, arbitrary: fc.constant(runId) }, { weight: 1, arbitrary: fc.stringMatching(/^run_[a-z0-9]{8,40}$/) });

/** Sends each generated request, checks the contract, then checks the server is still healthy. */
async function fuzz<T>(
  arb: fc.Arbitrary<T>,
  numRuns: number,
  toRequest: (input: T) => Promise<Checked>,
  extra: (input: T, answer: Checked) => void = () => {},
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(arb, async (input) => {
      const answer = await toRequest(input);
      const shown = `${JSON.stringify(input)?.slice(0, 400)} → ${answer.status} ${answer.text.slice(0, 300)}`;
      expect(answer.problems, shown).toEqual([]);
      extra(input, answer);
      await client.healthy();
    }),
    { seed: SEED, numRuns },
  );
}

const is4xx = (_: unknown, answer: Checked) => expect(answer.status, answer.text.slice(0, 300)).toBeGreaterThanOrEqual(400);
/**
 * A body the schema accepts is never refused as malformed (semantic 4xx such as 404 are fine),
 * except a repeated target module, which the spec's schema does not express.
 */
const notValidationError = (input: unknown, answer: Checked) => {
  const refused = answer.status === 422 && answer.text.includes('"validation_error"') && !answer.text.includes('"param":"target_modules"');
  expect(refused, `${JSON.stringify(input)} → ${answer.text}`).toBe(false);
};

/** Valid bodies, with an own key the schema does not know spliced in (including Object.prototype names). */
function withUnknownKey(valid: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.tuple(valid, fc.constantFrom("constructor", "toString", "__proto__", "hasOwnProperty", "valueOf", "unknown_field")).map(([body, key]) => {
    const text = JSON.stringify(body);
    return text === "{}" ? `{"${key}":1}` : `{"${key}":1,${text.slice(1)}`;
  });
}

interface BodyOperation {
  name: string;
  path: () => string;
  schema: z.ZodMiniType;
  valid: () => fc.Arbitrary<unknown>;
  expect: Expect;
}

/** One operation of the generated table, as the fuzzer reads it. */
type Operation = (typeof OPERATIONS)[OperationId];

const tiny = "signal-byte-tiny";

/** The operation's path with our run, the kept checkpoint and the tiny model filled in. */
function pathOf(operation: Operation, values: { run_id?: string; step?: string; model_id?: string } = {}): string {
  return operation.path
    .replace("{run_id}", values.run_id ?? runId)
    .replace("{step}", values.step ?? String(KEPT_STEP))
    .replace("{model_id}", values.model_id ?? tiny);
}

/** How a 2xx of the operation must look: its generated response schema, or bytes. */
const expectOf = (operation: Operation): Expect =>
  // The run's event stream never ends by itself: its first event is read and checked.
  operation.operationId === "watchRun" ? { liveEvents: gen.zRunEvent } : operation.response === undefined ? { bytes: true } : { json: operation.response };

/**
 * Where valid bodies need more than the operation's generated schema gives (a model that exists,
 * token ids in the vocabulary, our checkpoint), and the expectation when the body may ask for a
 * stream. Every other operation with a body is fuzzed from its schema alone.
 */
const bodyOverrides: Partial<Record<OperationId, Partial<Pick<BodyOperation, "valid" | "expect">>>> = {
  createRun: {
    valid: () => fc.tuple(validArbitrary(gen.zCreateRunBody), fc.boolean()).map(([body, real]) => (real ? { ...(body as object), base_model: tiny } : body)),
  },
  forwardBackward: {
    // Token ids capped to the vocabulary half of the time; uncapped ones are valid but impossible (400).
    valid: () => fc.oneof(validArbitrary(gen.zForwardBackwardBody, { fields: { tokens: 258 } }), validArbitrary(gen.zForwardBackwardBody)),
  },
  trainStep: {
    valid: () => fc.oneof(validArbitrary(gen.zTrainStepBody, { fields: { tokens: 258 } }), validArbitrary(gen.zTrainStepBody)),
  },
  forward: {
    valid: () => fc.oneof(validArbitrary(gen.zForwardBody, { fields: { tokens: 258 } }), validArbitrary(gen.zForwardBody)),
  },
  detokenize: {
    valid: () => fc.oneof(validArbitrary(gen.zDetokenizeBody, { fields: { tokens: 258 } }), validArbitrary(gen.zDetokenizeBody)),
  },
  restoreCheckpoint: {
    valid: () => fc.oneof(validArbitrary(gen.zRestoreCheckpointBody), fc.constant({ step: KEPT_STEP })),
  },
  sample: {
    // `step`: a random one (no checkpoint: 404), the kept checkpoint, or the live weights.
    valid: () =>
      fc.tuple(validArbitrary(gen.zSampleBody), fc.constantFrom("random", "kept", "live")).map(([body, step]) => {
        const copy: Record<string, unknown> = { ...(body as Record<string, unknown>), stream: false };
        if (step === "kept") copy.step = KEPT_STEP;
        if (step === "live") delete copy.step;
        return copy;
      }),
  },
  createEmbeddings: {
    valid: () =>
      fc.tuple(validArbitrary(gen.zCreateEmbeddingsBody), fc.boolean()).map(([body, live]) => {
        const copy = { ...(body as Record<string, unknown>) };
        if (live) delete copy.step;
        return copy;
      }),
  },
  createCompletion: {
    valid: () =>
      fc
        .tuple(
          validArbitrary(gen.zCreateCompletionBody),
          fc.constantFrom("generated", "run", "run@kept", "run@missing", "other"),
          fc.stringMatching(/^run_[a-z0-9]{8,40}$/),
        )
        .map(([body, model, other]) => {
          const copy = { ...(body as Record<string, unknown>) };
          if (model === "run") copy.model = runId;
          if (model === "run@kept") copy.model = `${runId}@${KEPT_STEP}`;
          if (model === "run@missing") copy.model = `${runId}@123456`;
          if (model === "other") copy.model = other;
          return copy;
        }),
    expect: { sse: gen.zCreateCompletionResponse },
  },
  createChatCompletion: {
    valid: () =>
      fc
        .tuple(
          validArbitrary(gen.zCreateChatCompletionBody),
          fc.constantFrom("generated", "run", "run@kept", "run@missing", "other"),
          fc.stringMatching(/^run_[a-z0-9]{8,40}$/),
        )
        .map(([body, model, other]) => {
          const copy = { ...(body as Record<string, unknown>) };
          if (model === "run") copy.model = runId;
          if (model === "run@kept") copy.model = `${runId}@${KEPT_STEP}`;
          if (model === "run@missing") copy.model = `${runId}@123456`;
          if (model === "other") copy.model = other;
          return copy;
        }),
    expect: { sse: gen.zChatCompletionChunk },
  },
};

/** Operations with a query: generated query strings. */
const queryOperations = Object.values(OPERATIONS).filter((operation) => operation.query !== undefined);
/** Operations without a body (GET, DELETE, and POSTs that take none): generated path parameters. */
const bodilessOperations = Object.values(OPERATIONS).filter((operation) => operation.body === undefined);

const bodyOperations: BodyOperation[] = [
  ...Object.values(OPERATIONS).flatMap((operation): BodyOperation[] => {
    if (operation.body === undefined) return [];
    const override = bodyOverrides[operation.operationId];
    const schema: z.ZodMiniType = operation.body;
    return [
      {
        name: operation.operationId,
        path: () => pathOf(operation),
        schema,
        valid: override?.valid ?? (() => validArbitrary(schema)),
        expect: override?.expect ?? expectOf(operation),
      },
    ];
  }),
  {
    name: "sample (stream)",
    path: () => pathOf(OPERATIONS.sample),
    schema: gen.zSampleBody,
    valid: () =>
      fc.tuple(validArbitrary(gen.zSampleBody), fc.boolean()).map(([body, live]) => {
        const copy: Record<string, unknown> = { ...(body as Record<string, unknown>), stream: true };
        if (live) delete copy.step;
        return copy;
      }),
    expect: { sse: gen.zSampleChunk },
  },
];

describe("fuzzed requests derived from the spec never get a 5xx and every answer keeps the schema", () => {
  for (const op of bodyOperations) {
    it(`${op.name}: valid bodies get a 2xx in the response schema or a semantic 4xx`, async () => {
      await fuzz(op.valid(), VALID_RUNS, (body) => client.sendJson("POST", op.path(), body, op.expect), notValidationError);
    });

    it(`${op.name}: invalid bodies get a 4xx in the error schema`, async () => {
      const invalid = fc.oneof(
        invalidArbitrary(op.schema).map((body) => JSON.stringify(body)),
        withUnknownKey(op.valid()),
      );
      await fuzz(
        invalid,
        INVALID_RUNS,
        (text) => client.send({ method: "POST", path: op.path(), body: text, headers: { "content-type": "application/json" } }, op.expect),
        is4xx,
      );
    });
  }

  it("zeroGrad: with or without a body, on our run or another id", async () => {
    const body = fc.oneof(fc.constant(undefined), fc.constant({}), invalidArbitrary(gen.zCreateCheckpointBody));
    await fuzz(fc.tuple(runIdArb(), body), VALID_RUNS, ([id, b]) => client.sendJson("POST", `/v1/runs/${id}/zero_grad`, b, { json: gen.zZeroGradResponse }));
  });

  it("run-scoped bodies sent to a random run id get 404 or 422, never a 5xx", async () => {
    const arb = fc.tuple(fc.stringMatching(/^run_[a-z0-9]{8,40}$/), fc.constantFrom(...bodyOperations.filter((o) => o.path().includes(runId))));
    await fuzz(
      arb.chain(([id, op]) => op.valid().map((body) => ({ id, op, body }))),
      VALID_RUNS,
      ({ id, op, body }) => client.sendJson("POST", op.path().replace(runId, id), body, op.expect),
      (_, answer) => expect([404, 400, 409]).toContain(answer.status),
    );
  });

  it(`${queryOperations.map((o) => o.operationId).join(", ")}: generated query strings`, async () => {
    const query = (schema: z.ZodMiniType) =>
      fc.oneof(
        validArbitrary(schema),
        invalidArbitrary(schema),
        fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 12, unit: "grapheme" }), { maxKeys: 3 }),
      );
    const arb = fc.oneof(
      ...queryOperations.map((operation) =>
        fc
          .tuple(runIdArb(), query(operation.query as z.ZodMiniType))
          .map(([id, q]) => ({ path: pathOf(operation, { run_id: id }), q, expect: expectOf(operation) })),
      ),
    );
    await fuzz(arb, 2 * VALID_RUNS, ({ path, q, expect }) => client.send({ method: "GET", path: path + encodeQuery(q) }, expect));
  });

  it(`${bodilessOperations.map((o) => o.operationId).join(", ")}: generated path parameters`, async () => {
    const arb = fc.constantFrom(...bodilessOperations).chain((operation) => {
      // A DELETE never gets our run or the kept checkpoint: the other properties use them.
      const ours = operation.method !== "DELETE";
      const generated: fc.Arbitrary<Record<string, unknown>> = operation.params
        ? validArbitrary(operation.params).map((p) => p as Record<string, unknown>)
        : fc.constant({});
      const garbage = fc
        .string({ maxLength: 50, unit: "grapheme" })
        .map(encodeURIComponent)
        .filter((s) => s !== "");
      const value = (name: "run_id" | "step" | "model_id", own: string) =>
        fc.oneof(
          ...(ours ? [fc.constant(own)] : []),
          generated.map((p) => encodeURIComponent(String(p[name] ?? own))),
          garbage,
        );
      return fc
        .record({ run_id: value("run_id", runId), step: value("step", String(KEPT_STEP)), model_id: value("model_id", tiny) })
        .filter((values) => ours || values.run_id !== runId)
        .map((values) => ({ operation, path: pathOf(operation, values) }));
    });
    await fuzz(arb, 3 * VALID_RUNS, ({ operation, path }) => client.send({ method: operation.method, path }, expectOf(operation)));
  });

  it("fuzzes every operation of the generated table", () => {
    const fuzzed = new Set([
      ...bodyOperations.map((o) => o.name),
      ...queryOperations.map((o) => o.operationId),
      ...bodilessOperations.map((o) => o.operationId),
    ]);
    expect(Object.keys(OPERATIONS).filter((id) => !fuzzed.has(id))).toEqual([]);
  });

  it("getCheckpoint, downloadCheckpoint and deleteCheckpoint: generated path parameters", async () => {
    const step = fc.oneof(
      fc.constant(String(KEPT_STEP)),
      fc.integer({ min: 2, max: 1_000_000_000 }).map(String),
      fc.constantFrom("-1", "1.5", "1e3", "0x10", "99999999999999999999", "%20", "NaN", "Infinity", "%00", "%E2%80%AE1"),
      fc.string({ unit: "grapheme", maxLength: 8 }).map(encodeURIComponent),
    );
    const id = fc.oneof(
      runIdArb(),
      validArbitrary(gen.zGetCheckpointPath).map((p) => (p as { run_id: string }).run_id),
      fc.string({ maxLength: 50 }).map(encodeURIComponent),
    );
    const operation = fc.constantFrom(
      { method: "GET", suffix: "", expect: { json: gen.zGetCheckpointResponse } as Expect },
      { method: "GET", suffix: "/content", expect: { bytes: true } as Expect },
      { method: "DELETE", suffix: "", expect: { json: gen.zDeleteCheckpointResponse } as Expect },
    );
    const arb = fc
      .tuple(id, step, operation)
      // The kept checkpoint of our run stays: the other properties sample from it.
      .filter(([i, s, o]) => !(o.method === "DELETE" && i === runId && s === String(KEPT_STEP)));
    await fuzz(arb, 3 * VALID_RUNS, ([i, s, o]) => client.send({ method: o.method, path: `/v1/runs/${i}/checkpoints/${s}${o.suffix}` }, o.expect));
  });

  it("raw garbage bodies: malformed JSON, wrong content types, huge numbers, deep nesting, unicode, empty", async () => {
    const deep = 20_000;
    const garbage = fc.oneof(
      fc.constantFrom<string | Uint8Array<ArrayBuffer>>(
        "",
        "{",
        '{"batch": [',
        "nul",
        "{'a': 1}",
        "\ufeff{}",
        "null",
        "[]",
        "true",
        '"text"',
        "1e999",
        `{"lora_r": 1e999, "base_model": "${tiny}"}`,
        `{"base_model": "${tiny}", "seed": 9007199254740993}`,
        `{"batch": [{"tokens": [1e400, 2]}]}`,
        `{"batch": [{"tokens": [0, 1], "weights": [1e308, 1e308]}]}`,
        `{"prompts": ["a"], "max_tokens": 1e308}`,
        `{"prompts": ["a"], "temperature": -0}`,
        `{"prompts": ["\\ud800\\udfff\\u0000"], "max_tokens": 2}`,
        `{"model": "run_abcdefgh\\u0000", "prompt": "a"}`,
        `{"step": -0}`,
        `{"__proto__": {"polluted": true}, "prompts": ["a"]}`,
        `{"batch": [{"text": "a"}], "batch": [{"text": "b"}]}`,
        "[".repeat(deep) + "]".repeat(deep),
        `{"batch": ${"[".repeat(deep)}${"]".repeat(deep)}}`,
        `{"metadata": ${'{"a":'.repeat(deep)}1${"}".repeat(deep)}}`,
        "[".repeat(deep),
        new Uint8Array([0xff, 0xfe, 0x00, 0x7b]),
        new Uint8Array([0x7b, 0x22, 0x70, 0x72, 0x6f, 0x6d, 0x70, 0x74, 0x73, 0x22, 0x3a, 0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d, 0x7d]),
      ),
      fc.string({ unit: "binary", maxLength: 64 }),
      fc.json({ maxDepth: 3 }),
    );
    const contentType = fc.constantFrom<string | undefined>(
      undefined,
      "application/json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/json; charset=latin1",
    );
    const route = fc.constantFrom(...bodyOperations.map((o) => o.path), () => `/v1/runs/${runId}/zero_grad`);
    await fuzz(fc.tuple(garbage, contentType, route), 8 * VALID_RUNS, ([body, type, path]) =>
      client.send({ method: "POST", path: path(), body, headers: type === undefined ? {} : { "content-type": type } }, { any: true }),
    );
  });

  it("valid but impossible requests get a 4xx naming the problem", async () => {
    const cases: { path: string; body: unknown; status: number; code: string }[] = [
      { path: `/v1/runs/${runId}/forward_backward`, body: { batch: [{ tokens: [0, 300, 65535] }] }, status: 400, code: "invalid_example" },
      { path: `/v1/runs/${runId}/forward_backward`, body: { batch: [{ tokens: [1, 2, 3], weights: [1] }] }, status: 400, code: "invalid_example" },
      { path: `/v1/runs/${runId}/forward_backward`, body: { batch: [{ tokens: [1, 2], weights: [0, 0] }] }, status: 400, code: "invalid_example" },
      { path: `/v1/runs/${runId}/train_step`, body: { batch: [{ text: "x".repeat(300) }] }, status: 400, code: "context_length_exceeded" },
      { path: `/v1/runs/${runId}/sample`, body: { prompts: ["a"], step: 424242 }, status: 404, code: "checkpoint_not_found" },
      { path: `/v1/runs/${runId}/sample`, body: { prompts: ["y".repeat(300)], max_tokens: 1 }, status: 400, code: "context_length_exceeded" },
      { path: `/v1/runs/${runId}/sample`, body: { prompts: ["a"], max_tokens: 1024 }, status: 400, code: "context_length_exceeded" },
      { path: `/v1/runs/${runId}/sample`, body: { prompts: ["a"], max_tokens: 1024, stream: true }, status: 400, code: "context_length_exceeded" },
      { path: `/v1/runs/${runId}/embeddings`, body: { inputs: ["z".repeat(400)] }, status: 400, code: "context_length_exceeded" },
      { path: `/v1/runs/${runId}/embeddings`, body: { inputs: ["a"], step: 424242 }, status: 404, code: "checkpoint_not_found" },
      { path: `/v1/runs/${runId}/restore`, body: { step: 424242 }, status: 404, code: "checkpoint_not_found" },
      { path: "/v1/completions", body: { model: `${runId}@424242`, prompt: "a" }, status: 404, code: "checkpoint_not_found" },
      { path: "/v1/completions", body: { model: `${runId}@99999999999`, prompt: "a" }, status: 400, code: "invalid_model" },
      { path: "/v1/completions", body: { model: runId, prompt: ["a", "w".repeat(300)], stream: true }, status: 400, code: "context_length_exceeded" },
      { path: "/v1/runs", body: { base_model: "signal-byte-huge" }, status: 404, code: "model_not_found" },
      { path: "/v1/runs", body: { base_model: tiny, target_modules: ["q_proj", "q_proj"] }, status: 422, code: "validation_error" },
    ];
    await call(fixture.server, "POST", `/v1/runs/${runId}/zero_grad`);
    cases.push({ path: `/v1/runs/${runId}/optim_step`, body: {}, status: 409, code: "nothing_accumulated" });
    for (const c of cases) {
      const answer = await client.sendJson("POST", c.path, c.body, { any: true });
      expect(answer.problems, JSON.stringify(c.body).slice(0, 200)).toEqual([]);
      expect({ status: answer.status, code: (JSON.parse(answer.text) as { error: { code: string } }).error.code }).toEqual({ status: c.status, code: c.code });
    }
    await client.healthy();
  });

  it("refuses an unknown field named like an Object.prototype member (found by this fuzzer)", async () => {
    for (const key of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      const answer = await client.send(
        {
          method: "POST",
          path: `/v1/runs/${runId}/sample`,
          body: `{"prompts":["a"],"max_tokens":1,"${key}":1}`,
          headers: { "content-type": "application/json" },
        },
        { any: true },
      );
      expect(answer.problems).toEqual([]);
      expect([answer.status, JSON.parse(answer.text).error?.param]).toEqual([422, key]);
    }
  });

  it("refuses token weights whose sum overflows, and the run is not poisoned by them (found by this fuzzer)", async () => {
    for (const weights of [
      [0, 1e308, 1e308],
      [0, 1e39],
      [0, 1e300, 1, 1],
    ]) {
      for (const op of ["forward_backward", "train_step"]) {
        const answer = await client.sendJson(
          "POST",
          `/v1/runs/${runId}/${op}`,
          { batch: [{ tokens: [1, 2, 3, 4].slice(0, weights.length), weights }] },
          { any: true },
        );
        expect(answer.problems).toEqual([]);
        expect([answer.status, JSON.parse(answer.text).error?.code], `${op} ${JSON.stringify(weights)}`).toEqual([400, "invalid_example"]);
      }
    }
    const trained = await client.sendJson("POST", `/v1/runs/${runId}/train_step`, { batch: QA }, { json: gen.zTrainStepResponse });
    expect(trained.problems).toEqual([]);
    const { loss, grad_norm } = JSON.parse(trained.text) as { loss: number; grad_norm: number };
    expect([Number.isFinite(loss), Number.isFinite(grad_norm)]).toEqual([true, true]);
    const metrics = await client.send({ method: "GET", path: `/v1/runs/${runId}/metrics?limit=1000` }, { json: gen.zListMetricsResponse });
    expect(metrics.problems).toEqual([]);
  });

  it("answers fractional token weights with an integer num_tokens (found by this fuzzer)", async () => {
    const batch = [{ tokens: [1, 2, 3], weights: [0, 0.5, 0.25] }, { text: "ab" }];
    await call(fixture.server, "POST", `/v1/runs/${runId}/zero_grad`);
    const fb = await client.sendJson("POST", `/v1/runs/${runId}/forward_backward`, { batch }, { json: gen.zForwardBackwardResponse });
    expect(fb.problems).toEqual([]);
    const ts = await client.sendJson("POST", `/v1/runs/${runId}/train_step`, { batch }, { json: gen.zTrainStepResponse });
    expect(ts.problems).toEqual([]);
    const metrics = await client.send({ method: "GET", path: `/v1/runs/${runId}/metrics?limit=1000` }, { json: gen.zListMetricsResponse });
    expect(metrics.problems).toEqual([]);
  });

  it("refuses a JSON null body where the body is optional (found by this fuzzer)", async () => {
    for (const op of ["optim_step", "zero_grad", "checkpoints"]) {
      const answer = await client.send(
        { method: "POST", path: `/v1/runs/${runId}/${op}`, body: "null", headers: { "content-type": "application/json" } },
        { any: true },
      );
      expect(answer.problems).toEqual([]);
      expect(answer.status, op).toBe(422);
    }
  });

  it("deleting a run or checkpoint while requests use it gives them a 404, never a 5xx (found by this fuzzer)", async () => {
    const statuses = new Set<number>();
    for (let round = 0; round < 6; round++) {
      const id = await createTinyRun(fixture.server);
      await call(fixture.server, "POST", `/v1/runs/${id}/train_step`, { body: { batch: QA } });
      await call(fixture.server, "POST", `/v1/runs/${id}/checkpoints`);
      const post = (path: string, body: unknown, expect: Expect) => client.sendJson("POST", path, body, expect);
      const answers = await Promise.all([
        post(`/v1/runs/${id}/sample`, { prompts: ["a", "b"], max_tokens: 48 }, { json: gen.zSampleResponse }),
        post(`/v1/runs/${id}/sample`, { prompts: ["a"], max_tokens: 48, step: 1 }, { json: gen.zSampleResponse }),
        post(`/v1/runs/${id}/sample`, { prompts: ["a"], max_tokens: 48, step: 1, stream: true }, { sse: gen.zSampleChunk }),
        post(`/v1/runs/${id}/embeddings`, { inputs: ["a"], step: 1 }, { json: gen.zCreateEmbeddingsResponse }),
        post("/v1/completions", { model: `${id}@1`, prompt: "a", max_tokens: 48 }, { json: gen.zCreateCompletionResponse }),
        client.send({ method: "GET", path: `/v1/runs/${id}/checkpoints/1/content` }, { bytes: true }),
        new Promise((r) => setTimeout(r, round * 4)).then(() =>
          client.send({ method: "DELETE", path: round % 2 ? `/v1/runs/${id}` : `/v1/runs/${id}/checkpoints/1` }, { any: true }),
        ),
      ]);
      for (const answer of answers) {
        expect(answer.problems, answer.text.slice(0, 300)).toEqual([]);
        statuses.add(answer.status);
      }
    }
    expect([...statuses].every((s) => s === 200 || s === 404 || s === 409)).toBe(true);
    await client.healthy();
  });

  it("the shapes of an attacker's probe (each once a 500, a 200 that broke the schema, or a poisoned run) get a 4xx", async () => {
    const run = `/v1/runs/${runId}`;
    const fill = (n: number, value: number) => Array<number>(n).fill(value);
    // Scaled to this file's 256 KiB body limit; test/security has them at full size.
    const cases: [string, string, unknown][] = [
      ["POST", `${run}/sample`, { prompts: ["x".repeat(300)], max_tokens: 1, prompt_logprobs: true }],
      ["POST", `${run}/sample`, { prompt_tokens: [fill(300, 5)], max_tokens: 1, prompt_logprobs: true }],
      ["POST", `${run}/sample`, { prompts: ["x".repeat(300)], max_tokens: 1, prompt_logprobs: true, step: KEPT_STEP }],
      ["POST", `${run}/sample`, { prompts: ["a"], max_tokens: 1, prompt_logprobs: true, stream: true }],
      ["POST", `${run}/sample`, { prompt_tokens: Array.from({ length: 4 }, () => fill(16_000, -1)), max_tokens: 1 }],
      [
        "POST",
        `${run}/forward_backward`,
        { loss_fn: "ppo", batch: Array.from({ length: 100 }, () => ({ tokens: fill(200, 3), logprobs: fill(200, 1), advantages: fill(200, 1) })) },
      ],
      ["POST", `${run}/forward`, { batch: Array.from({ length: 16 }, () => ({ tokens: fill(4_000, -1) })) }],
      ["POST", `${run}/forward`, { batch: Array.from({ length: 200 }, () => ({ tokens: fill(200, -1) })) }],
      ["POST", `${run}/forward`, { batch: [{ tokens: [1, 2, 3], weights: [1, 1e300, 1] }] }],
      ["POST", `${run}/forward`, { batch: [{ tokens: [1, 2, 3], logprobs: [0, -1, -1], advantages: [0, 1, 1] }] }],
      ["POST", `${run}/train_step`, { batch: [{ tokens: [1, 2, 3], logprobs: [0, -1, -1], advantages: [0, 1e39, 1] }], loss_fn: "importance_sampling" }],
      ["POST", "/v1/runs", { base_model: tiny, metadata: Object.fromEntries(Array.from({ length: 15_000 }, (_, i) => [`k${i}`, "v"])) }],
      ["POST", `/v1/models/${tiny}/tokenize`, { text: "t".repeat(65_537) }],
      ["POST", `/v1/models/${tiny}/detokenize`, { tokens: fill(16_000, -1) }],
    ];
    for (const [method, path, body] of cases) {
      const answer = await client.sendJson(method, path, body, { any: true });
      expect(answer.problems, `${path} ${JSON.stringify(body).slice(0, 100)} → ${answer.text.slice(0, 200)}`).toEqual([]);
      expect(answer.status, answer.text.slice(0, 200)).toBeGreaterThanOrEqual(400);
      expect(answer.status, answer.text.slice(0, 200)).toBeLessThan(500);
    }
    for (const step of ["01", "1.0", "1e0", "%2B1"]) {
      const answer = await client.send({ method: "GET", path: `${run}/checkpoints/${step}` }, { any: true });
      expect(answer.status, step).toBe(422);
    }
    // Gradients each finite whose sum overflows float32: the step is refused, the run unharmed.
    const probe = await fetchOk(`${run}/forward`, { batch: [{ tokens: [256, 72, 105, 33, 10] }] });
    const logprobs = (probe.logprobs[0] as (number | null)[]).map((v) => v ?? 0);
    const batch = [{ tokens: [256, 72, 105, 33, 10], logprobs, advantages: [0, 8.3e37, 8.3e37, 8.3e37, 8.3e37] }];
    for (let i = 0; i < 20; i++) {
      const answer = await client.sendJson(
        "POST",
        `${run}/forward_backward`,
        { batch, loss_fn: "importance_sampling" },
        { json: gen.zForwardBackwardResponse },
      );
      expect(answer.problems).toEqual([]);
    }
    const step = await client.sendJson("POST", `${run}/optim_step`, {}, { json: gen.zOptimStepResponse });
    expect(step.problems, step.text).toEqual([]);
    await call(fixture.server, "POST", `${run}/zero_grad`);
    const after = await client.sendJson("POST", `${run}/forward`, { batch: [{ text: "a b" }] }, { json: gen.zForwardResponse });
    expect([after.status, after.problems]).toEqual([200, []]);
    await client.healthy();
  });

  it("logged one line per request and no internal error", () => {
    expect(logLines.length).toBeGreaterThanOrEqual(client.sent);
    expect(logLines.filter((l) => l.startsWith("error ") || / 5\d\d /.test(l))).toEqual([]);
  });
});

/** `?a=1&b=x` for an object (non-string values JSON-encoded); anything else as one raw parameter. */
function encodeQuery(value: unknown): string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return `?${encodeURIComponent(JSON.stringify(value) ?? "")}`;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(value)) params.append(k, typeof v === "string" ? v : JSON.stringify(v));
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}
