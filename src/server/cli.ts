import path from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_MODEL_ID, type HfModelSource } from "./engine/index.js";
import { SERVER_DEFAULTS, startServer } from "./start-server.js";

const USAGE = `Usage: frontier-signal serve [options]
       frontier-signal mock [--port N] [--api-key K]   (the contract mock; see \`frontier-signal mock --help\`)
       (\`signal\` is the same command)

Starts the Frontier Signal local reference server.

Options:
  --port N         TCP port, 0 for any free one (default ${SERVER_DEFAULTS.port})
  --host H         interface to listen on (default ${SERVER_DEFAULTS.host})
  --data-dir D     where runs and checkpoints are kept (default ${SERVER_DEFAULTS.dataDir}; :memory: keeps them in memory only)
  --api-key K      an accepted API key; repeat for several (default: SIGNAL_API_KEYS,
                   comma-separated; with neither, one is generated and printed)
  --workers N      engine worker threads (default ${SERVER_DEFAULTS.workers})
  --model DIR      a Hugging Face checkpoint folder to serve (Llama, Mistral, Qwen2, Qwen3),
                   its id the folder's name; --model ID=DIR names it; repeat for several
  --max-context N  cap every checkpoint's context (prompt + completion, or one training
                   example) at N tokens (default: its max_position_embeddings)
  --default-model ID  the model listed first and marked default (default ${DEFAULT_MODEL_ID})
  --cors-origin O  a page origin that may call from a browser, e.g. http://localhost:5173,
                   or * for any; repeat for several (default: loopback origins only)
  --allowed-host H a host name the server answers under besides loopback ones (a request
                   with any other Host header gets 403 while it listens on loopback);
                   repeat for several
  --sequence-hold-ms N  longest a pipelined call waits for a missing earlier call of its
                   sequence (default ${SERVER_DEFAULTS.sequenceHoldMs})
  --no-console     do not serve the web console at / (the API only)
  -h, --help       show this help
`;

/**
 * The `frontier-signal` command (also installed as `signal`). Logs one line per request; SIGINT/SIGTERM stop it cleanly (queued
 * training calls finish and persist first); a second signal exits at once.
 *
 * @returns the process exit code for errors found before the server starts.
 */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "mock") {
    // Loaded only for this subcommand: the mock needs no server code, the server no Prism.
    const { mockCommand } = await import("../testing/mock-command.js");
    return mockCommand(argv.slice(1));
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        "data-dir": { type: "string" },
        "api-key": { type: "string", multiple: true },
        workers: { type: "string" },
        model: { type: "string", multiple: true },
        "max-context": { type: "string" },
        "default-model": { type: "string" },
        "cors-origin": { type: "string", multiple: true },
        "allowed-host": { type: "string", multiple: true },
        "sequence-hold-ms": { type: "string" },
        "no-console": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals[0] !== "serve" || positionals.length > 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  const port = integer(values.port, "--port");
  const workers = integer(values.workers, "--workers");
  const maxContext = integer(values["max-context"], "--max-context");
  const holdMs = integer(values["sequence-hold-ms"], "--sequence-hold-ms");
  if (port === null || workers === null || maxContext === null || holdMs === null) return 2;
  const models = (values.model ?? []).map((spec) => modelSource(spec, maxContext));

  const dataDir = values["data-dir"] ?? SERVER_DEFAULTS.dataDir;
  let server;
  try {
    server = await startServer({
      ...(port !== undefined ? { port } : {}),
      ...(workers !== undefined ? { workers } : {}),
      ...(values.host !== undefined ? { host: values.host } : {}),
      ...(values["api-key"] ? { apiKeys: values["api-key"] } : {}),
      ...(values["cors-origin"] ? { corsOrigins: values["cors-origin"] } : {}),
      ...(values["allowed-host"] ? { allowedHosts: values["allowed-host"] } : {}),
      ...(holdMs !== undefined ? { sequenceHoldMs: holdMs } : {}),
      ...(values["no-console"] ? { console: false } : {}),
      ...(values["default-model"] !== undefined ? { defaultModel: values["default-model"] } : {}),
      models,
      dataDir,
      log: (line) => process.stdout.write(`${line}\n`),
    });
  } catch (error) {
    process.stderr.write(`signal: could not start the server: ${(error as Error).message}\n`);
    return 1;
  }
  process.stdout.write(
    `Frontier Signal server listening on ${server.url} (${dataDir === ":memory:" ? "runs in memory only" : `data dir ${path.resolve(dataDir)}`})\n`,
  );
  if (server.consoleUrl) process.stdout.write(`Web console: ${server.consoleUrl} (sign in with an API key)\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`signal: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stdout.write(`signal: ${signal}, shutting down\n`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`signal: error while shutting down: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  return 0;
}

/**
 * `--model DIR` or `--model ID=DIR` (an `=` before any path separator names the model, so a
 * folder whose name holds `=` can still be given as `./a=b`).
 */
export function modelSource(spec: string, maxContext: number | undefined): HfModelSource {
  const eq = spec.indexOf("=");
  const sep = spec.search(/[\\/]/);
  const named = eq > 0 && (sep < 0 || eq < sep);
  return {
    path: named ? spec.slice(eq + 1) : spec,
    ...(named ? { id: spec.slice(0, eq) } : {}),
    ...(maxContext !== undefined ? { contextLength: maxContext } : {}),
  };
}

/** Parses an integer option; `null` (after printing why) when it is not one. */
function integer(text: string | undefined, name: string): number | undefined | null {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) {
    process.stderr.write(`signal: ${name} must be a non-negative integer, got '${text}'\n`);
    return null;
  }
  return Number(text);
}
