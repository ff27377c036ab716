/**
 * The Replay tab: paste what a failing property test printed (or load a file), then walk through
 * the case one action at a time — forwards, backwards, or straight to the step where an invariant
 * broke, which is then highlighted in the schedule, on the nodes it names, and in a banner.
 */

import { formatAction } from "@tsraft/raft/rafttest";
import { byId, h } from "./dom.js";
import { drawModelOf, nodesNamed, renderInspector } from "./inspector.js";
import { Player } from "./player.js";
import { ClusterRenderer } from "./render-cluster.js";
import { renderLogs } from "./render-logs.js";
import { parseReplayText, ReplaySession } from "./replay.js";
import { type ClusterView, MessageKeys, viewOf } from "./sim-view.js";

/** The Replay tab's state and wiring. */
export class ReplayPanel {
  session: ReplaySession | undefined;
  private keys = new MessageKeys();
  private selected = 0;
  private view: ClusterView | undefined;
  private readonly renderer: ClusterRenderer;
  readonly player: Player;
  private scheduleItems: HTMLElement[] = [];
  private lastCurrent = -1;

  constructor() {
    this.renderer = new ClusterRenderer(byId("replay-cluster"), {
      onNode: (id) => {
        this.selected = id;
        this.render();
      },
      onBackground: () => {
        this.selected = 0;
        this.render();
      },
    });
    this.player = new Player(
      () => this.session?.step() === true && !this.session.finished,
      () => this.render(),
      (playing) => {
        byId("replay-play").textContent = playing ? "⏸ Pause" : "▶ Play";
      },
    );
    this.wire();
    this.render();
  }

  private wire(): void {
    byId("replay-load").addEventListener("click", () =>
      this.load(byId<HTMLTextAreaElement>("replay-input").value),
    );
    byId<HTMLInputElement>("replay-file").addEventListener("change", async (ev) => {
      const f = (ev.target as HTMLInputElement).files?.[0];
      if (f === undefined) return;
      const text = await f.text();
      byId<HTMLTextAreaElement>("replay-input").value = text;
      this.load(text);
    });
    byId("replay-play").addEventListener("click", () => this.player.toggle());
    byId("replay-step").addEventListener("click", () => this.withSession((s) => s.step()));
    byId("replay-back").addEventListener("click", () =>
      this.withSession((s) => s.seek(Math.max(0, s.index - 1))),
    );
    byId("replay-first").addEventListener("click", () => this.withSession((s) => s.seek(0)));
    byId("replay-to-violation").addEventListener("click", () =>
      this.withSession((s) => {
        const v = s.outcome.violation;
        if (v !== undefined && !s.outcome.inLiveness) s.runTo(v.step);
        else s.runAll();
      }),
    );
    byId("replay-end").addEventListener("click", () => this.withSession((s) => s.runAll()));
    const speed = byId<HTMLSelectElement>("replay-speed");
    const setSpeed = () => {
      this.player.speed = Number(speed.value);
    };
    speed.addEventListener("change", setSpeed);
    setSpeed();
  }

  private withSession(f: (s: ReplaySession) => void): void {
    if (this.session === undefined) return;
    this.player.pause();
    f(this.session);
    this.render();
  }

  /** Loads a case from pasted text (a failure report, a replay command, a case or a seed spec). */
  load(text: string): void {
    this.player.pause();
    const err = byId("replay-error");
    try {
      this.session = new ReplaySession(parseReplayText(text));
      err.textContent = "";
    } catch (e) {
      this.session = undefined;
      err.textContent = `Cannot load: ${e instanceof Error ? e.message : String(e)}`;
    }
    this.keys = new MessageKeys();
    this.selected = 0;
    this.lastCurrent = -1;
    this.buildSchedule();
    this.render();
  }

