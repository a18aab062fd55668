/**
 * The container of a run's state file: everything about a run that must change atomically in
 * one file. Layout: 8 bytes magic `SIGRUN01`, a u64 little-endian header length, a JSON header
 * `{ meta, blobs: { name: [offset, length] } }`, then the blobs. The header can be read without
 * the blobs (startup reads every run's header, and only loads weights when a run is used).
 */

const MAGIC = "SIGRUN01";
const PREFIX = 16;

/** Thrown for a file that is not a well-formed state file. */
class StateFileError extends Error {
  override readonly name = "StateFileError";
}

/** Serialises a header object and named byte blobs into one buffer. */
export function encodeStateFile(meta: unknown, blobs: Record<string, Uint8Array | undefined>): Buffer {
  const index: Record<string, [number, number]> = {};
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, blob] of Object.entries(blobs)) {
    if (!blob) continue;
    index[name] = [offset, blob.length];
    parts.push(blob);
    offset += blob.length;
  }
  const header = Buffer.from(JSON.stringify({ meta, blobs: index }), "utf8");
  const prefix = Buffer.alloc(PREFIX);
  prefix.write(MAGIC, 0, "latin1");
  prefix.writeBigUInt64LE(BigInt(header.length), 8);
  return Buffer.concat([prefix, header, ...parts]);
}

/** The length of the header that follows the 16-byte prefix. @throws StateFileError */
function headerLength(prefix: Buffer): number {
  if (prefix.length < PREFIX || prefix.toString("latin1", 0, 8) !== MAGIC) throw new StateFileError("not a run state file");
  const length = Number(prefix.readBigUInt64LE(8));
  if (length > 256 * 1024 * 1024) throw new StateFileError("state file header too large");
  return length;
}

/** Parses a whole state file. @throws StateFileError */
export function decodeStateFile(bytes: Buffer): { meta: unknown; blobs: Record<string, Uint8Array> } {
  const length = headerLength(bytes.subarray(0, PREFIX));
  const start = PREFIX + length;
  if (bytes.length < start) throw new StateFileError("truncated state file");
  const parsed = JSON.parse(bytes.toString("utf8", PREFIX, start)) as { meta: unknown; blobs: Record<string, [number, number]> };
  const blobs: Record<string, Uint8Array> = {};
  for (const [name, [offset, size]] of Object.entries(parsed.blobs)) {
    if (start + offset + size > bytes.length) throw new StateFileError(`truncated blob ${name}`);
    blobs[name] = new Uint8Array(bytes.subarray(start + offset, start + offset + size));
  }
  return { meta: parsed.meta, blobs };
}
