import type { Run, SignalClient } from "../../src/index.js";
import { announce, append, fmt, h, replace, when } from "./dom.js";

/** How often the list is read again: runs appear, steps advance. */
const REFRESH_MS = 2_000;
const MAX_RUNS = 200;

/** A run's name (`createRun({ name })`, `updateRun`), else a `name` label in its metadata, else its id. */
export function runName(run: Pick<Run, "run_id" | "metadata" | "name">): string {
  return run.name ?? run.metadata?.name ?? run.run_id;
}

/** The loss of the run's last step (its metric row at `current_step`). */
async function lastLoss(client: SignalClient, run: Pick<Run, "run_id" | "current_step">): Promise<number | undefined> {
  if (run.current_step === 0) return undefined;
  const page = await client.listMetrics(run.run_id, { after: String(run.current_step - 1), limit: 1 });
  return page.data[0]?.loss;
}

/** The runs of this key, newest first, refreshed every 2 s; 2–4 can be picked to compare their curves. */
export function runsPage(root: HTMLElement, client: SignalClient): () => void {
  const selected = new Set<string>();
  const losses = new Map<string, { step: number; loss: number | undefined }>();
  const body = h("tbody");
  const compare = h("a", { class: "button", href: "#/", "aria-disabled": "true" }, "Compare selected");
  const hint = h("p", { class: "hint", id: "compare-hint" }, "Select 2 to 4 runs to overlay their loss curves.");
  const empty = h("p", { class: "hint" });
  append(
    root,
    h("h1", {}, "Runs"),
    h("div", { class: "toolbar" }, compare, hint),
    h(
      "table",
      { class: "runs" },
      h("caption", { class: "sr-only" }, "Your runs, newest first"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Compare")),
          h("th", { scope: "col" }, "Run"),
          h("th", { scope: "col" }, "Base model"),
          h("th", { scope: "col" }, "Step"),
          h("th", { scope: "col" }, "Last loss"),
          h("th", { scope: "col" }, "Updated"),
          h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
        ),
      ),
      body,
    ),
    empty,
  );

  const updateCompare = () => {
    const ok = selected.size >= 2 && selected.size <= 4;
    compare.setAttribute("href", ok ? `#/compare/${[...selected].map(encodeURIComponent).join(",")}` : "#/");
    compare.setAttribute("aria-disabled", String(!ok));
    hint.textContent = ok ? `${selected.size} runs selected.` : "Select 2 to 4 runs to overlay their loss curves.";
  };
  compare.addEventListener("click", (event) => {
    if (compare.getAttribute("aria-disabled") === "true") event.preventDefault();
  });

  const draw = (runs: Run[]) => {
    const rows = runs.map((run) => {
      const name = runName(run);
      const box = h("input", { type: "checkbox", "aria-label": `Compare ${name}`, checked: selected.has(run.run_id) });
      box.addEventListener("change", () => {
        if (box.checked) selected.add(run.run_id);
        else selected.delete(run.run_id);
        updateCompare();
      });
      const loss = losses.get(run.run_id);
      return h(
        "tr",
        { "data-run-id": run.run_id },
        h("td", {}, box),
        h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(run.run_id)}` }, name)),
        h("td", {}, run.base_model),
        h("td", { class: "num", "data-field": "step" }, run.current_step),
        h("td", { class: "num" }, fmt(loss?.loss)),
        h("td", {}, when(run.updated_at)),
        h("td", {}, h("a", { href: `#/playground/${encodeURIComponent(run.run_id)}` }, "Playground")),
      );
    });
    replace(body, ...rows);
    empty.textContent = runs.length === 0 ? "No runs yet: create one with the SDK (client.createRun) and it appears here." : "";
  };

  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const refresh = async () => {
    try {
      const runs: Run[] = [];
      for await (const run of client.listRuns({ limit: 100 })) {
        runs.push(run);
        if (runs.length >= MAX_RUNS) break;
      }
      await Promise.all(
        runs.map(async (run) => {
          if (losses.get(run.run_id)?.step === run.current_step) return;
          losses.set(run.run_id, { step: run.current_step, loss: await lastLoss(client, run).catch(() => undefined) });
        }),
      );
      if (stopped) return;
      for (const id of selected) if (!runs.some((r) => r.run_id === id)) selected.delete(id);
      draw(runs);
      updateCompare();
    } catch (error) {
      if (!stopped) announce(`Could not read the runs: ${(error as Error).message}`);
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  };
  void refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