  private buildSchedule(): void {
    const list = byId("replay-schedule");
    const s = this.session;
    if (s === undefined) {
      list.replaceChildren();
      this.scheduleItems = [];
      return;
    }
    const v = s.outcome.violation;
    this.scheduleItems = s.case.schedule.map((a, i) => {
      const li = h(
        "li",
        { "data-step": i + 1 },
        h("span", { class: "step-no" }, String(i + 1)),
        formatAction(a),
      );
      if (v !== undefined && !s.outcome.inLiveness && v.step === i + 1) li.classList.add("will-break");
      li.addEventListener("click", () => this.withSession((x) => x.seek(i + 1)));
      return li;
    });
    list.replaceChildren(...this.scheduleItems);
    const info = byId("replay-info");
    info.textContent =
      `seed ${s.case.seed} · ${s.case.cluster.nodes} nodes · ${s.length} steps` +
      (s.case.broken.length > 0 ? ` · broken variant ${s.case.broken.join(", ")}` : "") +
      (v === undefined
        ? " · no invariant breaks"
        : ` · breaks ${v.invariant} at step ${v.step}${s.outcome.inLiveness ? " (liveness phase)" : ""}`);
  }

  /** Redraws from the session. */
  render(): void {
    const s = this.session;
    const clock = byId("replay-clock");
    const banner = byId("replay-banner");
    if (s === undefined) {
      this.view = undefined;
      this.renderer.render({ nodes: [], cuts: [], messages: [], selected: 0, flagged: new Set() });
      byId("replay-logs").replaceChildren();
      clock.textContent = "nothing loaded";
      banner.hidden = true;
      return;
    }
    this.view = viewOf(s.sim, this.keys, s.ticks);
    const v = this.view;
    const flagged = s.violation === undefined ? new Set<number>() : nodesNamed(s.violation.detail);
    this.renderer.render(drawModelOf(v, this.selected, flagged));
    renderLogs(byId("replay-logs"), v.nodes, flagged);
    renderInspector(
      byId("replay-inspector"),
      v.nodes.find((n) => n.id === this.selected),
      "Click a node to see its state.",
    );
    clock.dataset.step = String(s.index);
    clock.dataset.ticks = String(s.ticks);
    clock.dataset.leader = String(v.leader);
    const next = s.nextActionText();
    clock.textContent =
      `step ${s.index} of ${s.length} · tick ${s.ticks} · leader ${v.leader || "none"}` +
      (s.finished ? "" : next !== "" ? ` · next: ${next}` : " · next: liveness phase");
    banner.hidden = s.violation === undefined && s.livenessTicks === undefined;
    banner.className = s.violation !== undefined ? "banner violation" : "banner ok";
    if (s.violation !== undefined) {
      banner.dataset.invariant = s.violation.invariant;
      banner.dataset.step = String(s.violation.step);
      banner.replaceChildren(
        h("strong", {}, `${s.violation.invariant}`),
        ` broken at step ${s.violation.step}${s.violation.invariant === "liveness" ? " (liveness phase)" : ""}: `,
        s.violation.detail,
      );
    } else if (s.livenessTicks !== undefined) {
      delete banner.dataset.invariant;
      banner.textContent = `No invariant broken; after every fault healed the cluster was live again in ${s.livenessTicks} ticks.`;
    }
    this.markSchedule(s);
    const lines = s.sim.transcript?.lines ?? [];
    let i = lines.length - 1;
    while (i > 0 && !/^\d{4,} /.test(lines[i]!)) i--;
    const events = byId("replay-events");
    events.textContent = lines.slice(Math.max(0, i - 40)).join("\n");
    events.scrollTop = events.scrollHeight;
  }

  private markSchedule(s: ReplaySession): void {
    const cur = s.index - 1;
    const broken =
      s.violation !== undefined && s.violation.invariant !== "liveness" ? s.violation.step - 1 : -1;
    for (let i = 0; i < this.scheduleItems.length; i++) {
      const li = this.scheduleItems[i]!;
      li.classList.toggle("done", i < s.index);
      li.classList.toggle("current", i === cur);
      li.classList.toggle("violated", i === broken);
    }
    const li = this.scheduleItems[cur];
    if (cur !== this.lastCurrent && li !== undefined) {
      // Keeps the current step in view inside the list (not scrolling the page).
      const list = byId("replay-schedule");
      list.scrollTop = li.offsetTop - list.clientHeight / 2;
      this.lastCurrent = cur;
    }
  }
}
