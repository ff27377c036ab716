/**
 * The cluster drawing (SVG): nodes on a circle with their role, term, vote and election timer; the
 * links between them (cut ones dashed red, clickable); messages in flight as dots moving from
 * sender to recipient, labelled by type. Elements are kept across renders (keyed by node id and
 * message key) so that messages glide from one position to the next.
 */
import { attrs, s } from "./dom.js";
import type { MessageView, NodeView } from "./sim-view.js";

/** A node as the renderer draws it (from a simulation or from a live cluster's /status). */
export interface DrawNode extends Pick<NodeView, "id" | "paused" | "learner" | "term" | "vote" | "lead"> {
  /** `leader`, `candidate`, `pre-candidate`, `follower`, `down` or `removed`. */
  readonly role: string;
  /** False for spares and removed nodes (drawn faded, dashed). */
  readonly member: boolean;
  /** How far the election timer ran (0..1; a leader's heartbeat timer), or undefined for none. */
  readonly timer: number | undefined;
  /** The timer as text (tooltip), e.g. `election 7/14`. */
  readonly timerText: string;
  /** Extra tooltip lines. */
  readonly details: readonly string[];
}

/** What one render shows. */
export interface DrawModel {
  readonly nodes: readonly DrawNode[];
  /** One-way cut links [from, to]. */
  readonly cuts: readonly (readonly [number, number])[];
  readonly messages: readonly MessageView[];
  /** The selected node (ringed), 0 for none. */
  readonly selected: number;
  /** Nodes to flag (a violation names them). */
  readonly flagged: ReadonlySet<number>;
}

/** Callbacks for clicks on the drawing. */
export interface ClusterHandlers {
  onNode?(id: number, at: { x: number; y: number }): void;
  onLink?(a: number, b: number): void;
  onBackground?(): void;
}

const W = 640;
const H = 590;
const R_LAYOUT = 205;
const R_NODE = 38;

/** Short labels for message types. */
const SHORT: Record<string, string> = {
  MsgApp: "App",
  MsgAppResp: "AppResp",
  MsgVote: "Vote",
  MsgVoteResp: "VoteResp",
  MsgPreVote: "PreVote",
  MsgPreVoteResp: "PreVoteResp",
  MsgHeartbeat: "HB",
  MsgHeartbeatResp: "HBResp",
  MsgProp: "Prop",
  MsgSnap: "Snap",
  MsgTimeoutNow: "TimeoutNow",
  MsgReadIndex: "ReadIdx",
  MsgReadIndexResp: "ReadIdxResp",
  MsgTransferLeader: "Transfer",
};

/** The SVG drawing of a cluster. */
export class ClusterRenderer {
  readonly svg: SVGSVGElement;
  private readonly linkLayer: SVGGElement;
  private readonly msgLayer: SVGGElement;
  private readonly nodeLayer: SVGGElement;
  private readonly nodeEls = new Map<number, SVGGElement>();
  private readonly msgEls = new Map<number, SVGGElement>();
  private linkKey = "";
  private positions = new Map<number, { x: number; y: number }>();

