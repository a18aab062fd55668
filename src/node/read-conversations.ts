import { createReadStream } from "node:fs";
import { zConversationExample } from "../../generated/zod/zod.gen.js";
import type { ConversationExample } from "../chat.js";
import { type JsonlSource, checkLine, jsonLines, jsonlLineError } from "../read-jsonl.js";

/** Options of `readConversations`. */
export interface ReadConversationsOptions {
  /** Conversations per batch (the last batch may be smaller). @default 8 */
  batchSize?: number | undefined;
  /** Which assistant messages each example's loss covers. @default the server's, "all_assistant" */
  train_on?: ConversationExample["train_on"] | undefined;
}

/**
 * Batches of conversation examples from a JSONL file of `{"messages": [...]}` lines (the
 * supervised format of OpenAI, Together and Tinker's cookbook), for `trainEpoch`. Takes a path
 * (`string` or `file:` URL) or any source `readJsonl` takes. Blank lines are skipped; a line's
 * `train_on` and `chat_template_kwargs` are kept, its other fields (`tools`, ...) dropped. The
 * file is read as it is consumed, so it may be larger than memory. Each line is checked against
 * the spec's `ConversationExample` as it is read, before anything is sent; what only the model's
 * template can judge (an unknown role) is a BadRequestError from the server naming
 * `batch[i].messages[j]`.
 *
 * @example
 * const epoch = await training.trainEpoch(readConversations("chats.jsonl", { batchSize: 16 }));
 * @throws ValidationError naming the file and line, e.g. `readConversations chats.jsonl: line 2:
 *   expected {"messages": [...]}` or `...: line 5: train_on: Invalid option: ...`; RangeError for a
 *   bad `batchSize`; the file-system error (ENOENT, ...) when the file cannot be read.
 */
export async function* readConversations(
  source: string | URL | JsonlSource,
  options: ReadConversationsOptions = {},
): AsyncGenerator<ConversationExample[], void, undefined> {
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${String(batchSize)}`);
  const file = typeof source === "string" || source instanceof URL;
  const label = file ? `readConversations ${String(source)}` : "readConversations";
  const input = file ? (createReadStream(source) as AsyncIterable<Uint8Array>) : source;
  let batch: ConversationExample[] = [];
  for await (const { line, value } of jsonLines(input, label)) {
    const record = value as Record<string, unknown> | null;
    if (typeof record !== "object" || record === null || Array.isArray(record) || !Array.isArray(record.messages)) {
      throw jsonlLineError(label, line, 'expected {"messages": [...]}', "messages");
    }
    const example: ConversationExample = { messages: record.messages as ConversationExample["messages"] };
    const trainOn = record.train_on ?? options.train_on;
    if (trainOn !== undefined) example.train_on = trainOn as ConversationExample["train_on"];
    if (record.chat_template_kwargs !== undefined) example.chat_template_kwargs = record.chat_template_kwargs as ConversationExample["chat_template_kwargs"];
    checkLine(zConversationExample, example, label, line);
    batch.push(example);
    if (batch.length === batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
