import { APIUserAbortError, type Checkpoint, type Metric, type Run, type SignalClient } from "../../src/index.js";
import { StepChart, smooth } from "./charts.js";
import { announce, append, bytes, fmt, h, replace, when } from "./dom.js";
import { runName } from "./runs-page.js";

const PAGE = 1000;

/**
 * Every metric row of a run after `afterStep`, oldest first. With the run's step known, the
 * pages are read side by side: the page after step k·1000 holds every row up to step
 * (k+1)·1000 (a run has at most one row per step), so the pages split by step range need no
 * cursor from each other. Without it, page after page by cursor.
 */
export async function allMetrics(client: SignalClient, runId: string, afterStep = 0, upToStep?: number): Promise<Metric[]> {
  if (upToStep === undefined) {
    const rows: Metric[] = [];
    for await (const row of client.listMetrics(runId, { limit: PAGE, ...(afterStep > 0 ? { after: String(afterStep) } : {}) })) rows.push(row);
    return rows;
  }
  const starts: number[] = [];
  for (let start = afterStep; start < upToStep; start += PAGE) starts.push(start);
  const pages = await Promise.all(
    starts.map(async (start) => {
      const page = await client.listMetrics(runId, { limit: PAGE, ...(start > 0 ? { after: String(start) } : {}) });
      return page.data.filter((row) => row.step <= start + PAGE);
    }),
  );
  const rows = pages.flat();
  // Rows written after `upToStep` was read come through the event stream (or the next catch-up).
  return rows;
}

/** Tokens per second of each step: its tokens over the time since the step before. */
function tokensPerSecond(rows: Metric[]): (number | null)[] {
  return rows.map((row, i) => {
    if (i === 0) return null;
    const seconds = (Date.parse(row.created_at) - Date.parse(rows[i - 1]!.created_at)) / 1000;
    return seconds > 0 ? row.num_tokens / seconds : null;
  });
}

/**
 * A run: its step (live), loss, grad_norm, accuracy, learning rate and tokens/s curves with
 * smoothing, and its checkpoints with download, restore and delete. Live through `watchRun`.
 */
