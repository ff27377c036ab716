/**
 * The Live tab: polls `/status` of each node of a running `tsraft-kv` cluster (through the
 * visualizer's server, see live-status.ts) and shows who leads, every node's term, vote, commit
 * and applied indexes, and the leader's view of each peer's progress; a write box PUTs a key
 * through the HTTP API.
 */
import { byId, h } from "./dom.js";
import { type LiveNode, leaderOf, liveRole, parseStatus, parseUrls, proxied } from "./live-status.js";
import { ClusterRenderer, type DrawNode } from "./render-cluster.js";

/** How often `/status` is polled. */
const POLL_MS = 500;
/** A poll that takes longer fails. */
const TIMEOUT_MS = 2000;

/** The Live tab's state and wiring. */
export class LivePanel {
  nodes: LiveNode[] = [];
  private urls: string[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly renderer: ClusterRenderer;
  /** Bumped on every (re)connect, so that answers to an older poll are ignored. */
  private generation = 0;
  /** The id each URL last answered with (a node that is down is still drawn as itself). */
  private readonly knownIds = new Map<string, number>();

  constructor() {
    this.renderer = new ClusterRenderer(byId("live-cluster"));
    byId("live-connect").addEventListener("click", () =>
      this.connect(byId<HTMLInputElement>("live-urls").value),
    );
    byId("live-stop").addEventListener("click", () => this.stop());
    byId("live-put").addEventListener("click", () => void this.put());
    this.render();
  }

  /** Starts polling the nodes at `text` (see parseUrls). */
  connect(text: string): void {
    this.stop();
    this.urls = parseUrls(text);
    this.nodes = this.urls.map((url) => ({ url, error: "not polled yet", status: undefined }));
    this.generation++;
    void this.poll(this.generation);
  }

  /** Stops polling. */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.generation++;
    byId("live-state").textContent = "stopped";
  }

  private async poll(gen: number): Promise<void> {
    const results = await Promise.all(this.urls.map((url) => fetchStatus(url)));
    if (gen !== this.generation) return;
    this.nodes = results;
    for (const n of results) if (n.status !== undefined) this.knownIds.set(n.url, n.status.id);
    byId("live-state").textContent = `polled ${new Date().toLocaleTimeString()}`;
    this.render();
    this.timer = setTimeout(() => void this.poll(gen), POLL_MS);
  }

  private async put(): Promise<void> {
    const key = byId<HTMLInputElement>("live-key").value;
    const value = byId<HTMLInputElement>("live-value").value;
    const out = byId("live-put-result");
    if (key === "") {
      out.textContent = "a key is needed";
      return;
    }
    // Any node takes writes (followers forward them); the leader saves a hop.
    const target = leaderOf(this.nodes)?.url ?? this.nodes.find((n) => n.error === undefined)?.url;
    if (target === undefined) {
      out.textContent = "no node reachable";
      return;
    }
    const started = performance.now();
    out.textContent = `PUT ${target}/kv/${key} ...`;
    try {
      const res = await fetch(proxied(`${target}/kv/${encodeURIComponent(key)}`), {
        method: "PUT",
        body: value,
      });
      const ms = Math.round(performance.now() - started);
      const body = res.status === 204 ? "" : ` ${await res.text()}`;
      out.dataset.status = String(res.status);
      out.textContent = `PUT ${target}/kv/${key} → ${res.status} in ${ms} ms${body}`;
    } catch (e) {
      out.dataset.status = "0";
      out.textContent = `PUT failed: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  /** Redraws from the last poll. */
  render(): void {
    const leader = leaderOf(this.nodes);
    const draw: DrawNode[] = this.nodes.map((n, i) => {
      const st = n.status;
      return {
        // Never heard from: a placeholder id past any real one, so that it gets a place of its own.
        id: st?.id ?? this.knownIds.get(n.url) ?? 1000 + i,
        role: liveRole(n),
        paused: false,
        member: true,
        learner: st?.members.find((m) => m.id === st.id)?.learner === true,
        term: st?.term ?? 0,
        vote: st?.vote ?? 0,
        lead: st?.lead ?? 0,
        timer: undefined,
        timerText: n.url,
        details: n.error !== undefined ? [n.error] : [`commit ${st?.commit}, applied ${st?.applied}`],
      };
    });
    this.renderer.render({ nodes: draw, cuts: [], messages: [], selected: 0, flagged: new Set() });
    const summary = byId("live-summary");
    summary.dataset.leader = String(leader?.status?.id ?? 0);
    summary.textContent =
      this.nodes.length === 0
        ? "not connected"
        : leader === undefined
          ? "no leader"
          : `leader ${leader.status!.id} (${leader.url}), term ${leader.status!.term}, commit ${leader.status!.commit}`;
    byId("live-table").replaceChildren(
      h(
        "tr",
        {},
        ...["node", "address", "state", "term", "vote", "lead", "commit", "applied", "keys", "error"].map(
          (t) => h("th", {}, t),
        ),
      ),
      ...this.nodes.map((n) => {
        const s = n.status;
        const cells = [
          s?.id ?? "?",
          n.url.replace(/^https?:\/\//, ""),
          s?.state.replace(/^State/, "") ?? "unreachable",
          s?.term,
          s?.vote,
          s?.lead,
          s?.commit,
          s?.applied,
          s?.kv?.keys,
          n.error ?? "",
        ];
        return h(
          "tr",
          {
            class: `role-${liveRole(n)}`,
            "data-url": n.url,
            "data-id": s?.id ?? 0,
            "data-state": s?.state ?? "down",
            "data-commit": s?.commit ?? -1,
            "data-applied": s?.applied ?? -1,
          },
          ...cells.map((c) => h("td", {}, c === undefined ? "" : String(c))),
        );
      }),
    );
    const progress = leader?.status?.progress ?? [];
    byId("live-progress").replaceChildren(
      h("tr", {}, ...["peer", "match", "next", "state", "active"].map((t) => h("th", {}, t))),
      ...progress.map((p) =>
        h(
          "tr",
          { "data-peer": p.id },
          h("td", {}, `${p.id}${p.learner ? " (learner)" : ""}`),
          h("td", {}, String(p.match)),
          h("td", {}, String(p.next)),
          h("td", {}, `${p.state.replace(/^State/, "")}${p.paused ? ", paused" : ""}`),
          h("td", {}, p.recentActive ? "yes" : "no"),
        ),
      ),
    );
  }
}

/** One node's status, or the reason it could not be had. */
async function fetchStatus(url: string): Promise<LiveNode> {
  try {
    const res = await fetch(proxied(`${url}/status`), { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (res.status !== 200)
      return { url, error: `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`, status: undefined };
    return { url, error: undefined, status: parseStatus(await res.json()) };
  } catch (e) {
    return { url, error: e instanceof Error ? e.message : String(e), status: undefined };
  }
}
