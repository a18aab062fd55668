import { createRequire } from "node:module";
import path from "node:path";

/** The tfjs namespace, as the engine uses it. */
export type Tf = typeof import("@tensorflow/tfjs");

const INSTALL_HINT = "npm install @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0";

let loading: Promise<Tf> | undefined;

/**
 * Loads `@tensorflow/tfjs` with the wasm backend, once per thread.
 *
 * tfjs is imported dynamically so nothing outside the engine ever loads it. The full package is
 * needed (tfjs-core alone registers no gradients in Node); the wasm binaries are read from the
 * installed package's `dist/` directory. The multithreaded wasm build fails in Node, so each
 * thread gets one single-threaded instance.
 *
 * @throws Error naming the exact `npm install` command when either package is missing.
 */
export function loadTf(): Promise<Tf> {
  loading ??= (async () => {
    let tf: Tf;
    let wasm: typeof import("@tensorflow/tfjs-backend-wasm");
    let distDir: string;
    try {
      tf = await import("@tensorflow/tfjs");
      wasm = await import("@tensorflow/tfjs-backend-wasm");
      const require = createRequire(import.meta.url);
      distDir = path.join(path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist") + path.sep;
    } catch (cause) {
      loading = undefined;
      throw new Error(`The local engine needs TensorFlow.js with its wasm backend: ${INSTALL_HINT}`, { cause });
    }
    wasm.setWasmPaths(distDir);
    await tf.setBackend("wasm");
    await tf.ready();
    shareIdentity(tf);
    return tf;
  })();
  return loading;
}

/**
 * The wasm backend's Identity kernel copies its input, and tfjs clones every tensor a gradient
 * saves through it (a copy of each saved activation, every training step). Tensors are
 * immutable, so the clone shares the data instead, reference-counted as the backend's own
 * Reshape does (and as the CPU backend's Identity does).
 */
function shareIdentity(tf: Tf): void {
  const original = tf.getKernel("Identity", "wasm");
  if (!original) return;
  tf.unregisterKernel("Identity", "wasm");
  tf.registerKernel({
    kernelName: "Identity",
    backendName: "wasm",
    kernelFunc: (args) => {
      const x = args.inputs.x as import("@tensorflow/tfjs").TensorInfo;
      if (x.dtype === "string") return original.kernelFunc(args);
      (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}
