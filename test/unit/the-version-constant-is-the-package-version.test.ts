import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { VERSION } from "../../src/index.js";
import { SERVER_VERSION } from "../../src/server/index.js";

const packageVersion = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

describe("the version", () => {
  it("is package.json's in the SDK's VERSION and the server's SERVER_VERSION", () => {
    expect({ sdk: VERSION, server: SERVER_VERSION }).toEqual({ sdk: packageVersion, server: packageVersion });
  });
});
