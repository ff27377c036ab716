/**
 * Browser test helpers: the visualizer page built into a temporary directory and served by its own
 * server on a free port of 127.0.0.1, and Debian's Chromium driven by playwright-core (Playwright's
 * browser download is not reachable here; `apt-get install -y chromium` is, and `.ci/run` does it).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
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

/**
 * The colour of pixel (x, y) of a PNG as Chromium writes screenshots (8-bit RGB or RGBA, not
 * interlaced): enough of a decoder to check that a screenshot shows what the DOM says is drawn.
 */
export function pixelAt(png: Buffer, x: number, y: number): [number, number, number] {
  const { width, height } = pngSize(png);
  const depth = png[24];
  const colorType = png[25];
  const bpp = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  if (depth !== 8 || bpp === 0 || png[28] !== 0) throw new Error("unsupported PNG");
  const idat: Buffer[] = [];
  for (let off = 8; off < png.length; ) {
    const len = png.readUInt32BE(off);
    const type = png.toString("latin1", off + 4, off + 8);
    if (type === "IDAT") idat.push(png.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  let prev = Buffer.alloc(stride);
  let row = Buffer.alloc(stride);
  for (let r = 0; r <= Math.min(y, height - 1); r++) {
    const filter = raw[r * (stride + 1)]!;
    const line = raw.subarray(r * (stride + 1) + 1, (r + 1) * (stride + 1));
    row = Buffer.alloc(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? row[i - bpp]! : 0;
      const b = prev[i]!;
      const c = i >= bpp ? prev[i - bpp]! : 0;
      let v = line[i]!;
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      row[i] = v & 0xff;
    }
    prev = row;
  }
  const i = x * bpp;
  return [row[i]!, row[i + 1]!, row[i + 2]!];
}

/** The colour a screenshot shows inside node `selector`'s circle (left of its centre, off the text). */
export async function nodeColor(
  page: Page,
  png: Buffer,
  selector: string,
): Promise<[number, number, number]> {
  const b = await page.locator(`${selector} .body`).boundingBox();
  if (b === null) throw new Error(`${selector}: not drawn`);
  return pixelAt(png, Math.round(b.x + b.width * 0.2), Math.round(b.y + b.height / 2));
}

/** True if colour `c` is within `tol` of `hex` on every channel. */
export function near(c: readonly number[], hex: string, tol = 24): boolean {
  const want = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  return want.every((w, i) => Math.abs(w - c[i]!) <= tol);
}
