import { describe, expect, it } from "vitest";
import { SafetensorsError, readSafetensors, writeSafetensors } from "../../src/server/engine/safetensors.js";

function withHeader(header: unknown, data = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe("safetensors", () => {
  it("round-trips F32 tensors and metadata exactly", () => {
    const a = { shape: [2, 3], data: Float32Array.of(1, -2.5, 3e-8, Math.PI, -0, 1e30) };
    const b = { shape: [1], data: Float32Array.of(7) };
    const bytes = writeSafetensors(
      [
        ["a", a],
        ["b", b],
      ],
      { format: "pt" },
    );
    const file = readSafetensors(bytes);
    expect(file.metadata).toEqual({ format: "pt" });
    expect(file.tensors.get("a")).toEqual(a);
    expect(file.tensors.get("b")).toEqual(b);
  });

  it("writes an 8-byte little-endian header length, a JSON header and 8-byte aligned data", () => {
    const bytes = writeSafetensors([["x", { shape: [2], data: Float32Array.of(1, 2) }]]);
    const len = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + len) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
    expect(header.x).toEqual({ dtype: "F32", shape: [2], data_offsets: [0, 8] });
    expect(bytes.length).toBe(8 + len + 8);
    expect(new DataView(bytes.buffer).getFloat32(8 + len + 4, true)).toBe(2);
  });

  it("rejects a file shorter than its header length", () => {
    expect(() => readSafetensors(new Uint8Array(3))).toThrow(SafetensorsError);
    const bytes = withHeader({});
    new DataView(bytes.buffer).setBigUint64(0, 1000n, true);
    expect(() => readSafetensors(bytes)).toThrow(/header length 1000/);
  });

  it("rejects a header that is not JSON", () => {
    const bytes = withHeader({});
    bytes[8] = 0x7b + 1;
    expect(() => readSafetensors(bytes)).toThrow(/not valid UTF-8 JSON/);
  });

  it("reads F16 and BF16 tensors widened exactly to float32, and rejects other dtypes", () => {
    // F16: 1, -2, 65504 (the largest), 2^-24 (the smallest subnormal), -Infinity.
    const f16 = Uint8Array.from([0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x00, 0xfc]);
    // BF16: 1, -2.5, 3.0517578125e-5 (2^-15), the largest finite (0x7f7f).
    const bf16 = Uint8Array.from([0x80, 0x3f, 0x20, 0xc0, 0x00, 0x38, 0x7f, 0x7f]);
    const half = readSafetensors(withHeader({ h: { dtype: "F16", shape: [5], data_offsets: [0, 10] } }, f16));
    expect([...half.tensors.get("h")!.data]).toEqual([1, -2, 65504, 2 ** -24, Number.NEGATIVE_INFINITY]);
    const brain = readSafetensors(withHeader({ b: { dtype: "BF16", shape: [2, 2], data_offsets: [0, 8] } }, bf16));
    expect(brain.tensors.get("b")).toEqual({ shape: [2, 2], data: Float32Array.of(1, -2.5, 2 ** -15, 3.3895313892515355e38) });
    expect(() => readSafetensors(withHeader({ x: { dtype: "F16", shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)))).toThrow(/needs 4 bytes/);
    expect(() => readSafetensors(withHeader({ x: { dtype: "I8", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)))).toThrow(/dtype I8 is not supported/);
    expect(() => readSafetensors(withHeader({ x: { dtype: "toString", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)))).toThrow(/dtype toString/);
  });

  it("rejects offsets that do not match the shape, leave the data, or overlap", () => {
    expect(() => readSafetensors(withHeader({ x: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, new Uint8Array(8)))).toThrow(/needs 8 bytes/);
    expect(() => readSafetensors(withHeader({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)))).toThrow(/outside/);
    const overlap = { x: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, y: { dtype: "F32", shape: [1], data_offsets: [4, 8] } };
    expect(() => readSafetensors(withHeader(overlap, new Uint8Array(8)))).toThrow(/overlap/);
  });

  it("refuses to write data that does not match the shape", () => {
    expect(() => writeSafetensors([["x", { shape: [3], data: new Float32Array(2) }]])).toThrow(SafetensorsError);
  });
});
