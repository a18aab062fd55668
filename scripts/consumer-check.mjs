#!/usr/bin/env node
// `npm run test:consumer`: checks frontier-signal/testing the way an app team gets it, from the
// packed tarball in a fresh project outside this repository (it needs the npm registry and takes
// a few minutes, so it is not part of `npm test`). Every command it runs is printed as run.
//
// 1. npm run build, npm pack.
// 2. A project with the tarball alone: the client entry loads; createMockServer and
//    createLocalServer fail with messages that say exactly what to install.
// 3. The same project plus the documented peers (Prism with its Node 20 overrides, the tensor
//    library, vitest; no better-sqlite3: createLocalServer runs on an in-memory store): the example app's tests from scripts/examples/testing pass with
//    `frontier-signal` and `frontier-signal/testing` imports, tsc accepts them, and
//    `npx frontier-signal mock` serves; the declarations compile in a Node-only, a DOM-only and a
//    mixed project with skipLibCheck false and exactOptionalPropertyTypes.
// 4. A test file that fails half-way with its mock never closed: vitest fails, and no Prism
//    process of the project is left afterwards (nor after any other step).
//
// Options: --keep (leave the project in place and print its path).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const keep = process.argv.includes("--keep");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const pinned = (name) => manifest.devDependencies[name];
const project = mkdtempSync(join(tmpdir(), "frontier-signal-consumer-"));
const env = { ...process.env, SCARF_ANALYTICS: "false", npm_config_fund: "false", npm_config_audit: "false" };
delete env.NODE_OPTIONS;
for (const key of Object.keys(env)) if (key.startsWith("npm_package_") || key === "npm_lifecycle_event" || key === "npm_lifecycle_script") delete env[key];

const started = performance.now();
const step = (title) => console.log(`\n== ${title} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
const sh = (cmd, args, cwd = project, options = {}) => {
  console.log(`$ ${cwd === project ? "" : `(cd ${cwd}) `}${[cmd, ...args].join(" ")}`);
  return execFileSync(cmd, args, { cwd, env, stdio: options.capture ? ["ignore", "pipe", "pipe"] : "inherit", encoding: "utf8" });
};
const expectFailure = (cmd, args, pattern) => {
  console.log(`$ ${[cmd, ...args].join(" ")}   # must fail with ${pattern}`);
  try {
    execFileSync(cmd, args, { cwd: project, env, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  } catch (error) {
    const output = `${error.stdout}${error.stderr}`;
    if (!pattern.test(output)) throw new Error(`expected ${pattern} in:\n${output}`);
    console.log(
      output
        .trim()
        .split("\n")
        .map((line) => `  | ${line}`)
        .join("\n"),
    );
    return;
  }
  throw new Error(`${cmd} ${args.join(" ")} succeeded; it should have failed`);
};
const leftoverPrisms = () =>
  readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        const state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
        return cmd.includes(project) && cmd.includes("prism-cli") && state !== "Z";
      } catch {
        return false;
      }
    });
const noLeftovers = (after) => {
  const left = leftoverPrisms();
  if (left.length > 0) throw new Error(`Prism processes left after ${after}: ${left.join(", ")}`);
  console.log(`no Prism process of the project is left after ${after}`);
};

