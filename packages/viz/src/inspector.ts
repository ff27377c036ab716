/** The side panel describing one node: its Raft state, log indexes and, on a leader, every peer's progress. */
import { h } from "./dom.js";
import type { DrawModel, DrawNode } from "./render-cluster.js";
import type { ClusterView, NodeView } from "./sim-view.js";

/** What the cluster renderer draws of a simulation's view: `selected` ringed, `flagged` marked. */
export function drawModelOf(v: ClusterView, selected: number, flagged: ReadonlySet<number>): DrawModel {
  return { nodes: v.nodes.map(drawNodeOf), cuts: v.cuts, messages: v.messages, selected, flagged };
}

/** A node view as the cluster renderer draws it. */
export function drawNodeOf(n: NodeView): DrawNode {
  const leader = n.role === "leader";
  const up = n.role !== "down" && n.role !== "removed";
  // A spare (not in any configuration) never campaigns: its timer means nothing.
  const timer =
    !up || !n.member
      ? undefined
      : leader
        ? n.heartbeatTimeout > 0
          ? n.heartbeatElapsed / n.heartbeatTimeout
          : 0
        : n.electionTimeout > 0
          ? n.electionElapsed / n.electionTimeout
          : 0;
  return {
    id: n.id,
    role: n.role,
    paused: n.paused,
    member: n.member,
    learner: n.learner,
    term: n.term,
    vote: n.vote,
    lead: n.lead,
    timer,
    timerText: !up
      ? ""
      : leader
        ? `heartbeat ${n.heartbeatElapsed}/${n.heartbeatTimeout}`
        : `election timer ${n.electionElapsed}/${n.electionTimeout}`,
    details: [`log ${n.log.first}..${n.log.last}, commit ${n.log.commit}, applied ${n.log.applied}`],
  };
}

/** Renders node `n` (or `hint` when none is selected) into `container`. */
export function renderInspector(container: HTMLElement, n: NodeView | undefined, hint: string): void {
  if (n === undefined) {
    container.replaceChildren(h("p", { class: "hint" }, hint));
    return;
  }
  const up = n.role !== "down" && n.role !== "removed";
  const rows: [string, string][] = [
    [
      "role",
      `${n.role}${n.paused ? " (paused)" : ""}${n.learner ? " (learner)" : ""}${n.member ? "" : " (not a member)"}`,
    ],
    ["term", String(n.term)],
    ["vote", n.vote === 0 ? "none" : String(n.vote)],
    ["leader", n.lead === 0 ? "none known" : String(n.lead)],
  ];
  if (up) {
    rows.push(["election timer", `${n.electionElapsed} / ${n.electionTimeout} ticks`]);
    if (n.role === "leader") rows.push(["heartbeat", `${n.heartbeatElapsed} / ${n.heartbeatTimeout} ticks`]);
    if (n.rate !== 100) rows.push(["clock rate", `${n.rate}%`]);
  }
  rows.push(
    [
      "log",
      `${n.log.first}..${n.log.last}${n.log.durable < n.log.last ? ` (on disk ..${n.log.durable})` : ""}`,
    ],
    ["commit", String(n.log.commit)],
    ["applied", String(n.log.applied)],
  );
  const table = h(
    "table",
    { class: "kv-table", "data-node": n.id },
    ...rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))),
  );
  const parts: HTMLElement[] = [h("h3", {}, `Node ${n.id}`), table];
  if (n.progress !== undefined) {
    parts.push(
      h("h4", {}, "Progress"),
      h(
        "table",
        { class: "progress-table" },
        h("tr", {}, h("th", {}, "peer"), h("th", {}, "match"), h("th", {}, "next"), h("th", {}, "state")),
        ...n.progress.map((p) =>
          h(
            "tr",
            { "data-peer": p.id },
            h("td", {}, `${p.id}${p.learner ? " (learner)" : ""}`),
            h("td", {}, String(p.match)),
            h("td", {}, String(p.next)),
            h(
              "td",
              {},
              `${p.state}${p.paused ? ", paused" : ""}${p.recentActive || p.id === n.id ? "" : ", inactive"}`,
            ),
          ),
        ),
      ),
    );
  }
  container.replaceChildren(...parts);
}

/** Node ids a violation's text names ("node 3", "nodes 2 and 4"). */
export function nodesNamed(text: string): Set<number> {
  const out = new Set<number>();
  for (const m of text.matchAll(/\bnodes? (\d+)/g)) out.add(Number(m[1]));
  return out;
}
