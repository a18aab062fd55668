import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import path from "node:path";
import { onnxModel } from "./onnx-graph.js";

/**
 * What to install for the fast path of Hugging Face checkpoints. The CPU binary is inside the
 * package; its install script only downloads CUDA parts, which the flag skips.
 */
export const ORT_INSTALL_HINT = "npm install onnxruntime-node@^1.30.0 --onnxruntime-node-install=skip";

interface OrtTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}
interface OrtTensorConstructor {
  new (type: "float32", data: Float32Array, dims: readonly number[]): OrtTensor;
}
/** onnxruntime-node's native session: synchronous, unlike the promise-based `InferenceSession` around it. */
interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor | null>, options: object): Record<string, OrtTensor>;
  dispose(): void;
}
interface NativeBinding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt(): void;
}

let loaded: { native: NativeBinding; Tensor: OrtTensorConstructor } | null | undefined;

/**
 * onnxruntime-node's synchronous binding, or undefined when the package is not installed. The
 * engine is synchronous (a worker answers one call at a time), and the package's own `run`
 * only wraps this one in a promise. It reads the layout of 1.30 (`dist/binding.js`); a release
 * that moves it is treated as not installed (the tfjs path runs, with the install hint), never
 * half-used.
 */
function loadOrt(): { native: NativeBinding; Tensor: OrtTensorConstructor } | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  try {
    const require = createRequire(import.meta.url);
    const main = require.resolve("onnxruntime-node");
    const native = require(path.join(path.dirname(main), "binding.js")) as NativeBinding;
    const { Tensor } = createRequire(main)("onnxruntime-common") as { Tensor: OrtTensorConstructor };
    if (typeof native.binding?.InferenceSession !== "function" || typeof Tensor !== "function") throw new Error("unknown onnxruntime-node layout");
    native.initOrt();
    loaded = { native, Tensor };
  } catch {
    loaded = null;
  }
  return loaded ?? undefined;
}

/** Whether onnxruntime-node can be loaded (see `ORT_INSTALL_HINT`). */
export function ortAvailable(): boolean {
  return loadOrt() !== undefined;
}

/**
 * Matrix products on ONNX Runtime's CPU kernels (MLAS: AVX2/AVX-512 with FMA, a thread pool of
 * `threads`), several times tfjs-wasm's rate on the products of a real model. One small session
 * per operand layout, operands passed as inputs (never copied into the session), so one set of
 * base weights serves every product; each call costs ~20 µs on top of the arithmetic.
 */
export class OrtMatmul {
  private readonly sessions = new Map<string, NativeSession>();
  private readonly ort: { native: NativeBinding; Tensor: OrtTensorConstructor };

  /**
   * @param threads ONNX Runtime's intra-op threads. @default the machine's cores
   * @throws Error naming `ORT_INSTALL_HINT` when onnxruntime-node is not installed.
   */
  constructor(readonly threads: number = availableParallelism()) {
    const ort = loadOrt();
    if (!ort) throw new Error(`The fast path for Hugging Face checkpoints needs ONNX Runtime: ${ORT_INSTALL_HINT}`);
    this.ort = ort;
  }

  private session(rank: 2 | 3, transA: boolean, transB: boolean): NativeSession {
    const key = `${rank}${+transA}${+transB}`;
    let s = this.sessions.get(key);
    if (!s) {
      const shapeA = rank === 2 ? (transA ? ["k", "m"] : ["m", "k"]) : transA ? ["b", "k", "m"] : ["b", "m", "k"];
      const shapeB = rank === 2 ? (transB ? ["n", "k"] : ["k", "n"]) : transB ? ["b", "n", "k"] : ["b", "k", "n"];
      const bytes =
        rank === 2
          ? onnxModel(
              [{ op: "Gemm", inputs: ["A", "B"], outputs: ["Y"], ints: { transA: +transA, transB: +transB } }],
              { A: shapeA, B: shapeB },
              { Y: ["m", "n"] },
            )
          : onnxModel(
              [
                ...(transA ? [{ op: "Transpose", inputs: ["A"], outputs: ["At"], intLists: { perm: [0, 2, 1] } }] : []),
                ...(transB ? [{ op: "Transpose", inputs: ["B"], outputs: ["Bt"], intLists: { perm: [0, 2, 1] } }] : []),
                { op: "MatMul", inputs: [transA ? "At" : "A", transB ? "Bt" : "B"], outputs: ["Y"] },
              ],
              { A: shapeA, B: shapeB },
              { Y: ["b", "m", "n"] },
            );
      s = new this.ort.native.binding.InferenceSession();
      s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, {
        intraOpNumThreads: this.threads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
        // The engine's own work runs between products: threads that spin would take its core.
        extra: { session: { intra_op: { allow_spinning: "0" } } },
      });
      this.sessions.set(key, s);
    }
    return s;
  }

  /**
   * `op(A) · op(B)`, `[m, n]`: A is `[m, k]` (`[k, m]` when `transA`), B is `[k, n]` (`[n, k]`
   * when `transB`). With `batch` > 1 every operand is `batch` such matrices one after another.
   * The product is written into `out` when given (`batch·m·n` floats), else into a new array.
   */
  mm(a: Float32Array, b: Float32Array, m: number, k: number, n: number, transA = false, transB = false, batch = 1, out?: Float32Array): Float32Array {
    const { Tensor } = this.ort;
    const s = this.session(batch === 1 ? 2 : 3, transA, transB);
    const dimsA = transA ? [k, m] : [m, k];
    const dimsB = transB ? [n, k] : [k, n];
    const A = new Tensor("float32", a, batch === 1 ? dimsA : [batch, ...dimsA]);
    const B = new Tensor("float32", b, batch === 1 ? dimsB : [batch, ...dimsB]);
    const dimsY = batch === 1 ? [m, n] : [batch, m, n];
    const Y = s.run({ A, B }, { Y: out ? new Tensor("float32", out, dimsY) : null }, {}).Y!.data;
    return out ?? Y;
  }

  dispose(): void {
    for (const s of this.sessions.values()) s.dispose();
    this.sessions.clear();
  }
}
