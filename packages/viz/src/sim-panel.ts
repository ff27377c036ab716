/**
 * The Simulate tab: a live simulated cluster run by {@link InteractiveSim}. The toolbar plays,
 * steps and sets the speed; clicking a node opens its actions (crash, restart, pause, isolate,
 * campaign, transfer leadership to it, propose, add or remove it); clicking a link cuts or
 * restores it. The options that shape the cluster (size, seed, PreVote, CheckQuorum) start a new
 * simulation.
 */
import type { Action } from "@tsraft/raft/rafttest";
import { byId, h } from "./dom.js";
import { drawModelOf, nodesNamed, renderInspector } from "./inspector.js";
import { Player } from "./player.js";
import { ClusterRenderer } from "./render-cluster.js";
import { renderLogs } from "./render-logs.js";
import {
  cutLink,
  DEFAULT_PLAY,
  InteractiveSim,
  isolate,
  isViolation,
  type PlaySetup,
  restoreLinks,
} from "./sim-driver.js";
import { type ClusterView, MessageKeys, type NodeView, viewOf } from "./sim-view.js";

/** The Simulate tab's state and wiring. */
export class SimPanel {
  driver: InteractiveSim;
  private keys = new MessageKeys();
  private selected = 0;
  private view: ClusterView;
  private readonly renderer: ClusterRenderer;
  readonly player: Player;
  private readonly menu = byId("node-menu");

  constructor(
    play: PlaySetup,
    /** Sends a schedule to the Replay tab. */
    private readonly openInReplay: (text: string) => void,
  ) {
    this.driver = new InteractiveSim(play);
    this.renderer = new ClusterRenderer(byId("sim-cluster"), {
      onNode: (id, at) => this.openMenu(id, at),
      onLink: (a, b) => this.toggleLink(a, b),
      onBackground: () => this.closeMenu(),
    });
    this.player = new Player(
      () => this.driver.step() !== undefined && this.driver.failure === undefined,
      () => this.render(),
      (playing) => {
        byId("sim-play").textContent = playing ? "⏸ Pause" : "▶ Play";
      },
    );
    this.view = viewOf(this.driver.sim, this.keys, 0);
    this.readSetupInto(play);
    this.wire();
    this.render();
  }

