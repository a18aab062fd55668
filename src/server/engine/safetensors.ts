/**
 * A minimal safetensors reader (F32, F16 and BF16 tensors, read as float32) and writer (F32
 * tensors). The format: an 8-byte little-endian
 * header length, a JSON header of `{name: {dtype, shape, data_offsets}}` plus optional
 * `__metadata__` of strings, then the raw little-endian data). No package reads it in Node.
 */

/** One F32 tensor: row-major data and its shape. */
export interface F32Tensor {
  shape: number[];
  data: Float32Array;
}

/** A parsed file: tensors by name, plus the string metadata. */
export interface SafetensorsFile {
  tensors: Map<string, F32Tensor>;
  metadata: Record<string, string>;
}

/** Thrown for any file that is not a well-formed safetensors file of F32, F16 or BF16 tensors. */
export class SafetensorsError extends Error {
  override readonly name = "SafetensorsError";
}

/** Header is padded with spaces so the data starts 8-byte aligned (as the reference writer does). */
const ALIGN = 8;
/** Refuse absurd headers before parsing them (the reference implementation uses 100 MB). */
const MAX_HEADER = 100_000_000;

/**
 * Serialises tensors (in the insertion order of `tensors`) to safetensors bytes.
 * @throws SafetensorsError when a tensor's data length does not match its shape.
 */
export function writeSafetensors(tensors: Iterable<[string, F32Tensor]>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const parts: Float32Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) {
      throw new SafetensorsError(`tensor ${name}: shape [${t.shape}] needs ${size} values, got ${t.data.length}`);
    }
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + size * 4] };
    parts.push(t.data);
    offset += size * 4;
  }
  let json = JSON.stringify(header);
  const headerBytes0 = new TextEncoder().encode(json).length;
  json += " ".repeat((ALIGN - ((8 + headerBytes0) % ALIGN)) % ALIGN);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const data of parts) {
    const dv = new DataView(out.buffer, pos, data.length * 4);
    for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i]!, true);
    pos += data.length * 4;
  }
  return out;
}

/**
 * Parses safetensors bytes. F32 tensors are read as they are, F16 and BF16 ones (a PEFT adapter
 * saved in the dtype it was trained in) widened exactly to float32; any other dtype is refused.
 * @throws SafetensorsError with the reason for truncated files, bad header length or JSON,
 *   other dtypes, shape/offset mismatches, overlapping or out-of-bounds data.
 */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.length < 8) throw new SafetensorsError(`file is ${bytes.length} bytes; too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.length) {
    throw new SafetensorsError(`header length ${headerLen} does not fit in a ${bytes.length}-byte file`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (cause) {
    throw new SafetensorsError("header is not valid UTF-8 JSON", { cause });
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new SafetensorsError("header must be a JSON object");
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, F32Tensor>();
  let metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = parseMetadata(entry);
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
    const width = dtypeWidth(dtype);
    if (width === undefined) throw new SafetensorsError(`tensor ${name}: dtype ${String(dtype)} is not supported (F32, F16, BF16)`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`tensor ${name}: shape must be an array of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new SafetensorsError(`tensor ${name}: data_offsets must be [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end < begin || end > dataLen) throw new SafetensorsError(`tensor ${name}: data_offsets [${begin}, ${end}] outside the ${dataLen}-byte data`);
    if (end - begin !== size * width) throw new SafetensorsError(`tensor ${name}: shape [${shape}] needs ${size * width} bytes, offsets give ${end - begin}`);
    ranges.push([begin, end, name]);
    const data = toFloat32(bytes.subarray(dataStart + begin, dataStart + end), dtype as FloatDtype);
    tensors.set(name, { shape: shape as number[], data });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]![0] < ranges[i - 1]![1]) throw new SafetensorsError(`tensors ${ranges[i - 1]![2]} and ${ranges[i]![2]} overlap`);
  }
  return { tensors, metadata };
}

function parseMetadata(entry: unknown): Record<string, string> {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new SafetensorsError("__metadata__ must be an object of strings");
  }
  for (const v of Object.values(entry)) {
    if (typeof v !== "string") throw new SafetensorsError("__metadata__ values must be strings");
  }
  return entry as Record<string, string>;
}

/**
 * Gets a tensor and checks its shape.
 * @throws SafetensorsError when it is missing or has another shape.
 */
export function requireTensor(file: SafetensorsFile, name: string, shape: number[]): Float32Array {
  const t = file.tensors.get(name);
  if (!t) throw new SafetensorsError(`missing tensor ${name}`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new SafetensorsError(`tensor ${name}: shape [${t.shape}], expected [${shape}]`);
  }
  return t.data;
}

/** The floating-point storage types read: their bytes per value. */
const DTYPE_BYTES: Readonly<Record<FloatDtype, number>> = { F32: 4, F16: 2, BF16: 2 };
export type FloatDtype = "F32" | "F16" | "BF16";

/** The bytes per value of a header's `dtype` when it is one read here (F32, F16, BF16), else `undefined`. */
export function dtypeWidth(dtype: unknown): number | undefined {
  return typeof dtype === "string" && Object.hasOwn(DTYPE_BYTES, dtype) ? DTYPE_BYTES[dtype as FloatDtype] : undefined;
}

/** Little-endian F32/F16/BF16 bytes as float32 values (F16 and BF16 widened exactly). */
export function toFloat32(bytes: Uint8Array, dtype: FloatDtype): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "F32") {
    const out = new Float32Array(bytes.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  const out = new Float32Array(bytes.length / 2);
  if (dtype === "BF16") {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(i * 2, true) << 16;
    return out;
  }
  for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
