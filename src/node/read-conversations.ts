import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { ConversationExample } from "../chat.js";

/** Options of `readConversations`. */
export interface ReadConversationsOptions {
  /** Conversations per batch (the last batch may be smaller). @default 8 */
  batchSize?: number | undefined;
  /** Which assistant messages each example's loss covers. @default the server's, "all_assistant" */
  train_on?: ConversationExample["train_on"] | undefined;
}

/**
 * Batches of conversation examples from a JSONL file of `{"messages": [...]}` lines (the
 * supervised format of OpenAI, Together and Tinker's cookbook), for `trainEpoch`. Blank lines are
 * skipped; other fields of a line (`train_on`, `chat_template_kwargs`) are kept, others dropped.
 * The file is read as it is consumed, so it may be larger than memory. Messages are checked by the
 * server (a bad one is a BadRequestError naming `batch[i].messages[j]`).
 * @throws Error naming `file:line` for a line that is not JSON or has no `messages` list; the
 *   file's own error when it cannot be read.
 */
export async function* readConversations(file: string, options: ReadConversationsOptions = {}): AsyncGenerator<ConversationExample[]> {
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${String(batchSize)}`);
  const lines = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Number.POSITIVE_INFINITY });
  let batch: ConversationExample[] = [];
  let number = 0;
  for await (const line of lines) {
    number++;
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new Error(`${file}:${number}: not JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    const record = value as Record<string, unknown> | null;
    if (typeof record !== "object" || record === null || !Array.isArray(record.messages)) {
      throw new Error(`${file}:${number}: expected {"messages": [...]}`);
    }
    const example: ConversationExample = { messages: record.messages as ConversationExample["messages"] };
    const trainOn = (record.train_on as ConversationExample["train_on"]) ?? options.train_on;
    if (trainOn !== undefined) example.train_on = trainOn;
    if (record.chat_template_kwargs !== undefined) example.chat_template_kwargs = record.chat_template_kwargs as ConversationExample["chat_template_kwargs"];
    batch.push(example);
    if (batch.length === batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
