/**
 * The visualizer in real headless Chromium: the page loads cleanly, a five-node simulation elects
 * a leader, crashing the leader through the node menu leads to a new leader within the expected
 * ticks, a failing schedule pasted into the Replay tab stops at the broken invariant, and the page
 * produces exactly the transcripts Node produces for the same cases.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GenerateOptions } from "../../packages/raft/src/rafttest/index.js";
import {
  DEFAULT_SIM_OPTIONS,
  formatFailure,
  formatSeedSpec,
  generateCase,
  parseCase,
  parseReplaySpec,
  runCase,
} from "../../packages/raft/src/rafttest/index.js";
import { DEFAULT_PLAY, InteractiveSim } from "../../packages/viz/src/sim-driver.js";
import type { VizEnv } from "./harness.js";
import {
  CHROMIUM_MISSING,
  near,
  nodeColor,
  pixelAt,
  screenshot,
  startVizEnv,
  visibleBoxes,
} from "./harness.js";

const ELECTION = DEFAULT_SIM_OPTIONS.electionTick;
/** The page's colours (packages/viz/src/style.css). */
const LEADER_COLOR = "#f2a93b";
const FOLLOWER_COLOR = "#6aa6d8";
const DOWN_COLOR = "#9a9a9a";

/** What the page exposes as `window.__viz` (see packages/viz/src/main.ts), as far as read here. */
interface PageHooks {
  __viz: {
    sim: { driver: { caseText(): string; transcript(): string } };
    replay: { session: { transcript(): string } | undefined };
  };
}

/** Reads a numeric data attribute. */
async function data(page: Page, selector: string, key: string): Promise<number> {
  return Number(await page.locator(selector).first().getAttribute(`data-${key}`));
}

/** Compares two transcripts, reporting the first line that differs. */
function expectSameTranscript(page: string, node: string): void {
  if (page === node) return;
  const a = page.split("\n");
  const b = node.split("\n");
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  expect(`line ${i + 1}: ${a[i]}`).toBe(`line ${i + 1}: ${b[i]}`);
}

