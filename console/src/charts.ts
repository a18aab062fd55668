import uPlot from "uplot";
import { h } from "./dom.js";

/** One line of a chart. */
export interface Line {
  label: string;
  color: string;
  /** Points only (sparse series such as evaluations). */
  points?: boolean;
  width?: number;
}

/** A uPlot line chart over steps, in a labelled figure, resized with its container. */
export class StepChart {
  readonly element: HTMLElement;
  readonly #plot: uPlot;
  readonly #title: string;
  readonly #resize: ResizeObserver;
  readonly #caption: HTMLElement;

  constructor(title: string, lines: Line[], options: { height?: number; yMin?: number; yMax?: number } = {}) {
    this.#title = title;
    const holder = h("div", { class: "plot" });
    this.#caption = h("p", { class: "sr-only" });
    this.element = h("figure", { class: "chart", role: "group", "aria-label": title }, h("figcaption", {}, title), holder, this.#caption);
    const fixed = options.yMin !== undefined || options.yMax !== undefined;
    this.#plot = new uPlot(
      {
        width: 480,
        height: options.height ?? 220,
        scales: {
          x: { time: false },
          y: fixed ? { range: [options.yMin ?? 0, options.yMax ?? 1] } : { auto: true },
        },
        axes: [{ label: "step", stroke: "#555" }, { stroke: "#555" }],
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        series: [
          { label: "step" },
          ...lines.map((line) => ({
            label: line.label,
            stroke: line.color,
            width: line.width ?? 1.5,
            spanGaps: !line.points,
            ...(line.points ? { paths: () => null, points: { show: true, size: 6, fill: line.color } } : { points: { show: false } }),
          })),
        ],
      },
      [[], ...lines.map(() => [])],
      holder,
    );
    this.#resize = new ResizeObserver(() => {
      const width = Math.max(240, Math.floor(holder.clientWidth));
      if (width !== this.#plot.width) this.#plot.setSize({ width, height: this.#plot.height });
    });
    this.#resize.observe(holder);
  }

  /** Replaces the data: `x` the steps, one array per line (null where a line has no point). */
  set(x: number[], ys: (number | null | undefined)[][]): void {
    this.#plot.setData([x, ...ys] as uPlot.AlignedData);
    const last = ys.map((y, i) => `${this.#plot.series[i + 1]?.label}: ${lastValue(y)}`).join(", ");
    this.#caption.textContent = x.length === 0 ? `${this.#title}: no data yet.` : `${this.#title} over ${x.length} steps; latest ${last}.`;
  }

  destroy(): void {
    this.#resize.disconnect();
    this.#plot.destroy();
  }
}

function lastValue(values: (number | null | undefined)[]): string {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined) return String(Number(v.toPrecision(4)));
  }
  return "none";
}

/**
 * Exponential moving average with bias correction (as TensorBoard smooths curves): `weight` 0 is
 * the raw values, 0.99 very smooth. Missing values are carried over, not averaged in.
 */
export function smooth(values: (number | null | undefined)[], weight: number): (number | null)[] {
  const out: (number | null)[] = [];
  let last = 0;
  let n = 0;
  for (const v of values) {
    if (v === null || v === undefined || !Number.isFinite(v)) {
      out.push(null);
      continue;
    }
    last = last * weight + (1 - weight) * v;
    n++;
    out.push(weight === 0 ? v : last / (1 - weight ** n));
  }
  return out;
}

/** Distinct colors for up to four runs or checkpoints. */
export const PALETTE = ["#1f6feb", "#d1242f", "#1a7f37", "#8250df"] as const;
