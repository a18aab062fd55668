/**
 * The package version, sent in `X-Signal-Client` and reported by the local server's getHealth.
 * Written by `npm run release`; test/unit/the-version-constant-is-the-package-version.test.ts
 * keeps it equal to package.json's.
 */
export const VERSION = "0.1.0";
