/**
 * Each node's log as a strip of cells coloured by term, aligned by index across nodes so that
 * divergent suffixes stand out. Marked on each strip: the commit index (a bar after the cell),
 * the applied index, entries not yet on disk (dashed), entries not committed (faded), and the part
 * compacted into a snapshot (hatched).
 */
import { h, termColor } from "./dom.js";
import { LOG_WINDOW, type NodeView } from "./sim-view.js";

/** Renders the log strips of `nodes` into `container` (replacing what was there). */
export function renderLogs(
  container: HTMLElement,
  nodes: readonly NodeView[],
  flagged: ReadonlySet<number>,
): void {
  const maxLast = Math.max(1, ...nodes.map((n) => n.log.last));
  const lo = Math.max(1, maxLast - LOG_WINDOW + 1);
  const rows: HTMLElement[] = [];
  const header = h("div", { class: "log-row log-header" }, h("span", { class: "log-label" }, "index"));
  const headCells = h("div", { class: "log-cells" });
  for (let i = lo; i <= maxLast; i++) {
    headCells.append(h("span", { class: "log-index" }, i % 5 === 0 || i === lo ? String(i) : ""));
  }
  header.append(headCells);
  rows.push(header);
  for (const n of nodes) {
    const terms = new Map(n.log.entries.map((e) => [e.index, e.term]));
    const cells = h("div", { class: "log-cells" });
    for (let i = lo; i <= maxLast; i++) {
      const cls = ["entry"];
      let text = "";
      let style = "";
      const term = terms.get(i);
      if (i < n.log.first) {
        cls.push("compacted");
      } else if (term !== undefined && i <= n.log.last) {
        text = String(term);
        style = `background:${termColor(term)}`;
        if (i > n.log.commit) cls.push("uncommitted");
        if (i > n.log.durable) cls.push("unpersisted");
        if (i <= n.log.applied) cls.push("applied");
      } else {
        cls.push("empty");
      }
      if (i === n.log.commit) cls.push("commit-mark");
      cells.append(
        h(
          "span",
          {
            class: cls.join(" "),
            style,
            "data-index": i,
            title: `index ${i}${text ? `, term ${text}` : ""}`,
          },
          text,
        ),
      );
    }
    const label = h(
      "span",
      { class: "log-label", title: `first ${n.log.first}, last ${n.log.last}` },
      `${n.id}`,
      h("small", {}, ` c${n.log.commit} a${n.log.applied}`),
    );
    const rowCls = ["log-row", `role-${n.role}`];
    if (flagged.has(n.id)) rowCls.push("flagged");
    rows.push(
      h(
        "div",
        {
          class: rowCls.join(" "),
          "data-id": n.id,
          "data-commit": n.log.commit,
          "data-applied": n.log.applied,
          "data-last": n.log.last,
        },
        label,
        cells,
      ),
    );
  }
  container.replaceChildren(...rows);
}
