/** The package version, sent in `X-Signal-Client`. A test keeps it equal to package.json's. */
export const VERSION = "0.1.0";
