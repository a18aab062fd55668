// Configuration of @hey-api/openapi-ts: only the zod plugin (runtime schemas). The types come
// from openapi-typescript (generated/schema.d.ts). Run `npm run generate`; never edit the output.
export default {
  input: "./openapi/signal.yaml",
  output: { path: "generated/zod", postProcess: [] },
  plugins: [
    {
      name: "zod",
      compatibilityVersion: "mini",
      dates: { offset: true },
    },
  ],
};
