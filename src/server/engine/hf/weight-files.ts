import fs from "node:fs";
import path from "node:path";
import { CheckpointError } from "./checkpoint-error.js";
import { dtypeWidth, type FloatDtype, toFloat32 } from "../safetensors.js";

/** Where one tensor lives: its file, dtype, shape and absolute byte range. */
export interface TensorEntry {
  file: string;
  dtype: FloatDtype;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * The tensors of a checkpoint folder by name, from `model.safetensors` or the shards that
 * `model.safetensors.index.json` lists, reading only the headers. Each header is checked
 * against its file's size, so a truncated download is found before any weight is read.
 * @throws CheckpointError naming the file and the problem.
 */
export function indexWeights(dir: string): Map<string, TensorEntry> {
  const single = path.join(dir, "model.safetensors");
  const indexPath = path.join(dir, "model.safetensors.index.json");
  let files: string[];
  if (fs.existsSync(single)) files = [single];
  else if (fs.existsSync(indexPath)) {
    const index = readJson(indexPath) as { weight_map?: Record<string, string> };
    if (!index.weight_map || typeof index.weight_map !== "object") throw new CheckpointError(`${indexPath}: no "weight_map"`);
    files = [...new Set(Object.values(index.weight_map))].map((f) => path.join(dir, f));
  } else {
    throw new CheckpointError(`${dir}: no model.safetensors or model.safetensors.index.json (only safetensors weights are supported)`);
  }
  const entries = new Map<string, TensorEntry>();
  for (const file of files) {
    for (const [name, entry] of readHeader(file)) {
      if (entries.has(name)) throw new CheckpointError(`${file}: tensor ${name} is also in ${entries.get(name)!.file}`);
      entries.set(name, entry);
    }
  }
  return entries;
}

function readHeader(file: string): [string, TensorEntry][] {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (e) {
    throw new CheckpointError(`${file}: cannot be opened (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const lenBytes = Buffer.alloc(8);
    if (size < 8 || fs.readSync(fd, lenBytes, 0, 8, 0) < 8) throw new CheckpointError(`${file}: truncated (${size} bytes, no header)`);
    const headerLen = Number(lenBytes.readBigUInt64LE(0));
    if (headerLen > 100_000_000 || 8 + headerLen > size)
      throw new CheckpointError(`${file}: truncated or not safetensors (header of ${headerLen} bytes in a ${size}-byte file)`);
    const headerBytes = Buffer.alloc(headerLen);
    fs.readSync(fd, headerBytes, 0, headerLen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBytes.toString("utf8")) as Record<string, unknown>;
    } catch {
      throw new CheckpointError(`${file}: the safetensors header is not JSON`);
    }
    const dataStart = 8 + headerLen;
    const out: [string, TensorEntry][] = [];
    let dataEnd = 0;
    for (const [name, raw] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const { dtype, shape, data_offsets: offsets } = (raw ?? {}) as Record<string, unknown>;
      // The storage types a checkpoint may use; each is converted to float32 as it is read.
      const width = dtypeWidth(dtype);
      if (!width) throw new CheckpointError(`${file}: tensor ${name} has dtype ${String(dtype)}; supported: F32, F16, BF16`);
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new CheckpointError(`${file}: tensor ${name} has a bad shape`);
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0))
        throw new CheckpointError(`${file}: tensor ${name} has bad data_offsets`);
      const [b, e] = offsets as [number, number];
      const count = (shape as number[]).reduce((a, c) => a * c, 1);
      if (e - b !== count * width)
        throw new CheckpointError(`${file}: tensor ${name} of shape [${shape}] needs ${count * width} bytes, its offsets give ${e - b}`);
      dataEnd = Math.max(dataEnd, e);
      out.push([name, { file, dtype: dtype as TensorEntry["dtype"], shape: shape as number[], begin: dataStart + b, end: dataStart + e }]);
    }
    if (dataStart + dataEnd > size) throw new CheckpointError(`${file}: truncated: its header needs ${dataStart + dataEnd} bytes, the file has ${size}`);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads one tensor as float32 (F16 and BF16 widened exactly). */
export function readTensor(entry: TensorEntry): Float32Array {
  const bytes = Buffer.alloc(entry.end - entry.begin);
  const fd = fs.openSync(entry.file, "r");
  try {
    let done = 0;
    while (done < bytes.length) {
      const n = fs.readSync(fd, bytes, done, bytes.length - done, entry.begin + done);
      if (n === 0) throw new CheckpointError(`${entry.file}: truncated while reading`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return toFloat32(bytes, entry.dtype);
}

/** Parses a JSON file. @throws CheckpointError naming the file when it is missing or not JSON. */
export function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new CheckpointError(`${file}: missing`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError(`${file}: not valid JSON`);
  }
}
