import { describe, expect, it } from "vitest";
import { SignalClient, SignalError } from "../../src/index.js";
import { checkBrowserKey, isLoopbackUrl } from "../../src/internal/browser-guard.js";

describe("the browser guard outside a browser", () => {
  it("changes nothing in Node: a remote baseUrl with a key is fine", () => {
    expect(() => new SignalClient({ apiKey: "sk-x", baseUrl: "https://api.frontier-signal.example" })).not.toThrow();
  });

  it("in a browser-like runtime refuses a remote URL, allows loopback and the explicit opt-in", () => {
    expect(() => checkBrowserKey("https://api.frontier-signal.example", undefined, true)).toThrow(SignalError);
    expect(() => checkBrowserKey("https://api.frontier-signal.example", true, true)).not.toThrow();
    for (const url of ["http://127.0.0.1:7300", "http://localhost:5173", "http://[::1]:7300", "http://app.localhost"]) {
      expect(isLoopbackUrl(url)).toBe(true);
      expect(() => checkBrowserKey(url, undefined, true)).not.toThrow();
    }
    expect(isLoopbackUrl("http://127.evil.example")).toBe(false);
  });

  it("a dangerouslyAllowBrowser that is not a boolean is an error naming it", () => {
    expect(() => new SignalClient({ apiKey: "sk-x", dangerouslyAllowBrowser: "yes" as never })).toThrow(/dangerouslyAllowBrowser must be true or false/);
  });
});
