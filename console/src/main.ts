import "uplot/dist/uPlot.min.css";
import "./style.css";
import { AuthenticationError, type SignalClient } from "../../src/index.js";
import { comparePage } from "./compare-page.js";
import { append, h, replace } from "./dom.js";
import { playgroundPage } from "./playground-page.js";
import { runPage } from "./run-page.js";
import { runsPage } from "./runs-page.js";
import { clientFor, storedKey, storeKey } from "./session.js";

/** A page: draws itself into `root` and returns what stops its timers and streams. */
export type Page = (root: HTMLElement, client: SignalClient, arg: string | undefined) => () => void;

const PAGES: Record<string, Page> = { "": runsPage, runs: runPage, compare: comparePage, playground: playgroundPage };

let client: SignalClient | undefined;
let leave: (() => void) | undefined;

function app(): HTMLElement {
  return document.getElementById("app")!;
}

function renderNav(): void {
  const nav = document.getElementById("nav")!;
  if (!client) {
    replace(nav);
    return;
  }
  replace(nav, h("a", { href: "#/" }, "Runs"), h("button", { type: "button", class: "link push", onclick: signOut }, "Sign out"));
}

function route(): void {
  leave?.();
  leave = undefined;
  renderNav();
  const root = app();
  replace(root);
  if (!client) {
    signIn(root);
    return;
  }
  const [name = "", arg] = location.hash.replace(/^#\/?/, "").split("/");
  const page = PAGES[name] ?? runsPage;
  leave = page(root, client, arg === undefined ? undefined : decodeURIComponent(arg));
}

function signOut(): void {
  void client?.close();
  client = undefined;
  storeKey(undefined);
  location.hash = "#/";
  route();
}

/** The sign-in form: the key is checked with a list call before it is kept (for this tab only). */
function signIn(root: HTMLElement): void {
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "api-key-help",
  });
  const problem = h("p", { id: "sign-in-problem", class: "problem", role: "alert" });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card narrow", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h("label", { for: "api-key" }, "API key"),
    input,
    h("p", { id: "api-key-help", class: "hint" }, "One of the keys the server was started with. It is kept for this tab only."),
    problem,
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (key === "") return;
    button.disabled = true;
    problem.textContent = "";
    input.removeAttribute("aria-invalid");
    const candidate = clientFor(key);
    try {
      await candidate.listRuns({ limit: 1 });
    } catch (error) {
      await candidate.close();
      button.disabled = false;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "api-key-help sign-in-problem");
      problem.textContent =
        error instanceof AuthenticationError
          ? "The server refused this API key: it is not one of its keys."
          : `Could not reach the server (${(error as Error).name}).`;
      input.focus();
      return;
    }
    client = candidate;
    storeKey(key);
    route();
  });
  append(root, form);
  input.focus();
}

const saved = storedKey();
if (saved !== undefined) client = clientFor(saved);
window.addEventListener("hashchange", () => {
  route();
  app().focus();
});
route();