describe.skipIf(CHROMIUM_MISSING)(
  `the visualizer in Chromium${CHROMIUM_MISSING ? ` (skipped: ${CHROMIUM_MISSING})` : ""}`,
  () => {
    let env: VizEnv;
    beforeAll(async () => {
      env = await startVizEnv();
    }, 60_000);
    afterAll(async () => {
      await env?.close();
    });

    it("loads with no console errors and draws the cluster", async () => {
      const { page, errors } = await env.open();
      expect(await page.locator("#sim-cluster .node").count()).toBe(6); // five voters and a spare
      expect(await page.locator("#sim-cluster .node[data-member=true]").count()).toBe(5);
      expect(await page.locator("#sim-logs .log-row[data-id]").count()).toBe(6);
      await visibleBoxes(page, "#sim-cluster svg.cluster");
      expect(await visibleBoxes(page, "#sim-cluster .node")).toHaveLength(6);
      await visibleBoxes(page, "#sim-play");
      await screenshot(page, "load");
      expect(errors).toEqual([]);
      await page.close();
    });

    it("a five-node simulation elects a leader; crashing it from the node menu leads to a new one", async () => {
      const { page, errors } = await env.open();
      await page.selectOption("#sim-speed", "400");
      await page.click("#sim-play");
      await page.waitForSelector('#sim-clock:not([data-leader="0"])');
      await page.click("#sim-play"); // pause
      // Election timeouts are randomized in [election, 2 × election): the first one to fire wins
      // unless votes split. The page runs the same seeded session Node does: the same tick.
      const electedAt = await data(page, "#sim-clock", "leader-since");
      expect(electedAt).toBeGreaterThanOrEqual(ELECTION);
      expect(electedAt).toBeLessThanOrEqual(2 * ELECTION);
      const inNode = new InteractiveSim(DEFAULT_PLAY);
      while (inNode.leader.id === 0) inNode.step();
      expect(electedAt).toBe(inNode.leader.since);
      expect(await page.locator(".node[data-role=leader]").count()).toBe(1);
      const leader = await data(page, ".node[data-role=leader]", "id");
      const term = await data(page, ".node[data-role=leader]", "term");
      await visibleBoxes(page, ".node[data-role=leader]");
      const elected = await screenshot(page, "elected");
      // The screenshot shows it: the leader's circle in the leader's colour, the others not.
      expect(near(await nodeColor(page, elected, `.node[data-id="${leader}"]`), LEADER_COLOR)).toBe(true);
      const other = leader === 1 ? 2 : 1;
      expect(near(await nodeColor(page, elected, `.node[data-id="${other}"]`), FOLLOWER_COLOR)).toBe(true);

      await page.click(`.node[data-id="${leader}"]`);
      await visibleBoxes(page, "#node-menu [data-action=crash]");
      await page.click("#node-menu [data-action=crash]");
      expect(await page.getAttribute(`.node[data-id="${leader}"]`, "data-role")).toBe("down");
      expect(await page.locator("#node-menu").isHidden()).toBe(true);

      // Step tick by tick until a new leader is drawn: one randomized timeout, plus one more if the
      // first vote splits.
      const crashedAt = await data(page, "#sim-clock", "ticks");
      let newLeader = 0;
      while (newLeader === 0 || newLeader === leader) {
        await page.click("#sim-tick");
        newLeader = await data(page, "#sim-clock", "leader");
        expect(await data(page, "#sim-clock", "ticks")).toBeLessThanOrEqual(crashedAt + 4 * ELECTION);
      }
      const took = (await data(page, "#sim-clock", "ticks")) - crashedAt;
      expect(took).toBeGreaterThanOrEqual(ELECTION);
      const drawn = `.node[data-id="${newLeader}"]`;
      expect(await page.getAttribute(drawn, "data-role")).toBe("leader");
      expect(Number(await page.getAttribute(drawn, "data-term"))).toBeGreaterThan(term);
      await visibleBoxes(page, drawn);
      await visibleBoxes(page, `.node[data-id="${leader}"].role-down`);
      const after = await screenshot(page, "new-leader");
      expect(near(await nodeColor(page, after, drawn), LEADER_COLOR)).toBe(true);
      expect(near(await nodeColor(page, after, `.node[data-id="${leader}"]`), DOWN_COLOR)).toBe(true);
      console.log(
        `viz: elected at tick ${electedAt}; leader ${leader} crashed; ${newLeader} led ${took} ticks later`,
      );

      // The session is a case: Node replays it to the page's transcript, character for character.
      const { text, transcript } = await page.evaluate(() => {
        const d = (globalThis as unknown as PageHooks).__viz.sim.driver;
        return { text: d.caseText(), transcript: d.transcript() };
      });
      expect(text).toContain(`crash ${leader} torn=0`);
      expectSameTranscript(
        transcript,
        runCase(parseCase(text), { trace: true, liveness: false }).transcript!,
      );
      expect(errors).toEqual([]);
      await page.close();
    });

    it("the controls act on the simulation: links, pause, propose, transfer, add a node, options", async () => {
      const { page, errors } = await env.open("?seed=5");
      const tickUntil = async (what: string, cond: () => Promise<boolean>, max = 6 * ELECTION) => {
        for (let i = 0; i < max; i++) {
          if (await cond()) return;
          await page.click("#sim-tick");
        }
        throw new Error(`not within ${max} ticks: ${what}`);
      };
      const leaderId = () => data(page, "#sim-clock", "leader");
      await tickUntil("a leader", async () => (await leaderId()) !== 0);

      // A link: cut both ways, then restored.
      const link = '.link[data-a="1"][data-b="2"]';
      await page.click(`${link} .link-hit`, { force: true });
      expect(await page.getAttribute(link, "data-state")).toBe("cut");
      await visibleBoxes(page, `${link} .link-cut-mark`);
      await page.click(`${link} .link-hit`, { force: true });
      expect(await page.getAttribute(link, "data-state")).toBe("up");

      // Pause and resume a follower from its menu.
      const follower = (await leaderId()) === 3 ? 2 : 3;
      await page.click(`.node[data-id="${follower}"]`);
      await page.click("#node-menu [data-action=pause]");
      expect(await page.getAttribute(`.node[data-id="${follower}"]`, "data-paused")).toBe("true");
      await page.click(`.node[data-id="${follower}"]`);
      await page.click("#node-menu [data-action=resume]");
      expect(await page.getAttribute(`.node[data-id="${follower}"]`, "data-paused")).toBe("false");

      // A proposal commits on every member.
      const commit = await data(page, `#sim-logs .log-row[data-id="${await leaderId()}"]`, "commit");
      await page.click("#sim-propose");
      await tickUntil("the proposal to commit everywhere", async () => {
        const commits = await page.$$eval("#sim-logs .log-row[data-id]", (rows) =>
          rows
            .filter((r) => r.querySelector(".entry:not(.empty)"))
            .map((r) => Number(r.getAttribute("data-commit"))),
        );
        return commits.length === 5 && commits.every((c) => c > commit);
      });

      // Leadership transfer from the toolbar.
      const target = (await leaderId()) === 1 ? 2 : 1;
      await page.selectOption("#sim-transfer-to", String(target));
      await page.click("#sim-transfer");
      await tickUntil(`node ${target} to lead`, async () => (await leaderId()) === target);

      // Add the spare: it becomes a member and catches up. A leader takes no configuration change
      // while one, or its first entry, is not applied: the page says so, and a later click goes through.
      await tickUntil("the leader to take the change", async () => {
        await page.click("#sim-add");
        return page.locator("#sim-notice").isHidden();
      });
      await tickUntil(
        "node 6 to join",
        async () => (await page.getAttribute('.node[data-id="6"]', "data-member")) === "true",
      );
      await tickUntil("node 6 to catch up", async () => {
        const last = await data(page, '#sim-logs .log-row[data-id="6"]', "last");
        return last > 0 && last === (await data(page, `#sim-logs .log-row[data-id="${target}"]`, "last"));
      });
      const session = await page.evaluate(() =>
        (globalThis as unknown as PageHooks).__viz.sim.driver.caseText(),
      );
      expect(session).toContain("confchange v6");
      expect(session).toContain(`transfer ${target}`);
      expect(session).toContain(`pause ${follower}`);

      // PreVote and CheckQuorum build a new simulation with those options.
      await page.check("#sim-prevote");
      await page.check("#sim-checkquorum");
      expect(await data(page, "#sim-clock", "step")).toBe(0);
      await tickUntil("a leader with PreVote", async () => (await leaderId()) !== 0);
      const header = await page.evaluate(
        () => (globalThis as unknown as PageHooks).__viz.sim.driver.caseText().split("\n")[0],
      );
      expect(header).toContain("prevote checkquorum");
      expect(await page.locator("#sim-events").textContent()).toContain("MsgPreVote");
      expect(errors).toEqual([]);
      await page.close();
    });

    it("a failing schedule pasted into the Replay tab stops at the broken invariant", async () => {
      const gen: GenerateOptions = { nodes: 5, steps: 600, broken: ["apply-before-commit"] };
      let seed = 1;
      while (runCase(generateCase(seed, gen), { liveness: false }).violation === undefined) seed++;
      const run = runCase(generateCase(seed, gen), { liveness: false });
      const v = run.violation!;
      // Exactly what the failing property test prints.
      const report = formatFailure(run, { seedSpec: formatSeedSpec(seed, gen), transcriptLines: 30 });

      const { page, errors } = await env.open();
      await page.click("#tabbtn-replay");
      await page.fill("#replay-input", report);
      await page.click("#replay-load");
      expect(await page.textContent("#replay-info")).toContain(`breaks ${v.invariant} at step ${v.step}`);
      expect(await page.locator("#replay-schedule li").count()).toBe(600);
      await page.selectOption("#replay-speed", "0");
      await page.click("#replay-play");
      await page.waitForSelector("#replay-banner:not([hidden])");
      expect(await page.getAttribute("#replay-banner", "data-invariant")).toBe(v.invariant);
      expect(await data(page, "#replay-banner", "step")).toBe(v.step);
      expect(await data(page, "#replay-clock", "step")).toBe(v.step);
      expect(await page.textContent("#replay-banner")).toContain(v.detail);
      expect(await page.locator("#replay-schedule li.violated").count()).toBe(1);
      expect(await data(page, "#replay-schedule li.violated", "step")).toBe(v.step);
      expect(await page.locator("#replay-schedule li.done").count()).toBe(v.step);
      expect(await page.textContent("#replay-play")).toContain("Play"); // it stopped by itself
      await visibleBoxes(page, "#replay-banner");
      const violated = (await visibleBoxes(page, "#replay-schedule li.violated"))[0]!;
      const shot = await screenshot(page, "replay-violation");
      // The violated step is drawn highlighted (the left edge of its line, off the text).
      const px = pixelAt(shot, Math.round(violated.x + 4), Math.round(violated.y + violated.height / 2));
      expect(near(px, "#dd3333", 30)).toBe(true);

      // One step back and forward again: the same violation at the same step.
      await page.click("#replay-back");
      expect(await page.locator("#replay-banner").isHidden()).toBe(true);
      expect(await data(page, "#replay-clock", "step")).toBe(v.step - 1);
      await page.click("#replay-step");
      expect(await page.getAttribute("#replay-banner", "data-invariant")).toBe(v.invariant);
      expect(await data(page, "#replay-clock", "step")).toBe(v.step);
      expect(errors).toEqual([]);
      await page.close();
    });

    it("the page's simulation gives exactly Node's transcript for the same seed", async () => {
      for (const spec of ["seed:4242,nodes=5,steps=800", "seed:7,nodes=3,steps=800"]) {
        const { page, errors } = await env.open(`?replay=${encodeURIComponent(spec)}`);
        await page.click("#replay-end");
        const transcript = await page.evaluate(() =>
          (globalThis as unknown as PageHooks).__viz.replay.session!.transcript(),
        );
        const node = runCase(parseReplaySpec(spec), { trace: true }).transcript!;
        expect(transcript.split("\n").length).toBeGreaterThan(800);
        expect(transcript).toContain("liveness: every fault heals");
        expectSameTranscript(transcript, node);
        expect(errors).toEqual([]);
        await page.close();
      }
    });
  },
);
