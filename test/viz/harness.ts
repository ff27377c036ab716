/**
 * Browser test helpers: the visualizer page built into a temporary directory and served by its own
 * server on a free port of 127.0.0.1, and Debian's Chromium driven by playwright-core (Playwright's
 * browser download is not reachable here; `apt-get install -y chromium` is, and `.ci/run` does it).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { buildViz, startVizServer, type VizServer } from "../../packages/viz/server/serve.js";

/** The Chromium binary (TSRAFT_CHROMIUM overrides Debian's path). */
export const CHROMIUM = process.env.TSRAFT_CHROMIUM ?? "/usr/bin/chromium";
/** Why the browser tests cannot run, or undefined when they can. */
export const CHROMIUM_MISSING = existsSync(CHROMIUM)
  ? undefined
  : "chromium not installed: apt-get install -y chromium";

/**
 * Flags for a closed network: without the background-networking ones Chromium keeps trying to reach
 * Google's services, and this sandbox refuses the connections.
 */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A built page, its server and a browser. */
export interface VizEnv {
  readonly url: string;
  readonly browser: Browser;
  readonly server: VizServer;
  /** Opens a page of `viewport` collecting console errors and uncaught exceptions into `errors`. */
  open(
    path?: string,
    viewport?: { width: number; height: number },
  ): Promise<{ page: Page; errors: string[] }>;
  close(): Promise<void>;
}

/** Builds the page, serves it and launches Chromium (a fresh profile: playwright makes a temporary one). */
export async function startVizEnv(): Promise<VizEnv> {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-viz-"));
  await buildViz(dir);
  const server = await startVizServer({ dir });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  return {
    url: server.url,
    browser,
    server,
    async open(path = "", viewport = { width: 1280, height: 900 }) {
      const page = await browser.newPage({ viewport });
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
      await page.goto(server.url + path);
      await page.waitForSelector("body[data-ready]");
      return { page, errors };
    },
    async close() {
      await browser.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Width and height from a PNG's IHDR chunk (and a check that it is a PNG). */
export function pngSize(png: Buffer): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.length < 24 || !sig.every((b, i) => png[i] === b)) throw new Error("not a PNG");
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/**
 * The bounding boxes of what `selector` matches, asserting each is drawn inside the viewport with
 * a non-empty area (what a screenshot would show).
 */
export async function visibleBoxes(
  page: Page,
  selector: string,
): Promise<{ x: number; y: number; width: number; height: number }[]> {
  const vp = page.viewportSize()!;
  const boxes = [];
  for (const el of await page.locator(selector).all()) {
    const b = await el.boundingBox();
    if (b === null || b.width <= 0 || b.height <= 0) throw new Error(`${selector}: not drawn`);
    if (b.x < 0 || b.y < 0 || b.x + b.width > vp.width || b.y + b.height > vp.height) {
      throw new Error(`${selector}: outside the viewport (${JSON.stringify(b)})`);
    }
    boxes.push(b);
  }
  return boxes;
}

/**
 * Takes a screenshot of `page`, checks it is a PNG of the viewport's size with something drawn on it
 * (a blank page compresses to a few KB), and keeps it as `tsraft-viz-<name>.png` in the OS temp
 * directory for a look after a failure.
 */
export async function screenshot(page: Page, name: string): Promise<Buffer> {
  const png = await page.screenshot();
  const size = pngSize(png);
  const vp = page.viewportSize()!;
  if (size.width !== vp.width || size.height !== vp.height) {
    throw new Error(`screenshot ${size.width}x${size.height}, viewport ${vp.width}x${vp.height}`);
  }
  if (png.length < 20_000) throw new Error(`screenshot of ${png.length} bytes: nothing drawn?`);
  writeFileSync(join(tmpdir(), `tsraft-viz-${name}.png`), png);
  return png;
}
