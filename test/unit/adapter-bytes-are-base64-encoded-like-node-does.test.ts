import { describe, expect, it } from "vitest";
import { toBase64 } from "../../src/internal/base64.js";
import { mulberry32 } from "../helpers/mulberry32.js";

// importAdapter sends the file base64-encoded with web-standard globals only; the server decodes
// it with Buffer. Sizes around the encoder's 24,576-byte pieces and the 3-byte groups.
describe("toBase64", () => {
  it("equals Buffer's base64 for every size around its pieces and padding", () => {
    const random = mulberry32(9);
    for (const size of [0, 1, 2, 3, 4, 24_575, 24_576, 24_577, 49_153, 100_001]) {
      const bytes = Uint8Array.from({ length: size }, () => Math.floor(random() * 256));
      expect(toBase64(bytes), String(size)).toBe(Buffer.from(bytes).toString("base64"));
    }
  });
});
