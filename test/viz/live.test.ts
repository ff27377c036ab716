/**
 * The Live tab against a real three-node `tsraft-kv` cluster: it shows the leader, each node's
 * term and commit/applied indexes and the leader's progress, and its write box PUTs through the
 * HTTP API (via the visualizer's proxy).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_MISSING, Cluster, waitFor } from "../kv/cluster.js";
import { CHROMIUM_MISSING, screenshot, startVizEnv, type VizEnv, visibleBoxes } from "./harness.js";

const SKIP = CHROMIUM_MISSING ?? CLI_MISSING;

describe.skipIf(SKIP)(
  `the Live tab on a running tsraft-kv cluster${SKIP ? ` (skipped: ${SKIP})` : ""}`,
  () => {
    let env: VizEnv | undefined;
    let cluster: Cluster | undefined;
    beforeAll(async () => {
      [env, cluster] = await Promise.all([startVizEnv(), Cluster.start()]);
    }, 60_000);
    afterAll(async () => {
      await Promise.all([env?.close(), cluster?.destroy()]);
    });

    it("shows the leader, terms, indexes and progress, and PUTs from the write box", async () => {
      const c = cluster!;
      const leader = await c.waitForLeader();
      const urls = [1, 2, 3].map((id) => c.node(id).url).join(",");
      const { page, errors } = await env!.open(`?live=${encodeURIComponent(urls)}`);
      await page.waitForSelector(`#live-summary[data-leader="${leader}"]`);
      const status = await c.status(leader);
      expect(await page.locator("#live-table tr[data-id]").count()).toBe(3);
      expect(await page.getAttribute(`#live-table tr[data-id="${leader}"]`, "data-state")).toBe(
        "StateLeader",
      );
      for (const id of [1, 2, 3].filter((x) => x !== leader)) {
        expect(await page.getAttribute(`#live-table tr[data-id="${id}"]`, "data-state")).toBe(
          "StateFollower",
        );
      }
      expect(await page.textContent(`#live-table tr[data-id="${leader}"]`)).toContain(String(status.term));
      expect(
        Number(await page.getAttribute(`#live-table tr[data-id="${leader}"]`, "data-commit")),
      ).toBeGreaterThanOrEqual(1);
      expect(await page.locator("#live-progress tr[data-peer]").count()).toBe(3);
      expect(await page.getAttribute(`#live-cluster .node[data-id="${leader}"]`, "data-role")).toBe("leader");
      await visibleBoxes(page, "#live-cluster .node");

      const before = status.commit;
      await page.fill("#live-key", "greeting");
      await page.fill("#live-value", "hello from the visualizer");
      await page.click("#live-put");
      await page.waitForSelector("#live-put-result[data-status]");
      expect(await page.getAttribute("#live-put-result", "data-status")).toBe("204");
      for (const id of [1, 2, 3]) {
        await waitFor(`node ${id} to apply the write`, async () => {
          const [code, value] = await c.get(id, "greeting", "serializable");
          return code === 200 && value === "hello from the visualizer";
        });
      }
      // The next polls show the write committed and applied everywhere.
      await waitFor("the page to show the new commit index on every node", async () => {
        const applied = await page.$$eval("#live-table tr[data-id]", (rows) =>
          rows.map((r) => Number(r.getAttribute("data-applied"))),
        );
        return applied.every((a) => a > before);
      });
      await screenshot(page, "live");
      expect(errors).toEqual([]);
      await page.close();
    });
  },
);
