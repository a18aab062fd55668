/**
 * Runs `test/reference/hf_reference.py`, the PyTorch reference for Hugging Face Llama-family
 * checkpoints and PEFT LoRA adapters, on one request. One process per interpreter (`--serve`)
 * answers every request of a test file in turn: importing torch takes seconds, a request on a
 * tiny checkpoint a fraction of one.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
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
  /**
   * The weighted mean NLL over examples, its gradient norm over the adapter's A and B, and the
   * weighted share of target tokens that are the argmax before them (`token_accuracy`).
   */
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
  token_accuracy?: number;
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

/** A `--serve` process: answers come one line per request, in the order they were sent. */
class ReferenceProcess {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: { resolve: (a: TorchReferenceAnswer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  readonly #err: Buffer[] = [];
  #out = "";
  #failed: TorchReferenceError | undefined;

  constructor(
    readonly python: string,
    args: string[],
    readonly onExit: () => void,
  ) {
    this.#child = spawn(python, [...args, REFERENCE_SCRIPT, "--serve"], { stdio: ["pipe", "pipe", "pipe"] });
    this.#child.stdout.setEncoding("utf8");
    this.#child.stdout.on("data", (text: string) => {
      this.#out += text;
      for (let nl = this.#out.indexOf("\n"); nl >= 0; nl = this.#out.indexOf("\n")) {
        const line = this.#out.slice(0, nl);
        this.#out = this.#out.slice(nl + 1);
        this.#answer(line);
      }
    });
    this.#child.stderr.on("data", (b: Buffer) => this.#err.push(b));
    this.#child.on("error", (error: NodeJS.ErrnoException) => {
      this.#fail(new TorchReferenceError(error.code === "ENOENT" ? `${MISSING_TORCH} (no ${python})` : error.message, { cause: error }));
    });
    this.#child.on("close", (code, signal) => {
      const stderr = Buffer.concat(this.#err).toString("utf8").trim();
      if (code === 3 || /No module named ['"]?torch/.test(stderr)) return this.#fail(new TorchReferenceError(MISSING_TORCH));
      this.#fail(new TorchReferenceError(stderr || `hf_reference.py exited with ${code ?? signal}`));
    });
    this.#child.stdin.on("error", () => {}); // an early exit closes stdin; the exit code says why
    this.#hold(false);
  }

  request(request: TorchReferenceRequest, timeoutMs: number): Promise<TorchReferenceAnswer> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new TorchReferenceError(`hf_reference.py gave no answer within ${timeoutMs} ms`));
        this.#child.kill("SIGKILL");
      }, timeoutMs);
      this.#waiting.push({ resolve, reject, timer });
      this.#hold(true);
      this.#child.stdin.write(`${JSON.stringify(request)}\n`);
    });
  }

  #answer(line: string) {
    const next = this.#waiting.shift();
    if (!next) return;
    clearTimeout(next.timer);
    if (this.#waiting.length === 0) this.#hold(false);
    let reply: { answer?: TorchReferenceAnswer; error?: string };
    try {
      reply = JSON.parse(line) as typeof reply;
    } catch (error) {
      return next.reject(new TorchReferenceError(`hf_reference.py printed no JSON answer: ${String(error)}`, { cause: error }));
    }
    if (reply.error !== undefined) next.reject(new TorchReferenceError(reply.error));
    else next.resolve(reply.answer!);
  }

  #fail(error: TorchReferenceError) {
    this.#failed ??= error;
    this.onExit();
    for (const w of this.#waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(this.#failed);
    }
    this.#hold(false);
  }

  /** Keeps the event loop alive only while an answer is awaited: an idle process never holds a test file or script open. */
  #hold(on: boolean) {
    for (const handle of [this.#child, this.#child.stdin, this.#child.stdout, this.#child.stderr] as { ref?: () => void; unref?: () => void }[]) {
      if (on) handle.ref?.();
      else handle.unref?.();
    }
  }
}

/** The running process of each interpreter (with its arguments). */
const processes = new Map<string, ReferenceProcess>();

function referenceProcess(python: string[]): ReferenceProcess {
  const key = JSON.stringify(python);
  let running = processes.get(key);
  if (!running) {
    const [interpreter = REFERENCE_PYTHON, ...args] = python;
    const started: ReferenceProcess = new ReferenceProcess(interpreter, args, () => {
      if (processes.get(key) === started) processes.delete(key);
    });
    running = started;
    processes.set(key, running);
  }
  return running;
}

/** Starts the default interpreter's process now, so importing torch overlaps a test's own setup. */
export function warmTorchReference(): void {
  referenceProcess([REFERENCE_PYTHON]);
}

/**
 * Runs the reference on `request`.
 * @throws TorchReferenceError naming python3-torch when it is missing, or with the reference's
 *   own one-line reason for a bad request, checkpoint or adapter.
 */
export function runTorchReference(request: TorchReferenceRequest, options: TorchReferenceOptions = {}): Promise<TorchReferenceAnswer> {
  return referenceProcess(options.python ?? [REFERENCE_PYTHON]).request(request, options.timeoutMs ?? 120_000);
}
