import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * Where `saveAdapter` reads a checkpoint: a `SignalClient` (or anything with its two methods).
 */
export interface CheckpointSource {
  getCheckpoint(runId: string, step: number, options?: { signal?: AbortSignal }): PromiseLike<{ adapter_config: object }>;
  downloadCheckpoint(runId: string, step: number, options?: { signal?: AbortSignal }): PromiseLike<Uint8Array>;
}

/** What `saveAdapter` wrote. */
export interface SavedAdapter {
  /** The folder, absolute. */
  dir: string;
  /** `adapter_config.json` and `adapter_model.safetensors`, absolute. */
  files: { config: string; weights: string };
  /** The config as written (PEFT's `LoraConfig`). */
  adapter_config: Record<string, unknown>;
  /** Bytes of `adapter_model.safetensors`. */
  size_bytes: number;
}

/** Options of `saveAdapter`. */
export interface SaveAdapterOptions {
  /** Cancels both downloads. */
  signal?: AbortSignal | undefined;
  /**
   * Written as `base_model_name_or_path`, e.g. the hub id or the local folder of the checkpoint
   * the run fine-tuned, so PEFT and vLLM find the base. @default the run's `base_model`
   */
  baseModelNameOrPath?: string | undefined;
}

/**
 * Writes a checkpoint as a PEFT adapter folder: `adapter_config.json` (from `getCheckpoint`) and
 * `adapter_model.safetensors` (from `downloadCheckpoint`), loadable with
 * `PeftModel.from_pretrained(base, dir)` and servable with vLLM's `--lora-modules name=dir`.
 * Each file is written to a temporary name and renamed, so a folder never holds half a file.
 * Node only (it writes files); import it from `frontier-signal/node`.
 * @throws NotFoundError when the run or the step has no checkpoint; the file system's error when
 *   the folder cannot be written.
 */
export async function saveAdapter(client: CheckpointSource, runId: string, step: number, dir: string, options: SaveAdapterOptions = {}): Promise<SavedAdapter> {
  const { baseModelNameOrPath, signal } = options;
  const request = signal ? { signal } : {};
  const [checkpoint, weights] = await Promise.all([client.getCheckpoint(runId, step, request), client.downloadCheckpoint(runId, step, request)]);
  const config: Record<string, unknown> = { ...checkpoint.adapter_config };
  if (baseModelNameOrPath !== undefined) config.base_model_name_or_path = baseModelNameOrPath;
  const root = path.resolve(dir);
  await mkdir(root, { recursive: true });
  const files = { config: path.join(root, "adapter_config.json"), weights: path.join(root, "adapter_model.safetensors") };
  await atomicWrite(files.weights, weights);
  await atomicWrite(files.config, `${JSON.stringify(config, null, 2)}\n`);
  return { dir: root, files, adapter_config: config, size_bytes: weights.byteLength };
}

async function atomicWrite(file: string, data: Uint8Array | string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, data);
  await rename(temp, file);
}
