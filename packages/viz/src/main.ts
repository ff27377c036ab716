/**
 * The visualizer page: three tabs (Simulate, Replay, Live) over the real @tsraft/raft core.
 *
 * URL parameters: `?tab=replay|live|sim`, `?replay=<spec>` (loads a case into the Replay tab: a
 * seed spec like `seed:123,nodes=5`, or a one-line case), `?seed=N&voters=N&spares=N&prevote&checkquorum`
 * (the Simulate tab's cluster), `?live=<url,url,...>` (connects the Live tab).
 *
 * For tests and the console, `window.__viz` exposes the panels (see {@link VizHooks}).
 */
import { byId } from "./dom.js";
import { LivePanel } from "./live-panel.js";
import { ReplayPanel } from "./replay-panel.js";
import { DEFAULT_PLAY, type PlaySetup } from "./sim-driver.js";
import { SimPanel } from "./sim-panel.js";

/** What `window.__viz` holds. */
export interface VizHooks {
  readonly sim: SimPanel;
  readonly replay: ReplayPanel;
  readonly live: LivePanel;
  /** Shows a tab. */
  show(tab: Tab): void;
}

type Tab = "sim" | "replay" | "live";
const TABS: readonly Tab[] = ["sim", "replay", "live"];

declare global {
  interface Window {
    __viz: VizHooks;
  }
}

function playFromUrl(q: URLSearchParams): PlaySetup {
  const int = (k: string, dflt: number, lo: number, hi: number) => {
    const v = Number(q.get(k));
    return q.has(k) && Number.isSafeInteger(v) && v >= lo && v <= hi ? v : dflt;
  };
  return {
    ...DEFAULT_PLAY,
    seed: int("seed", DEFAULT_PLAY.seed, 0, 2 ** 32 - 1),
    voters: int("voters", DEFAULT_PLAY.voters, 1, 7),
    spares: int("spares", DEFAULT_PLAY.spares, 0, 2),
    preVote: q.has("prevote"),
    checkQuorum: q.has("checkquorum"),
  };
}

function main(): void {
  const q = new URLSearchParams(location.search);
  const show = (tab: Tab) => {
    for (const t of TABS) {
      byId(`tab-${t}`).hidden = t !== tab;
      byId(`tabbtn-${t}`).classList.toggle("active", t === tab);
    }
    if (tab !== "sim") hooks.sim.player.pause();
    if (tab !== "replay") hooks.replay.player.pause();
  };
  const replay = new ReplayPanel();
  const sim = new SimPanel(playFromUrl(q), (text) => {
    byId<HTMLTextAreaElement>("replay-input").value = text;
    replay.load(text);
    show("replay");
  });
  const live = new LivePanel();
  const hooks: VizHooks = { sim, replay, live, show };
  window.__viz = hooks;
  for (const t of TABS) byId(`tabbtn-${t}`).addEventListener("click", () => show(t));

  const spec = q.get("replay");
  if (spec !== null) {
    byId<HTMLTextAreaElement>("replay-input").value = spec;
    replay.load(spec);
  }
  const urls = q.get("live");
  if (urls !== null) {
    byId<HTMLInputElement>("live-urls").value = urls;
    live.connect(urls);
  }
  const tab = q.get("tab");
  show(TABS.includes(tab as Tab) ? (tab as Tab) : spec !== null ? "replay" : urls !== null ? "live" : "sim");
  document.body.dataset.ready = "true";
}

main();
