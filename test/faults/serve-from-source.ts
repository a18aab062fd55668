// `signal serve` from the TypeScript source. bin/signal.js prefers a compiled dist/ when there
// is one, and a dist/ left from an earlier build would test old code; the fault tests must
// kill and restart the server exactly as the source is now.
import { main } from "../../src/server/cli.js";

const code = await main(process.argv.slice(2));
if (code !== 0) process.exit(code);
