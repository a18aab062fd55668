import type { Metric, SignalClient } from "../../src/index.js";
import { PALETTE, StepChart, smooth } from "./charts.js";
import { announce, append, h } from "./dom.js";
import { allMetrics } from "./run-page.js";
import { runName } from "./runs-page.js";

/** 2–4 runs' loss curves (smoothed) on one chart, kept live through `watchRun`. */
export function comparePage(root: HTMLElement, client: SignalClient, arg: string | undefined): () => void {
  const ids = (arg ?? "")
    .split(",")
    .filter((id) => id !== "")
    .slice(0, 4);
  const controller = new AbortController();
  const rows = new Map<string, Metric[]>(ids.map((id) => [id, []]));
  const names = new Map<string, string>(ids.map((id) => [id, id]));
  const weight = 0.6;
  append(root, h("h1", {}, "Compare runs"));
  if (ids.length < 2) {
    append(root, h("p", {}, "Pick 2 to 4 runs on the ", h("a", { href: "#/" }, "runs page"), "."));
    return () => {};
  }
  let chart: StepChart | undefined;
  const list = h("ul", { class: "legend-list" });
  append(root, list);
  const charts = h("div", { class: "charts wide" });
  append(root, charts);

  let frame = 0;
  const draw = () => {
    frame = 0;
    const steps = [...new Set([...rows.values()].flatMap((r) => r.map((m) => m.step)))].sort((a, b) => a - b);
    const index = new Map(steps.map((s, i) => [s, i]));
    const series = ids.map((id) => {
      const values: (number | null)[] = new Array(steps.length).fill(null);
      for (const m of rows.get(id) ?? []) values[index.get(m.step)!] = m.loss;
      return smooth(values, weight);
    });
    chart?.set(steps, series);
  };
  const redraw = () => {
    frame ||= requestAnimationFrame(draw);
  };

  const follow = async (id: string) => {
    try {
      for await (const event of client.watchRun(id, { signal: controller.signal })) {
        const mine = rows.get(id)!;
        if (event.type === "step.applied" && event.metric && event.metric.step > (mine[mine.length - 1]?.step ?? 0)) mine.push(event.metric);
        else if (event.type === "run.updated" && event.run && event.run.current_step !== (mine[mine.length - 1]?.step ?? 0)) {
          rows.set(id, await allMetrics(client, id, 0, event.run.current_step));
        }
        redraw();
      }
    } catch {
      // Aborted on leaving the page, or the run went away: its curve stays as it was.
    }
  };

  void (async () => {
    try {
      for (const id of ids) {
        const run = await client.getRun(id, { signal: controller.signal });
        names.set(id, runName(run));
        rows.set(id, await allMetrics(client, id, 0, run.current_step));
      }
      chart = new StepChart(
        "Loss (smoothed)",
        ids.map((id, i) => ({ label: names.get(id)!, color: PALETTE[i]!, width: 2 })),
        { height: 320 },
      );
      append(charts, chart.element);
      append(list, ...ids.map((id) => h("li", {}, h("a", { href: `#/runs/${encodeURIComponent(id)}` }, names.get(id)!))));
      draw();
      for (const id of ids) void follow(id);
    } catch (error) {
      if (!controller.signal.aborted) announce(`Could not load the runs: ${(error as Error).message}`);
    }
  })();

  return () => {
    controller.abort();
    cancelAnimationFrame(frame);
    chart?.destroy();
  };
}
