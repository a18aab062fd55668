import type { Checkpoint, SignalClient } from "../../src/index.js";
import { announce, append, h, replace } from "./dom.js";
import { runName } from "./runs-page.js";

const MAX_PICKS = 4;

/**
 * One prompt sampled from up to four checkpoints of a run (or its live weights) side by side,
 * each answer streamed as it is generated: "compare outputs at different training steps".
 */
export function playgroundPage(root: HTMLElement, client: SignalClient, runId: string | undefined): () => void {
  if (runId === undefined) {
    append(root, h("p", {}, "Open the playground from a run."));
    return () => {};
  }
  let controller = new AbortController();
  const heading = h("h1", {}, "Playground");
  const picks = h("fieldset", { class: "picks" }, h("legend", {}, `Weights to compare (up to ${MAX_PICKS})`));
  const prompt = h("textarea", { id: "prompt", rows: 4, required: true });
  const temperature = h("input", { id: "temperature", type: "number", min: 0, max: 2, step: 0.1, value: 0 });
  const maxTokens = h("input", { id: "max-tokens", type: "number", min: 1, max: 255, step: 1, value: 32 });
  const stopAtNewline = h("input", { id: "stop-newline", type: "checkbox", checked: true });
  const button = h("button", { type: "submit" }, "Sample");
  const answers = h("div", { class: "answers", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card" },
    picks,
    h("label", { for: "prompt" }, "Prompt"),
    prompt,
    h(
      "div",
      { class: "row" },
      h("span", {}, h("label", { for: "temperature" }, "Temperature"), temperature),
      h("span", {}, h("label", { for: "max-tokens" }, "Max tokens"), maxTokens),
      h("span", {}, stopAtNewline, h("label", { for: "stop-newline" }, "Stop at a newline")),
    ),
    button,
  );
  append(root, heading, h("p", {}, h("a", { href: `#/runs/${encodeURIComponent(runId)}` }, "Back to the run")), form, answers);

  const boxes: HTMLInputElement[] = [];
  const limitPicks = () => {
    const count = boxes.filter((b) => b.checked).length;
    for (const b of boxes) b.disabled = !b.checked && count >= MAX_PICKS;
  };
  const addPick = (value: string, label: string, checked: boolean) => {
    const id = `pick-${value}`;
    const box = h("input", { type: "checkbox", id, value, checked });
    box.addEventListener("change", limitPicks);
    boxes.push(box);
    append(picks, h("div", {}, box, h("label", { for: id }, label)));
  };

  void (async () => {
    try {
      const run = await client.getRun(runId, { signal: controller.signal });
      heading.textContent = `Playground: ${runName(run)}`;
      const checkpoints: Checkpoint[] = [];
      for await (const c of client.listCheckpoints(runId, { limit: 1000 })) checkpoints.push(c);
      addPick("live", `Live weights (step ${run.current_step})`, true);
      // The newest checkpoints are picked first: they are what one compares against the live weights.
      const newest = checkpoints.slice(-(MAX_PICKS - 1)).map((c) => c.step);
      for (const c of checkpoints) addPick(String(c.step), `Checkpoint at step ${c.step} (${c.mode})`, newest.includes(c.step));
      limitPicks();
    } catch (error) {
      if (!controller.signal.aborted) announce(`Could not load the run: ${(error as Error).message}`);
    }
  })();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (chosen.length === 0) {
      announce("Pick at least one of the weights to sample from.");
      return;
    }
    controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    const params = {
      temperature: Number(temperature.value),
      max_tokens: Number(maxTokens.value),
      ...(stopAtNewline.checked ? { stop: ["\n"] } : {}),
    };
    button.disabled = true;
    const columns = chosen.map((value) => {
      const text = h("pre", { class: "answer", "data-weights": value });
      const state = h("p", { class: "hint" }, "sampling…");
      const column = h("article", { class: "answer-card" }, h("h2", {}, value === "live" ? "Live weights" : `Step ${value}`), text, state);
      return { value, column, text, state };
    });
    replace(answers, ...columns.map((c) => c.column));
    await Promise.all(
      columns.map(async ({ value, text, state }) => {
        try {
          const step = value === "live" ? {} : { step: Number(value) };
          let finish: string | null = null;
          for await (const chunk of client.streamSample(runId, prompt.value, { ...params, ...step }, { signal })) {
            text.textContent += chunk.delta;
            finish = chunk.finish_reason ?? finish;
          }
          state.textContent = finish === "length" ? "done (max tokens reached)" : "done";
          text.dataset.done = "true";
        } catch (error) {
          state.textContent = signal.aborted ? "stopped" : `failed: ${(error as Error).message}`;
        }
      }),
    );
    button.disabled = false;
    announce("Sampling finished.");
  });

  return () => controller.abort();
}
