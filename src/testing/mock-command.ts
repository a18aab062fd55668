import { parseArgs } from "node:util";
import { createMockServer } from "./mock-server.js";

/** The default port of `mock`, Prism's own default. */
export const MOCK_DEFAULT_PORT = 4010;

const USAGE = `Usage: frontier-signal mock [options]   (also: signal mock)

Serves a contract mock of the Frontier Signal API on 127.0.0.1: every operation of the spec
bundled in this package, answered with its examples; invalid requests get 422 naming the field,
any key but the printed one gets 401. Needs @stoplight/prism-cli (an optional peer dependency).

Options:
  --port N      TCP port, 0 for any free one (default ${MOCK_DEFAULT_PORT})
  --api-key K   the API key to accept (default: one generated and printed)
  -h, --help    show this help
`;

/**
 * `frontier-signal mock`: the mock of `createMockServer` as a process, for test runners that are
 * not JavaScript. Prints `url` and `key` lines, then serves until SIGINT or SIGTERM.
 *
 * @returns the exit code when it ends before serving (bad options, Prism missing).
 */
export async function mockCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { port: { type: "string" }, "api-key": { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const port = values.port === undefined ? MOCK_DEFAULT_PORT : /^\d+$/.test(values.port) ? Number(values.port) : null;
  if (port === null || port > 65_535) {
    process.stderr.write(`frontier-signal mock: --port must be an integer from 0 to 65535, got '${values.port}'\n`);
    return 2;
  }
  let mock;
  try {
    mock = await createMockServer({ port, ...(values["api-key"] !== undefined ? { apiKey: values["api-key"] } : {}) });
  } catch (error) {
    process.stderr.write(`frontier-signal mock: ${(error as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`Frontier Signal contract mock listening on ${mock.url}\nurl ${mock.url}\nkey ${mock.apiKey}\n`);
  const stop = () => {
    void mock.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return 0;
}