  constructor(
    container: HTMLElement,
    private readonly handlers: ClusterHandlers = {},
  ) {
    this.svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "cluster", role: "img" });
    this.linkLayer = s("g", { class: "links" });
    this.msgLayer = s("g", { class: "messages" });
    this.nodeLayer = s("g", { class: "nodes" });
    this.svg.append(this.linkLayer, this.msgLayer, this.nodeLayer);
    this.svg.addEventListener("click", (ev) => {
      if (ev.target === this.svg) this.handlers.onBackground?.();
    });
    container.append(this.svg);
  }

  /** Draws `m`. */
  render(m: DrawModel): void {
    this.layout(m.nodes.map((n) => n.id));
    this.renderLinks(m);
    this.renderMessages(m.messages);
    this.renderNodes(m);
  }

  /** The centre of node `id` in page coordinates (for menus). */
  nodeCenter(id: number): { x: number; y: number } | undefined {
    const e = this.nodeEls.get(id);
    if (e === undefined) return undefined;
    const r = e.getBoundingClientRect();
    return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
  }

  private layout(ids: readonly number[]): void {
    const key = ids.join(",");
    if (key === [...this.positions.keys()].join(",")) return;
    this.positions = new Map();
    ids.forEach((id, i) => {
      const a = (2 * Math.PI * i) / ids.length - Math.PI / 2;
      this.positions.set(id, { x: W / 2 + R_LAYOUT * Math.cos(a), y: H / 2 + R_LAYOUT * Math.sin(a) });
    });
    for (const e of this.nodeEls.values()) e.remove();
    this.nodeEls.clear();
    this.linkKey = "";
  }

  private renderLinks(m: DrawModel): void {
    const cut = new Set(m.cuts.map(([a, b]) => `${a}>${b}`));
    const key = `${[...this.positions.keys()].join(",")}|${[...cut].sort().join(",")}`;
    if (key === this.linkKey) return;
    this.linkKey = key;
    this.linkLayer.replaceChildren();
    const ids = [...this.positions.keys()];
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        const a = ids[i]!;
        const b = ids[j]!;
        const p = this.positions.get(a)!;
        const q = this.positions.get(b)!;
        const ab = cut.has(`${a}>${b}`);
        const ba = cut.has(`${b}>${a}`);
        const state = ab && ba ? "cut" : ab || ba ? "cut-oneway" : "up";
        const title =
          state === "up"
            ? `link ${a}–${b}: click to cut it`
            : `link ${a}–${b}: ${[ab ? `${a}→${b}` : "", ba ? `${b}→${a}` : ""].filter((x) => x).join(" and ")} cut; click to restore`;
        const g = s(
          "g",
          { class: `link ${state}`, "data-a": a, "data-b": b, "data-state": state },
          s("title", {}, title),
          s("line", { class: "link-line", x1: p.x, y1: p.y, x2: q.x, y2: q.y }),
          s("line", { class: "link-hit", x1: p.x, y1: p.y, x2: q.x, y2: q.y }),
          state !== "up" &&
            s("text", { class: "link-cut-mark", x: (p.x + q.x) / 2, y: (p.y + q.y) / 2 + 6 }, "✕"),
        );
        g.addEventListener("click", (ev) => {
          ev.stopPropagation();
          this.handlers.onLink?.(a, b);
        });
        this.linkLayer.append(g);
      }
    }
  }

  private renderMessages(msgs: readonly MessageView[]): void {
    const live = new Set<number>();
    // Deliveries go in send order, so a message's place in the queue says how close it is to
    // arriving: the oldest is drawn nearest its recipient, the newest just off its sender.
    const total = msgs.length;
    msgs.forEach((m, rank) => {
      const p = this.positions.get(m.from);
      const q = this.positions.get(m.to);
      if (p === undefined || q === undefined) return;
      live.add(m.key);
      const f = 0.82 - (0.62 * rank) / Math.max(1, total - 1);
      const dx = q.x - p.x;
      const dy = q.y - p.y;
      const len = Math.hypot(dx, dy) || 1;
      // Each direction has its own lane, to the right of the direction of travel.
      const ox = (-dy / len) * 9;
      const oy = (dx / len) * 9;
      const x = p.x + dx * f + ox;
      const y = p.y + dy * f + oy;
      let e = this.msgEls.get(m.key);
      if (e === undefined) {
        const label = SHORT[m.type] ?? m.type.replace(/^Msg/, "");
        e = s(
          "g",
          {
            class: `msg msg-${m.type}`,
            "data-type": m.type,
            "data-from": m.from,
            "data-to": m.to,
            "data-term": m.term,
          },
          s("title", {}, `${m.type} ${m.from}→${m.to} term ${m.term}`),
          s("circle", { r: 6 }),
          s("text", { x: 9, y: 4 }, label),
        );
        // Born at the sender, then moved: the transition animates the first move too.
        e.style.transform = `translate(${(p.x + ox).toFixed(1)}px, ${(p.y + oy).toFixed(1)}px)`;
        this.msgLayer.append(e);
        this.msgEls.set(m.key, e);
        void e.getBoundingClientRect();
      }
      e.classList.toggle("waiting", m.waiting);
      e.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
    });
    for (const [key, e] of this.msgEls) {
      if (live.has(key)) continue;
      e.remove();
      this.msgEls.delete(key);
    }
  }

  private renderNodes(m: DrawModel): void {
    for (const n of m.nodes) {
      const p = this.positions.get(n.id)!;
      let e = this.nodeEls.get(n.id);
      if (e === undefined) {
        e = this.createNode(n.id, p);
        this.nodeEls.set(n.id, e);
        this.nodeLayer.append(e);
      }
      const classes = ["node", `role-${n.role}`];
      if (n.paused) classes.push("paused");
      if (!n.member) classes.push("nonmember");
      if (n.learner) classes.push("learner");
      if (m.selected === n.id) classes.push("selected");
      if (m.flagged.has(n.id)) classes.push("flagged");
      attrs(e, {
        class: classes.join(" "),
        "data-role": n.role,
        "data-term": n.term,
        "data-vote": n.vote,
        "data-lead": n.lead,
        "data-paused": String(n.paused),
        "data-member": String(n.member),
      });
      const q = (sel: string) => e!.querySelector(sel)!;
      q(".nterm").textContent = n.role === "removed" ? "removed" : `term ${n.term}`;
      q(".nrole").textContent = n.paused ? `${n.role} (paused)` : n.learner ? `${n.role} (learner)` : n.role;
      q(".nvote").textContent = n.vote > 0 ? `voted ${n.vote}` : "";
      const timer = q(".timer") as SVGCircleElement;
      const c = 2 * Math.PI * (R_NODE + 5);
      const f = n.timer === undefined ? 0 : Math.max(0, Math.min(1, n.timer));
      timer.setAttribute("stroke-dasharray", `${(f * c).toFixed(1)} ${c.toFixed(1)}`);
      timer.classList.toggle("late", f >= 0.8);
      q("title").textContent = [`node ${n.id}: ${n.role}, term ${n.term}`, n.timerText, ...n.details]
        .filter((x) => x !== "")
        .join("\n");
    }
  }

  private createNode(id: number, p: { x: number; y: number }): SVGGElement {
    const e = s(
      "g",
      { class: "node", "data-id": id, transform: `translate(${p.x.toFixed(1)} ${p.y.toFixed(1)})` },
      s("title", {}),
      s("circle", { class: "timer-track", r: R_NODE + 5 }),
      s("circle", { class: "timer", r: R_NODE + 5, transform: "rotate(-90)" }),
      s("circle", { class: "body", r: R_NODE }),
      s("text", { class: "nid", y: -6 }, String(id)),
      s("text", { class: "nterm", y: 12 }),
      s("text", { class: "nrole", y: R_NODE + 22 }),
      s("text", { class: "nvote", y: R_NODE + 36 }),
    );
    e.addEventListener("click", (ev) => {
      ev.stopPropagation();
      this.handlers.onNode?.(id, { x: ev.clientX, y: ev.clientY });
    });
    return e;
  }
}