  private wire(): void {
    byId("sim-play").addEventListener("click", () => this.player.toggle());
    byId("sim-step").addEventListener("click", () => {
      this.driver.step();
      this.render();
    });
    byId("sim-tick").addEventListener("click", () => {
      // Runs the rest of the current round and the next tick.
      const t = this.driver.ticks;
      for (let i = 0; i < 10_000 && this.driver.ticks === t && this.driver.failure === undefined; i++) {
        this.driver.step();
      }
      this.render();
    });
    const speed = byId<HTMLSelectElement>("sim-speed");
    const setSpeed = () => {
      this.player.speed = Number(speed.value);
    };
    speed.addEventListener("change", setSpeed);
    setSpeed();
    byId("sim-propose").addEventListener("click", () => {
      const target = this.view.leader || this.selected || 1;
      this.act({ kind: "propose", node: target, data: `u${this.driver.schedule.length}` });
    });
    byId("sim-transfer").addEventListener("click", () => {
      const to = Number(byId<HTMLSelectElement>("sim-transfer-to").value);
      if (to > 0) this.act({ kind: "transfer", to });
    });
    byId("sim-add").addEventListener("click", () => {
      const spare = this.view.nodes.find((n) => !n.member && n.role !== "removed");
      if (spare !== undefined)
        this.act({ kind: "confChange", change: { mode: "simple", ops: [{ op: "v", node: spare.id }] } });
    });
    byId("sim-heal").addEventListener("click", () => this.act({ kind: "heal" }));
    const writes = byId<HTMLInputElement>("sim-writes");
    const lossy = byId<HTMLInputElement>("sim-lossy");
    const setWorkload = () => {
      this.driver.workload.writes = writes.checked;
      this.driver.workload.lossy = lossy.checked;
    };
    writes.addEventListener("change", setWorkload);
    lossy.addEventListener("change", setWorkload);
    for (const id of ["sim-prevote", "sim-checkquorum", "sim-voters", "sim-spares"]) {
      byId(id).addEventListener("change", () => this.reset());
    }
    byId("sim-reset").addEventListener("click", () => this.reset());
    byId("sim-export").addEventListener("click", () => this.openInReplay(this.driver.caseText()));
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") this.closeMenu();
    });
  }

  /** Starts a new simulation from the setup controls. */
  reset(): void {
    this.player.pause();
    this.closeMenu();
    const play = this.setupFromControls();
    this.driver = new InteractiveSim(play);
    this.driver.workload.writes = byId<HTMLInputElement>("sim-writes").checked;
    this.driver.workload.lossy = byId<HTMLInputElement>("sim-lossy").checked;
    this.keys = new MessageKeys();
    this.selected = 0;
    byId("sim-notice").hidden = true;
    this.render();
  }

  private setupFromControls(): PlaySetup {
    const num = (id: string, dflt: number) => {
      const v = Number(byId<HTMLInputElement | HTMLSelectElement>(id).value);
      return Number.isSafeInteger(v) && v >= 0 ? v : dflt;
    };
    return {
      ...DEFAULT_PLAY,
      seed: num("sim-seed", DEFAULT_PLAY.seed),
      voters: num("sim-voters", DEFAULT_PLAY.voters),
      spares: num("sim-spares", DEFAULT_PLAY.spares),
      preVote: byId<HTMLInputElement>("sim-prevote").checked,
      checkQuorum: byId<HTMLInputElement>("sim-checkquorum").checked,
    };
  }

  private readSetupInto(p: PlaySetup): void {
    byId<HTMLInputElement>("sim-seed").value = String(p.seed);
    byId<HTMLSelectElement>("sim-voters").value = String(p.voters);
    byId<HTMLSelectElement>("sim-spares").value = String(p.spares);
    byId<HTMLInputElement>("sim-prevote").checked = p.preVote;
    byId<HTMLInputElement>("sim-checkquorum").checked = p.checkQuorum;
  }

  /** Runs user actions now (paused or not) and redraws. */
  act(...actions: Action[]): void {
    this.closeMenu();
    const notes = this.driver.act(actions);
    const notice = byId("sim-notice");
    notice.textContent = notes.join("\n");
    notice.hidden = notes.length === 0;
    this.render();
  }

  private toggleLink(a: number, b: number): void {
    const cut = this.view.cuts.some(([x, y]) => (x === a && y === b) || (x === b && y === a));
    if (!cut) this.act(...cutLink(a, b));
    else this.act(...restoreLinks(this.view.cuts, (x, y) => (x === a && y === b) || (x === b && y === a)));
  }

  private node(id: number): NodeView | undefined {
    return this.view.nodes.find((n) => n.id === id);
  }

  private openMenu(id: number, at: { x: number; y: number }): void {
    this.selected = id;
    const n = this.node(id);
    if (n === undefined) return;
    const items: [string, string, () => void][] = [];
    const add = (key: string, label: string, ...actions: Action[]) =>
      items.push([key, label, () => this.act(...actions)]);
    const total = this.view.nodes.length;
    const linked = this.view.cuts.some(([x, y]) => x === id || y === id);
    if (n.role === "removed") {
      // Removed for good: ids are never reused.
    } else if (n.role === "down") {
      add("restart", "Restart", { kind: "restart", node: id });
    } else {
      add("crash", "Crash", { kind: "crash", node: id, torn: 0 });
      add(n.paused ? "resume" : "pause", n.paused ? "Resume" : "Pause", {
        kind: n.paused ? "resume" : "pause",
        node: id,
      });
      if (linked) {
        add("reconnect", "Reconnect", ...restoreLinks(this.view.cuts, (x, y) => x === id || y === id));
      } else {
        add("isolate", "Isolate (partition)", isolate(id, total));
      }
      if (n.member) {
        add("campaign", "Campaign now", { kind: "campaign", node: id });
        if (n.role !== "leader") add("transfer", "Transfer leadership here", { kind: "transfer", to: id });
        add("propose", "Propose here", {
          kind: "propose",
          node: id,
          data: `u${this.driver.schedule.length}`,
        });
        add("read", "ReadIndex here", { kind: "read", node: id });
        add("snapshot", "Snapshot + compact", { kind: "snapshot", node: id, keep: 0 });
        if (n.learner) add("promote", "Promote to voter", cc("v", id));
        else add("demote", "Demote to learner", cc("l", id));
        add("remove", "Remove from cluster", cc("r", id));
      } else {
        add("add-voter", "Add as voter", cc("v", id));
        add("add-learner", "Add as learner", cc("l", id));
      }
    }
    this.menu.replaceChildren(
      h("div", { class: "menu-title" }, `Node ${id} (${n.role})`),
      ...items.map(([key, label, run]) => {
        const b = h("button", { "data-action": key }, label);
        b.addEventListener("click", run);
        return b;
      }),
    );
    this.menu.hidden = false;
    const box = byId("tab-sim").getBoundingClientRect();
    this.menu.style.left = `${at.x - box.left + 12}px`;
    this.menu.style.top = `${at.y - box.top + 12}px`;
    this.menu.dataset.node = String(id);
    this.render();
  }

  private closeMenu(): void {
    this.menu.hidden = true;
  }

  /** Redraws everything from the simulation. */
  render(): void {
    const d = this.driver;
    this.view = viewOf(d.sim, this.keys, d.ticks);
    const v = this.view;
    const failure = d.failure;
    const flagged = failure === undefined ? new Set<number>() : nodesNamed(failure.message);
    this.renderer.render(drawModelOf(v, this.selected, flagged));
    renderLogs(byId("sim-logs"), v.nodes, flagged);
    renderInspector(
      byId("sim-inspector"),
      this.node(this.selected),
      "Click a node to act on it; click a link to cut it.",
    );
    const lead = this.node(v.leader);
    const clock = byId("sim-clock");
    clock.dataset.step = String(v.step);
    clock.dataset.ticks = String(v.ticks);
    clock.dataset.leader = String(v.leader);
    clock.dataset.leaderSince = String(d.leader.since);
    clock.textContent =
      `step ${v.step} · tick ${v.ticks} · ` +
      (lead === undefined
        ? `no leader since tick ${d.leader.since}`
        : `leader ${lead.id}, term ${lead.term}, since tick ${d.leader.since}`) +
      ` · ${v.messages.length} in flight`;
    const banner = byId("sim-banner");
    banner.hidden = failure === undefined;
    if (failure !== undefined) {
      banner.dataset.invariant = isViolation(failure) ? failure.invariant : "error";
      banner.textContent = isViolation(failure)
        ? `Invariant ${failure.invariant} broken at step ${failure.step}: ${failure.detail}`
        : `Simulator error: ${failure.message}`;
    }
    const to = byId<HTMLSelectElement>("sim-transfer-to");
    const ids = v.nodes.filter((n) => n.member && n.role !== "down").map((n) => String(n.id));
    if ([...to.options].map((o) => o.value).join() !== ids.join()) {
      const keep = to.value;
      to.replaceChildren(...ids.map((id) => h("option", { value: id }, `node ${id}`)));
      if (ids.includes(keep)) to.value = keep;
    }
    const lines = d.sim.transcript?.lines ?? [];
    const events = byId("sim-events");
    events.textContent = lines.slice(-80).join("\n");
    events.scrollTop = events.scrollHeight;
  }
}

function cc(op: "v" | "l" | "r", node: number): Action {
  return { kind: "confChange", change: { mode: "simple", ops: [{ op, node }] } };
}
