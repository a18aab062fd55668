import { beforeAll, describe, expect, it } from "vitest";
import { type Tf, loadTf } from "../../src/server/engine/tf-loader.js";

let tf: Tf;
beforeAll(async () => {
  tf = await loadTf();
});

const offset = (t: import("@tensorflow/tfjs").Tensor) => (tf.backend() as unknown as { getMemoryOffset(dataId: object): number }).getMemoryOffset(t.dataId);

describe("the engine's tfjs", () => {
  it("clones a tensor (as every gradient does with what it saves) by sharing its data, freed when the last holder is disposed", () => {
    const before = tf.memory().numBytes;
    const x = tf.tensor1d([1, 2, 3, 4]);
    const y = tf.clone(x);
    expect(offset(y)).toBe(offset(x));
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4]);
    expect(tf.memory().numBytes).toBe(before + 16);
    y.dispose();
    expect(tf.memory().numBytes).toBe(before);
  });

  it("keeps gradients through clones exact", () => {
    const x = tf.tensor1d([0.5, -1, 2]);
    const g = tf.grad((v) => tf.sum(tf.mul(tf.clone(v), tf.clone(v))))(x);
    expect(Array.from(g.dataSync())).toEqual([1, -2, 4]);
  });
});
