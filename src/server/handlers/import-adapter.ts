import { ApiError } from "../wire/api-error.js";
import type { Handler } from "../context.js";
import { readSafetensors } from "../engine/index.js";
import type { RunState } from "../engine/types.js";
import { changeRun, nextRecord } from "../runs/run-access.js";
import { type RunRecord, toRun } from "../store/run-record.js";

/**
 * importAdapter: a PEFT `adapter_model.safetensors` becomes the LoRA weights of a fresh run
 * (step 0, nothing accumulated), in the run's queue, committed before it is answered. The file
 * is checked tensor by tensor against the run's own adapter before the engine sees it.
 * @throws ApiError 400 `invalid_adapter` naming the tensor; 400 `invalid_request` for a run that is not fresh.
 */
export const importAdapter: Handler<"importAdapter"> = (ctx) => {
  const runId = ctx.path.run_id;
  const bytes = decodeBase64(ctx.body.adapter);
  return changeRun(ctx, runId, async (run) => {
    if (run.current_step !== 0 || run.pending.calls > 0) {
      const state = run.current_step !== 0 ? `is at step ${run.current_step}` : "has gradients accumulated";
      throw new ApiError(
        "invalid_request",
        `Run ${runId} ${state}: importAdapter loads an adapter into a fresh run (step 0, nothing accumulated); create a run for it.`,
        "run_id",
      );
    }
    const { engine } = ctx.services;
    const own = await engine.exportState(runId);
    checkSameTensors(bytes, own.adapter, run);
    const state: RunState = { step: 0, adapter: bytes, adapter_config: own.adapter_config, optimizer: own.optimizer };
    await engine.loadRun(runId, run.config, state);
    const record = nextRecord(run);
    const body = toRun(record);
    return { record, state, status: 200, body, event: { type: "run.updated", run_id: runId, run: body } };
  });
};

/** The bytes of a base64 string. @throws ApiError 400 `invalid_adapter` when it is not base64. */
function decodeBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw invalidAdapter("adapter: not base64 (RFC 4648, with padding)");
  }
  return new Uint8Array(Buffer.from(text, "base64"));
}

/**
 * Checks that `uploaded` holds exactly the tensors of `own` (the run's adapter now), with the
 * same shapes: the run's `r` and `target_modules`.
 * @throws ApiError 400 `invalid_adapter` naming the first tensor that differs.
 */
function checkSameTensors(uploaded: Uint8Array, own: Uint8Array, run: RunRecord): void {
  let file: ReturnType<typeof readSafetensors>;
  try {
    file = readSafetensors(uploaded);
  } catch (error) {
    throw invalidAdapter(`adapter: not an F32 safetensors file: ${(error as Error).message}`);
  }
  const expected = readSafetensors(own).tensors;
  const c = run.config;
  const runShape = `the run's r ${c.lora_r} and target_modules ${c.target_modules.join(", ")}`;
  for (const name of file.tensors.keys()) {
    if (!expected.has(name)) throw invalidAdapter(`adapter: tensor ${name} is not one of the run's (${runShape})`);
  }
  for (const [name, tensor] of expected) {
    const got = file.tensors.get(name);
    if (!got) throw invalidAdapter(`adapter: tensor ${name} is missing (${runShape} need it)`);
    if (got.shape.join() !== tensor.shape.join()) {
      throw invalidAdapter(`adapter: tensor ${name} has shape [${got.shape.join(", ")}]; ${runShape} need [${tensor.shape.join(", ")}]`);
    }
  }
}

function invalidAdapter(message: string): ApiError {
  return new ApiError("invalid_adapter", message, "adapter");
}
