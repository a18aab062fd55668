import { randomBytes } from "node:crypto";

/** `req_` + 16 random hex digits: the id of one HTTP request (`x-request-id`, `request_id`). */
export function newRequestId(): string {
  return `req_${randomBytes(8).toString("hex")}`;
}

/** `run_` + 16 random hex digits; matches the spec's `^run_[a-z0-9]{8,40}$`. */
export function newRunId(): string {
  return `run_${randomBytes(8).toString("hex")}`;
}

/** `cmpl_` + 16 random hex digits: the id of an OpenAI-style completion. */
export function newCompletionId(): string {
  return `cmpl_${randomBytes(8).toString("hex")}`;
}

/** `chatcmpl_` + 16 random hex digits: the id of an OpenAI-style chat completion. */
export function newChatCompletionId(): string {
  return `chatcmpl_${randomBytes(8).toString("hex")}`;
}

/** A new API key, `sk-` + 48 hex digits, for a server started with none configured. */
export function newApiKey(): string {
  return `sk-${randomBytes(24).toString("hex")}`;
}

/** Matches the run ids this server hands out (and any the spec allows). */
export const RUN_ID_PATTERN = /^run_[a-z0-9]{8,40}$/;
