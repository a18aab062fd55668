import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as schemas from "../../generated/zod/zod.gen.js";
import { checkAgainst } from "../../src/internal/validate.js";
import { invalidArbitrary, validArbitrary } from "../helpers/schema-arbitrary.js";

// The fuzz tests trust these generators to speak the spec: valid ones must pass the generated
// schemas, invalid ones must fail them (including the unknown-key check).
const bodies = {
  createRun: schemas.zCreateRunBody,
  forwardBackward: schemas.zForwardBackwardBody,
  optimStep: schemas.zOptimStepBody,
  trainStep: schemas.zTrainStepBody,
  createCheckpoint: schemas.zCreateCheckpointBody,
  restoreCheckpoint: schemas.zRestoreCheckpointBody,
  sample: schemas.zSampleBody,
  createEmbeddings: schemas.zCreateEmbeddingsBody,
  createCompletion: schemas.zCreateCompletionBody,
};

describe("request generators derived from the spec", () => {
  it.each(Object.entries(bodies))("generates only valid %s bodies as valid", (_, schema) => {
    fc.assert(
      fc.property(validArbitrary(schema), (body) => {
        const result = checkAgainst(schema, body);
        expect(result.ok, JSON.stringify(body)).toBe(true);
      }),
      { numRuns: 100, seed: 7 },
    );
  });

  it.each(Object.entries(bodies))("generates only invalid %s bodies as invalid", (_, schema) => {
    fc.assert(
      fc.property(invalidArbitrary(schema), (body) => {
        expect(checkAgainst(schema, body).ok, JSON.stringify(body)).toBe(false);
      }),
      { numRuns: 100, seed: 7 },
    );
  });
});