export function runPage(root: HTMLElement, client: SignalClient, runId: string | undefined): () => void {
  if (runId === undefined) {
    append(root, h("p", {}, "No run given."));
    return () => {};
  }
  const controller = new AbortController();
  let rows: Metric[] = [];
  let weight = 0.6;
  const title = h("h1", {}, runId);
  const facts = h("p", { class: "facts" });
  const step = h("output", { id: "current-step", "aria-live": "off" }, "…");
  const slider = h("input", { id: "smoothing", type: "range", min: 0, max: 0.99, step: 0.01, value: weight });
  const sliderValue = h("output", { for: "smoothing" }, String(weight));
  const live = h("span", { class: "badge", id: "live-state" }, "connecting");
  const charts = {
    loss: new StepChart("Loss", [
      { label: "loss", color: "#9ab5e8", width: 1 },
      { label: "loss (smoothed)", color: "#1f6feb", width: 2 },
      { label: "eval loss", color: "#d1242f", points: true },
    ]),
    gradNorm: new StepChart("Gradient norm", [
      { label: "grad_norm", color: "#b9a3e3", width: 1 },
      { label: "grad_norm (smoothed)", color: "#8250df", width: 2 },
    ]),
    accuracy: new StepChart(
      "Token accuracy",
      [
        { label: "token_accuracy", color: "#1a7f37", width: 1.5 },
        { label: "eval token accuracy", color: "#d1242f", points: true },
      ],
      { yMin: 0, yMax: 1 },
    ),
    lr: new StepChart("Learning rate", [{ label: "learning_rate", color: "#9a6700" }], { height: 160 }),
    speed: new StepChart("Tokens per second", [
      { label: "tokens/s", color: "#bbb", width: 1 },
      { label: "tokens/s (smoothed)", color: "#57606a", width: 2 },
    ]),
  } satisfies Record<string, StepChart>;
  const checkpointBody = h("tbody");
  const checkpointsEmpty = h("p", { class: "hint" });

  append(
    root,
    title,
    facts,
    h(
      "div",
      { class: "toolbar" },
      h("span", { class: "step" }, "Step ", step),
      live,
      h("label", { for: "smoothing" }, "Smoothing"),
      slider,
      sliderValue,
      h("a", { href: `#/playground/${encodeURIComponent(runId)}` }, "Open in playground"),
    ),
    h("div", { class: "charts" }, ...Object.values(charts).map((c) => c.element)),
    h("h2", {}, "Checkpoints"),
    h(
      "table",
      { class: "checkpoints" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["Step", "Mode", "Size", "Created", "Expires"].map((t) => h("th", { scope: "col" }, t)),
          h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
        ),
      ),
      checkpointBody,
    ),
    checkpointsEmpty,
  );

  let frame = 0;
  const draw = () => {
    frame = 0;
    const x = rows.map((r) => r.step);
    const loss = rows.map((r) => r.loss);
    const grad = rows.map((r) => r.grad_norm);
    const speed = tokensPerSecond(rows);
    charts.loss.set(x, [loss, smooth(loss, weight), rows.map((r) => r.eval_loss ?? null)]);
    charts.gradNorm.set(x, [grad, smooth(grad, weight)]);
    charts.accuracy.set(x, [rows.map((r) => r.token_accuracy ?? null), rows.map((r) => r.eval_token_accuracy ?? null)]);
    charts.lr.set(x, [rows.map((r) => r.learning_rate)]);
    charts.speed.set(x, [speed, smooth(speed, weight)]);
  };
  const redraw = () => {
    frame ||= requestAnimationFrame(draw);
  };
  slider.addEventListener("input", () => {
    weight = Number(slider.value);
    sliderValue.textContent = slider.value;
    redraw();
  });

  const showRun = (run: Run) => {
    title.textContent = runName(run);
    replace(facts, `${run.base_model} · LoRA r=${run.lora_r}, alpha=${run.lora_alpha} · lr ${fmt(run.learning_rate)} · `, h("code", {}, run.run_id));
    step.textContent = String(run.current_step);
  };

  const act = async (what: string, work: () => Promise<unknown>) => {
    try {
      await work();
      announce(what);
    } catch (error) {
      announce(`Failed: ${(error as Error).message}`);
    }
  };
  const download = async (c: Checkpoint) => {
    const data = await client.downloadCheckpoint(runId, c.step, { signal: controller.signal });
    const url = URL.createObjectURL(new Blob([data as Uint8Array<ArrayBuffer>], { type: "application/octet-stream" }));
    const link = h("a", { href: url, download: `${runId}-step-${c.step}-adapter_model.safetensors` });
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  const loadCheckpoints = async () => {
    const list: Checkpoint[] = [];
    for await (const c of client.listCheckpoints(runId, { limit: 1000 })) list.push(c);
    replace(
      checkpointBody,
      ...list.map((c) => {
        const expires = c.expires_at;
        return h(
          "tr",
          { "data-step": c.step },
          h("td", { class: "num" }, c.step),
          h("td", {}, c.mode),
          h("td", { class: "num" }, bytes(c.size_bytes)),
          h("td", {}, when(c.created_at)),
          h("td", {}, expires ? when(expires) : "never"),
          h(
            "td",
            { class: "actions" },
            h("button", { type: "button", onclick: () => act(`Downloaded the checkpoint at step ${c.step}.`, () => download(c)) }, `Download step ${c.step}`),
            h(
              "button",
              {
                type: "button",
                onclick: () => {
                  if (confirm(`Restore the run to its checkpoint at step ${c.step}? Metrics after that step are dropped.`))
                    void act(`Restored step ${c.step}.`, () => client.restoreCheckpoint(runId, c.step));
                },
              },
              `Restore step ${c.step}`,
            ),
            h(
              "button",
              {
                type: "button",
                class: "danger",
                onclick: () => {
                  if (confirm(`Delete the checkpoint at step ${c.step}? This cannot be undone.`))
                    void act(`Deleted the checkpoint at step ${c.step}.`, () => client.deleteCheckpoint(runId, c.step));
                },
              },
              `Delete step ${c.step}`,
            ),
          ),
        );
      }),
    );
    checkpointsEmpty.textContent = list.length === 0 ? "No checkpoints yet (saveState / saveCheckpoint in the SDK)." : "";
  };

  const lastStep = () => rows[rows.length - 1]?.step ?? 0;
  const catchUp = async (run: Run) => {
    if (run.current_step < lastStep()) rows = await allMetrics(client, runId, 0, run.current_step);
    else if (run.current_step > lastStep()) rows = rows.concat(await allMetrics(client, runId, lastStep(), run.current_step));
    redraw();
  };

  const watch = async () => {
    try {
      for await (const event of client.watchRun(runId, { signal: controller.signal })) {
        live.textContent = "live";
        if (event.type === "step.applied" && event.metric) {
          if (event.metric.step > lastStep()) rows.push(event.metric);
          step.textContent = String(event.metric.step);
          redraw();
        } else if (event.type === "run.updated" && event.run) {
          showRun(event.run);
          await catchUp(event.run);
          if (event.resync) await loadCheckpoints();
        } else if (event.type === "checkpoint.saved" || event.type === "checkpoint.deleted") {
          await loadCheckpoints();
        } else if (event.type === "run.deleted") {
          live.textContent = "deleted";
          announce("This run was deleted.");
        }
      }
    } catch (error) {
      if (!(error instanceof APIUserAbortError)) {
        live.textContent = "offline";
        announce(`Live updates stopped: ${(error as Error).message}`);
      }
    }
  };

  void (async () => {
    try {
      const run = await client.getRun(runId, { signal: controller.signal });
      showRun(run);
      rows = await allMetrics(client, runId, 0, run.current_step);
      draw();
      performance.mark("console:run-rendered");
      document.body.dataset.runRendered = String(rows.length);
      await loadCheckpoints();
      void watch();
    } catch (error) {
      if (!controller.signal.aborted) replace(root, h("h1", {}, "Run"), h("p", { class: "problem", role: "alert" }, (error as Error).message));
    }
  })();

  return () => {
    controller.abort();
    cancelAnimationFrame(frame);
    for (const chart of Object.values(charts)) chart.destroy();
  };
}
