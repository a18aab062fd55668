import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";

/**
 * Replaces `file` with `data` so that after a crash at any instant the file holds either the old
 * bytes or the new ones, never a mix: write a temporary sibling, fsync it, rename it over the
 * target, then fsync the directory so the rename itself is on disk.
 *
 * @throws the file-system error; the temporary file is removed on failure.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const temp = `${file}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    const handle = await open(temp, "w", 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDir(path.dirname(file));
}

/** Writes a file and fsyncs it (for files inside a directory that is renamed into place later). */
export async function writeFileDurable(file: string, data: Uint8Array | string): Promise<void> {
  const handle = await open(file, "w", 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsyncs a directory, making renames and creations inside it durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** True for the names `writeFileAtomic` gives its temporary files (left behind by a crash). */
export function isTempName(name: string): boolean {
  return /\.tmp-[0-9a-f]{12}$/.test(name);
}
