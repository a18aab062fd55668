/**
 * Runs `test/reference/hf_reference.py`, the PyTorch reference for Hugging Face Llama-family
 * checkpoints and PEFT LoRA adapters, on one request.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Debian's interpreter, which has python3-torch (another `python3` may be first on PATH). */
export const REFERENCE_PYTHON = process.env.HF_REFERENCE_PYTHON ?? "/usr/bin/python3";
const REFERENCE_SCRIPT = fileURLToPath(new URL("../reference/hf_reference.py", import.meta.url));
const MISSING_TORCH = "PyTorch reference needs Debian's python3-torch: apt-get install python3-torch";

/** One example of a training batch: weights align with tokens; weights[0] is ignored. */
interface ReferenceExample {
  tokens: number[];
  weights: number[];
}

interface GreedyRequest {
  prompt: number[];
  max_tokens: number;
  eos_token_ids?: number[];
}

/** What to compute. Every part is optional except the checkpoint; one model load serves them all. */
export interface TorchReferenceRequest {
  /** A Hugging Face checkpoint folder. */
  checkpoint: string;
  /** A PEFT LoRA adapter applied to every part of the request. */
  adapter?: { safetensors: string; config: string };
  /** Sequences whose per-token logprobs to return (position 0 is null). */
  logprobs?: number[][];
  /** With `logprobs`: also return, per position, the sum of exp(log_softmax) over the vocab. */
  prob_sums?: boolean;
  /** With `logprobs`: also return, per position, the k most likely `[id, logprob]` (position 0 null). */
  top_logprobs?: number;
  /** The weighted mean NLL over examples and its gradient norm over the adapter's A and B. */
  train?: { examples: ReferenceExample[] };
  /**
   * Greedy decoding: argmax (lowest id on ties), stopping after an EOS id (not included). A list
   * of requests answers with one token list each.
   */
  greedy?: GreedyRequest | GreedyRequest[];
  /** Per-tensor summary of the checkpoint as the reference read it. */
  inspect?: { rounded_from?: string };
}

/** Per-tensor summary from `inspect`. */
interface ReferenceTensorSummary {
  dtype: "F32" | "F16" | "BF16";
  shape: number[];
  sum: number;
  sum_sq: number;
  /** With `rounded_from`: values differing from that checkpoint's, rounded by torch to this dtype. */
  rounding_mismatches?: number;
}

export interface TorchReferenceAnswer {
  /** Rows of the LM head, from config.json. */
  vocab_size: number;
  logprobs?: (number | null)[][];
  prob_sums?: number[][];
  top_logprobs?: ([number, number][] | null)[][];
  loss?: number;
  grad_norm?: number;
  /** `number[][]` when `greedy` was a list. */
  greedy_tokens?: number[] | number[][];
  tensors?: Record<string, ReferenceTensorSummary>;
}

/** Thrown when the reference rejects the request or checkpoint; `message` is its one-line reason. */
export class TorchReferenceError extends Error {
  override name = "TorchReferenceError";
}

export interface TorchReferenceOptions {
  /** The interpreter and its leading arguments. @default [REFERENCE_PYTHON] */
  python?: string[];
  /** @default 120000 */
  timeoutMs?: number;
}

/**
 * Runs the reference on `request`.
 * @throws TorchReferenceError naming python3-torch when it is missing, or with the reference's
 *   own one-line reason for a bad request, checkpoint or adapter.
 */
export function runTorchReference(request: TorchReferenceRequest, options: TorchReferenceOptions = {}): Promise<TorchReferenceAnswer> {
  const [python = REFERENCE_PYTHON, ...args] = options.python ?? [REFERENCE_PYTHON];
  return new Promise((resolve, reject) => {
    const child = spawn(python, [...args, REFERENCE_SCRIPT], { stdio: ["pipe", "pipe", "pipe"], timeout: options.timeoutMs ?? 120_000 });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (error: NodeJS.ErrnoException) => {
      reject(new TorchReferenceError(error.code === "ENOENT" ? `${MISSING_TORCH} (no ${python})` : error.message, { cause: error }));
    });
    child.on("close", (code, signal) => {
      const stderr = Buffer.concat(err).toString("utf8").trim();
      if (code === 3 || /No module named ['"]?torch/.test(stderr)) return reject(new TorchReferenceError(MISSING_TORCH));
      if (code !== 0) return reject(new TorchReferenceError(stderr || `hf_reference.py exited with ${code ?? signal}`));
      try {
        resolve(JSON.parse(Buffer.concat(out).toString("utf8")) as TorchReferenceAnswer);
      } catch (error) {
        reject(new TorchReferenceError(`hf_reference.py printed no JSON answer: ${String(error)}`, { cause: error }));
      }
    });
    child.stdin.on("error", () => {}); // an early exit closes stdin; the exit code says why
    child.stdin.end(JSON.stringify(request));
  });
}
