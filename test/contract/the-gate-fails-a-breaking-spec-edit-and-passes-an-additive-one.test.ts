import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { copyProject, editYaml, root, runScript } from "./helpers/project-copy.js";

// Each case edits openapi/signal.yaml of a copy (the released spec stays as committed) and runs
// the compatibility step of `npm run check` on it.
const project = copyProject(["openapi", "scripts", "redocly.yaml", "package.json"]);
afterAll(() => project.remove());
const spec = join(project.dir, "openapi/signal.yaml");
const released = join(project.dir, "openapi/released/signal.yaml");
beforeEach(() => copyFileSync(join(root, "openapi/released/signal.yaml"), spec));

const gate = () => runScript(project.dir, "scripts/check.mjs", ["--only", "compat"]);

describe("npm run check's compatibility gate", () => {
  it("passes the committed spec against the released one", () => {
    copyFileSync(join(root, "openapi/signal.yaml"), spec);
    const { status, output } = gate();
    expect(output).toContain("spec compatibility with the released spec ok");
    expect(status).toBe(0);
  });

  it("fails when a response field is removed, naming the field, the operation and why it breaks", () => {
    editYaml(spec, (doc) => {
      const result = doc.components.schemas.ForwardBackwardResult;
      delete result.properties.loss;
      result.required = result.required.filter((name: string) => name !== "loss");
    });
    const { status, output } = gate();
    expect(status).toBe(1);
    expect(output).toContain("breaks existing clients");
    expect(output).toMatch(
      /forwardBackward \(POST \/v1\/runs\/\{run_id\}\/forward_backward\), response: Property `loss` of `ForwardBackwardResult` was removed\. Breaks existing clients: clients that read this field/,
    );
    expect(output).toContain("bump info.version's major (1.0.0 → 2.0.0)");
  });

  it("fails on a tighter request bound, a new required request field and a new status code", () => {
    editYaml(spec, (doc) => {
      const create = doc.components.schemas.CreateRunRequest;
      create.properties.lora_r.maximum = 32;
      create.properties.owner = { type: "string" };
      create.required.push("owner");
      doc.paths["/v1/runs/{run_id}"].get.responses["418"] = { $ref: "#/components/responses/NotFound" };
    });
    const { status, output } = gate();
    expect(status).toBe(1);
    expect(output).toContain("Upper bound of `lora_r` changed from '<= 64' to '<= 32'");
    expect(output).toContain("Properties of `CreateRunRequest` became required: `owner`");
    expect(output).toContain("getRun (GET /v1/runs/{run_id}), response: New response status 418.");
  });

  it("sees a schema no operation refers to: the SSE chunk of a streamed sample", () => {
    editYaml(spec, (doc) => {
      const chunk = doc.components.schemas.SampleChunk;
      delete chunk.properties.delta;
      chunk.required = chunk.required.filter((name: string) => name !== "delta");
    });
    const { status, output } = gate();
    expect(status).toBe(1);
    expect(output).toContain("SampleChunk (a schema no operation refers to, e.g. a stream event), response: Property `delta` of `SampleChunk` was removed.");
  });

  it("passes additive edits: a response field, an optional request field, an enum value, an operation", () => {
    editYaml(spec, (doc) => {
      doc.components.schemas.Run.properties.owner = { type: "string" };
      doc.components.schemas.Run.properties.status.enum.push("paused");
      doc.components.schemas.CreateRunRequest.properties.note = { type: "string" };
      doc.paths["/v1/runs/{run_id}/labels"] = {
        get: {
          operationId: "listRunLabels",
          responses: { "200": { description: "The labels.", content: { "application/json": { schema: { type: "object" } } } } },
        },
      };
    });
    const { status, output } = gate();
    expect(output).toContain("additive change(s) since openapi/released/signal.yaml (v1.0.0); none breaks existing clients");
    expect(status).toBe(0);
  });

  it("passes a 429 or 503 newly listed on an operation: the contract lets every operation answer them", () => {
    editYaml(released, (doc) => {
      delete doc.paths["/v1/runs/{run_id}"].get.responses["429"];
      delete doc.paths["/v1/runs/{run_id}"].get.responses["503"];
    });
    try {
      const { status, output } = gate();
      expect(output).toContain("2 additive change(s)");
      expect(status).toBe(0);
    } finally {
      copyFileSync(join(root, "openapi/released/signal.yaml"), released);
    }
  });

  it("lets a breaking edit through when info.version's major is bumped, and still lists it", () => {
    editYaml(spec, (doc) => {
      doc.info.version = "2.0.0";
      delete doc.paths["/v1/runs/{run_id}"].delete;
    });
    const { status, output } = gate();
    expect(output).toContain("allowed by the major bump to v2.0.0");
    expect(output).toContain("Operation `DELETE /v1/runs/{run_id}` was removed.");
    expect(status).toBe(0);
  });
});
