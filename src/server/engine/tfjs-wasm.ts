import type { Tensor } from "@tensorflow/tfjs";
import type { Tf } from "./tf-loader.js";

/** The parts of the tfjs wasm backend (an Emscripten module) the engine's kernels use directly. */
export interface WasmModule {
  HEAPF32: Float32Array;
  HEAPF64: Float64Array;
  HEAP32: Int32Array;
  HEAPU8: Uint8Array;
  /** The instance's exports (Emscripten keeps them here), among them its memory. */
  asm?: { memory?: WebAssembly.Memory };
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  /** `(aId, aShapePtr, aRank, bId, bShapePtr, bRank, transposeA, transposeB, outId)` */
  _BatchMatMul(...args: number[]): void;
}

export interface WasmBackend {
  wasm: WasmModule;
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined };
}

/** The tfjs wasm heap: the backend, its memory, and each tensor's byte address in it. */
export interface WasmHeap {
  backend: WasmBackend;
  memory: WebAssembly.Memory;
  /** @throws Error when the tensor was disposed. */
  addressOf(t: Tensor): number;
}

/** @throws Error naming `who` when tfjs is not on its wasm backend. */
export function wasmHeap(tf: Tf, who: string): WasmHeap {
  const backend = tf.backend() as unknown as WasmBackend;
  const memory = backend.wasm?.asm?.memory;
  if (typeof backend.wasm?._BatchMatMul !== "function" || !(memory instanceof WebAssembly.Memory)) throw new Error(`${who} needs the tfjs wasm backend`);
  const addressOf = (t: Tensor) => {
    const info = backend.dataIdMap.get(t.dataId);
    if (!info) throw new Error(`${who}: a tensor it uses was disposed`);
    return info.memoryOffset;
  };
  return { backend, memory, addressOf };
}