try {
  step("build and pack");
  sh("npm", ["run", "build"], root);
  const packed = JSON.parse(sh("npm", ["pack", "--json", "--pack-destination", project], root, { capture: true }));
  const tarball = join(project, packed[0].filename);
  console.log(`packed ${tarball} (${packed[0].size} bytes, ${packed[0].entryCount} files)`);

  step("a project with the tarball alone");
  writeFileSync(join(project, "package.json"), `${JSON.stringify({ name: "consumer-app", private: true, type: "module" }, null, 2)}\n`);
  sh("npm", ["install", tarball]);
  writeFileSync(join(project, "client-only.mjs"), 'import { SignalClient } from "frontier-signal";\nconsole.log(typeof SignalClient);\n');
  sh("node", ["client-only.mjs"]);
  writeFileSync(join(project, "mock.mjs"), 'import { createMockServer } from "frontier-signal/testing";\nawait createMockServer();\n');
  expectFailure("node", ["mock.mjs"], /npm install --save-dev @stoplight\/prism-cli@\^5\.14\.2[\s\S]*"@stoplight\/prism-http": "5\.12\.0"/);
  writeFileSync(join(project, "local.mjs"), 'import { createLocalServer } from "frontier-signal/testing";\nawait createLocalServer();\n');
  expectFailure("node", ["local.mjs"], /npm install[^\n]*@tensorflow\/tfjs/);

  step("the documented peers");
  const consumer = JSON.parse(readFileSync(join(project, "package.json"), "utf8"));
  consumer.overrides = {
    "@stoplight/prism-core": manifest.overrides["@stoplight/prism-core"],
    "@stoplight/prism-http": manifest.overrides["@stoplight/prism-http"],
    "@stoplight/prism-http-server": manifest.overrides["@stoplight/prism-http-server"],
  };
  // No allowScripts: createLocalServer keeps its runs in memory, so no native module (better-sqlite3)
  // is built; the tensor library is pure JavaScript and WebAssembly.
  writeFileSync(join(project, "package.json"), `${JSON.stringify(consumer, null, 2)}\n`);
  console.log(`package.json overrides: ${JSON.stringify(consumer.overrides)}`);
  sh("npm", [
    "install",
    "--save-dev",
    // The peer ranges, as the README's install lines give them.
    `@stoplight/prism-cli@${manifest.peerDependencies["@stoplight/prism-cli"]}`,
    `@tensorflow/tfjs@${manifest.peerDependencies["@tensorflow/tfjs"]}`,
    `@tensorflow/tfjs-backend-wasm@${manifest.peerDependencies["@tensorflow/tfjs-backend-wasm"]}`,
    `vitest@${pinned("vitest")}`,
    `vite@${pinned("vite")}`,
    `typescript@${pinned("typescript")}`,
    `@types/node@${pinned("@types/node")}`,
  ]);

  if (readdirSync(join(project, "node_modules")).includes("better-sqlite3"))
    throw new Error("better-sqlite3 was installed; the testing entry must not need it");
  console.log("better-sqlite3 is not installed: createLocalServer must run without it");

  step("the example app's tests, importing the installed package");
  const examples = join(root, "scripts/examples/testing");
  for (const name of readdirSync(examples).filter((n) => n.endsWith(".ts"))) {
    const text = readFileSync(join(examples, name), "utf8")
      .replaceAll('"../../../src/index.js"', '"frontier-signal"')
      .replaceAll('"../../../src/testing/index.js"', '"frontier-signal/testing"');
    if (text.includes("../src/")) throw new Error(`${name} still imports from the repository`);
    writeFileSync(join(project, name), text);
  }
  writeFileSync(
    join(project, "tsconfig.json"),
    `${JSON.stringify(
      {
        compilerOptions: {
          target: "ES2023",
          lib: ["ES2023", "ESNext.Disposable", "DOM"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ["node"],
        },
        include: ["*.ts"],
      },
      null,
      2,
    )}\n`,
  );
  sh("npx", ["tsc", "-p", "tsconfig.json"]);

  step("the declarations in strict setups: Node-only, DOM-only and both; skipLibCheck false, exactOptionalPropertyTypes");
  writeFileSync(
    join(project, "strict-client.ts"),
    [
      'import { SignalClient } from "frontier-signal";',
      "export async function app(client: SignalClient, rank: number | undefined, t: number | undefined): Promise<void> {",
      '  const run = await client.createRun({ base_model: "signal-byte-tiny", lora_r: rank });',
      '  await client.sample(run.run_id, ["Q:"], { temperature: t });',
      '  await run.training().trainBatch([{ text: "a" }], { learning_rate: t });',
      "}",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(project, "strict-node.ts"),
    [
      'import { createLocalServer, createMockServer } from "frontier-signal/testing";',
      'import { saveAdapter } from "frontier-signal/node";',
      "export const entries = [createLocalServer, createMockServer, saveAdapter];",
      "",
    ].join("\n"),
  );
  const strict = {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    exactOptionalPropertyTypes: true,
  };
  for (const [name, lib, types, files] of [
    ["node-only", ["ES2022"], ["node"], ["strict-client.ts", "strict-node.ts"]],
    ["dom-only", ["ES2022", "DOM"], [], ["strict-client.ts"]],
    ["dom-and-node", ["ES2022", "DOM"], ["node"], ["strict-client.ts", "strict-node.ts"]],
  ]) {
    writeFileSync(join(project, `tsconfig.${name}.json`), `${JSON.stringify({ compilerOptions: { ...strict, lib, types }, files }, null, 2)}\n`);
    sh("npx", ["tsc", "-p", `tsconfig.${name}.json`]);
  }

  sh("npx", ["vitest", "run", "fine-tune-app.test.ts"]);
  noLeftovers("the passing run");

  step("a test that fails half-way, its mock never closed");
  writeFileSync(
    join(project, "fails-half-way.test.ts"),
    [
      'import { expect, it } from "vitest";',
      'import { createMockServer } from "frontier-signal/testing";',
      "",
      'it("fails with a mock open", { timeout: 60_000 }, async () => {',
      "  const mock = await createMockServer();",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the source of a test file, whose template literal is meant.
      "  const response = await fetch(`${mock.url}/v1/health`);",
      "  expect(response.status).toBe(500);",
      "});",
      "",
    ].join("\n"),
  );
  expectFailure("npx", ["vitest", "run", "fails-half-way.test.ts"], /expected 200 to be 500/);
  noLeftovers("the failing run");

  const bin = Object.keys(manifest.bin).includes("frontier-signal") ? "frontier-signal" : Object.keys(manifest.bin)[0];
  step(`npx ${bin} mock`);
  console.log(`$ npx ${bin} mock --port 0   # then GET /v1/models with the printed key, then SIGTERM to its process group (as Ctrl-C would)`);
  const child = spawn("npx", [bin, "mock", "--port", "0"], { cwd: project, env, stdio: ["ignore", "pipe", "inherit"], detached: true });
  let out = "";
  await new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (/^key \S+$/m.test(out)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`mock exited (${code}) before printing its key:\n${out}`)));
  });
  const url = /^url (\S+)$/m.exec(out)[1];
  const key = /^key (\S+)$/m.exec(out)[1];
  const status = (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status;
  if (status !== 200) throw new Error(`GET /v1/models answered ${status}`);
  console.log(`GET ${url}/v1/models with the printed key: ${status}`);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(-child.pid, "SIGTERM");
  await exited;
  await new Promise((resolve) => setTimeout(resolve, 500));
  noLeftovers("SIGTERM to the mock command");

  step(`consumer check passed in ${((performance.now() - started) / 1000).toFixed(0)} s`);
} finally {
  if (keep) console.log(`project kept at ${project}`);
  else rmSync(project, { recursive: true, force: true });
}
