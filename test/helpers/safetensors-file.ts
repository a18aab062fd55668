/**
 * The safetensors format for test fixtures, written independently of the engine's reader:
 * 8 bytes of little-endian header length, a JSON header (`dtype`, `shape`, `data_offsets` per
 * tensor, optional `__metadata__`), then the raw little-endian data.
 */

/** The stored element types the fixtures use. */
export type SafetensorsDtype = "F32" | "F16" | "BF16";

/** One tensor: float32 values that are encoded to `dtype` when written. */
export interface FixtureTensor {
  shape: number[];
  data: Float32Array;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → bfloat16 bits, rounding to nearest even (as torch's `.to(torch.bfloat16)`). */
function toBf16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40; // NaN stays NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 → float16 bits, rounding to nearest even, with subnormals, overflow to ±inf. */
function toF16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  const round = (m: number, shift: number): number => {
    if (shift >= 32) return 0;
    const q = Math.floor(m / 2 ** shift);
    const rem = m - q * 2 ** shift;
    const half = 2 ** (shift - 1);
    return rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q;
  };
  // Normal: 10 of the 23 mantissa bits; a carry out of the mantissa bumps the exponent (to inf at the top).
  if (e > 0) return sign | ((e << 10) + round(mant, 13));
  // Subnormal: value / 2^-24, rounded; may round up into the smallest normal, which encodes the same way.
  return sign | round(mant | 0x800000, 126 - exp);
}

/** float16 bits → number. */
function fromF16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits → number. */
function fromBf16Bits(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/**
 * Encodes tensors as one safetensors file, data in name order, header padded with spaces to a
 * multiple of 8 bytes (as the safetensors library does).
 */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, FixtureTensor>,
  dtype: SafetensorsDtype,
  metadata: Record<string, string> | null = { format: "pt" },
): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`${name}: shape [${t.shape}] holds ${count} values, got ${t.data.length}`);
    const end = offset + count * BYTES[dtype];
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, end] };
    offset = end;
  }
  let json = JSON.stringify(header);
  const raw = Buffer.byteLength(json);
  json += " ".repeat((8 - ((8 + raw) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const data = tensors.get(name)!.data;
    for (let i = 0; i < data.length; i++) {
      if (dtype === "F32") view.setFloat32(at, data[i]!, true);
      else view.setUint16(at, dtype === "F16" ? toF16Bits(data[i]!) : toBf16Bits(data[i]!), true);
      at += BYTES[dtype];
    }
  }
  return out;
}

/** A decoded tensor: its stored dtype and its values as float32. */
export interface DecodedTensor extends FixtureTensor {
  dtype: SafetensorsDtype;
}

/**
 * Decodes a safetensors file (F32/F16/BF16) to float32 values.
 * @throws Error when the header or data run past the end of the bytes, or for another dtype.
 */
export function decodeSafetensors(bytes: Uint8Array): { tensors: Map<string, DecodedTensor>; metadata?: Record<string, string> } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8) throw new Error(`safetensors: ${bytes.length} bytes is too short`);
  const n = Number(view.getBigUint64(0, true));
  if (8 + n > bytes.length) throw new Error(`safetensors: header of ${n} bytes runs past the end (${bytes.length} bytes)`);
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString("utf8")) as Record<string, unknown>;
  const base = 8 + n;
  const tensors = new Map<string, DecodedTensor>();
  let metadata: Record<string, string> | undefined;
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = info as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets } = info as { dtype: SafetensorsDtype; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in BYTES)) throw new Error(`safetensors: ${name} has dtype ${dtype}`);
    const count = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = data_offsets;
    if (end - begin !== count * BYTES[dtype]) throw new Error(`safetensors: ${name} has ${end - begin} bytes for [${shape}] ${dtype}`);
    if (base + end > bytes.length) throw new Error(`safetensors: ${name} runs past the end of the file`);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const at = base + begin + i * BYTES[dtype];
      data[i] = dtype === "F32" ? view.getFloat32(at, true) : dtype === "F16" ? fromF16Bits(view.getUint16(at, true)) : fromBf16Bits(view.getUint16(at, true));
    }
    tensors.set(name, { dtype, shape, data });
  }
  return metadata ? { tensors, metadata } : { tensors };
}
