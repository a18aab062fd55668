import { SignalError } from "../errors.js";

/**
 * A page's scripts are readable by anyone who loads the page, so an API key given to a client
 * there is published. Like openai-node, the client refuses one in a browser-like runtime (a
 * `window` with a `document`, or a worker) unless the app says it knows (`dangerouslyAllowBrowser`).
 * Loopback URLs stay allowed: the local server and the pages it serves hold no real key.
 */
function isBrowserLike(): boolean {
  const g = globalThis as { window?: { document?: unknown }; navigator?: unknown; WorkerGlobalScope?: unknown };
  return (
    (typeof g.window === "object" && g.window !== null && typeof g.window.document === "object" && typeof g.navigator === "object") ||
    typeof g.WorkerGlobalScope === "function"
  );
}

/** `localhost`, `*.localhost`, `127.0.0.0/8` and `[::1]`. */
export function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname.toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || /^127(\.\d{1,3}){3}$/.test(host) || host === "[::1]";
}

/**
 * @throws SignalError in a browser-like runtime when a key would go to a non-loopback `baseUrl`
 *   and `dangerouslyAllowBrowser` is not `true`.
 */
export function checkBrowserKey(baseUrl: string, dangerouslyAllowBrowser: boolean | undefined, browserLike: boolean = isBrowserLike()): void {
  if (!browserLike || dangerouslyAllowBrowser === true || isLoopbackUrl(baseUrl)) return;
  throw new SignalError(
    `This looks like a browser, and an API key in a page is readable by everyone who loads it. ` +
      `Call ${new URL(baseUrl).origin} from your server instead, or pass \`dangerouslyAllowBrowser: true\` if the key is meant to be public (loopback URLs need neither).`,
  );
}
