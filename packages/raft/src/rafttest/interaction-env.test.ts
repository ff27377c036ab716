import { describe, expect, it } from "vitest";
import { LocalAppendThread, LocalApplyThread } from "../constants.js";
import { MessageType, newMessage } from "../raftpb/types.js";
import { describeFailure, runTestData } from "./datadriven.js";
import { splitMsgs } from "./handler-deliver-msgs.js";
import { InteractionScriptError } from "./interaction-args.js";
import { InteractionEnv } from "./interaction-env.js";
import { RedirectLogger } from "./interaction-env-logger.js";

// The harness's own behaviour (error reporting, output levels, edge cases of the commands), in the
// datadriven format, with outputs worked out from etcd's Go harness.
function run(script: string): void {
  const env = new InteractionEnv();
  const r = runTestData(script, (d) => env.handle(d), "harness");
  if (r.passed !== r.cases) expect.fail(describeFailure(r));
}

describe("RedirectLogger", () => {
  it("prefixes lines with the level, filters by level, and adds the missing newline", () => {
    const l = new RedirectLogger();
    l.debug("d");
    l.info("i\n");
    l.lvl = 2;
    l.info("hidden");
    l.warn("w");
    l.error("e");
    l.panic("p");
    expect(l.toString()).toBe("DEBUG d\nINFO i\nWARN w\nERROR e\nFATAL p\n");
  });

  it("is silent at NONE, harness output included", () => {
    const l = new RedirectLogger();
    l.lvl = 5;
    l.panic("p");
    l.writeString("out");
    expect(l.quiet()).toBe(true);
    expect(l.toString()).toBe("");
    expect(l.isDebugEnabled()).toBe(false);
  });
});

describe("InteractionEnv", () => {
  it("indents captured output line by line", () => {
    const env = new InteractionEnv();
    env.output.writeString("> header\n");
    env.withIndent(() => env.output.writeString("a\n\nb"));
    env.withIndent(() => {});
    expect(env.output.toString()).toBe("> header\n  a\n  \n  b\n");
  });

  it("reports command errors in the output, and alone at level NONE", () => {
    run(`
frobnicate
----
unknown command

log-level verbose
----
log levels must be either of [DEBUG INFO WARN ERROR FATAL NONE]

log-level none
----
ok

add-nodes 1 voters=(1) index=1
----
index must be specified as > 1 due to bootstrap

log-level Info
----
ok

add-nodes 1 voters=(1) index=2 read-only=sometimes
----
invalid read-only option "sometimes"
`);
  });

  it("handles commands with nothing to do", () => {
    run(`
log-level none
----
ok

add-nodes 2
----
ok

log-level debug
----
ok

raft-log 1
----
log is empty: first index=1, last index=0

deliver-msgs 1 drop=(2)
----
no messages

process-append-thread 1
----
no append work to perform

process-apply-thread 1 2
----
> 1 processing apply thread
  no apply work to perform
> 2 processing apply thread
  no apply work to perform

process-ready 1 2
----
> 1 handling Ready
  <empty Ready>
> 2 handling Ready
  <empty Ready>

status 1
----
ok

report-unreachable 1
----
must specify exactly two node indexes: node on which to report, and reported node

propose-conf-change 1 v1=true
v2 v3
----
v1 conf change can only have one operation and no transition

propose-conf-change 1 transition=sideways
v2
----
unknown transition sideways

propose-conf-change 1
x2
----
unknown input: x2
`);
  });

  it("delivers by type and drops selectively, keeping the rest queued in order", () => {
    run(`
log-level none
----
ok

add-nodes 3 voters=(1,2,3) index=10
----
ok

campaign 1
----
ok

stabilize
----
ok

propose 1 foo
----
ok

tick-heartbeat 1
----
ok

process-ready 1
----
ok

log-level error
----
ok

deliver-msgs 2 type=MsgHeartbeat
----
1->2 MsgHeartbeat Term:1 Log:0/0 Commit:11

deliver-msgs 3 type=MsgVote
----
no messages

deliver-msgs drop=(3) type=MsgApp
----
dropped: 1->3 MsgApp Term:1 Log:1/11 Commit:11 Entries:[1/12 EntryNormal "foo"]

deliver-msgs 2 3
----
1->2 MsgApp Term:1 Log:1/11 Commit:11 Entries:[1/12 EntryNormal "foo"]
1->3 MsgHeartbeat Term:1 Log:0/0 Commit:11

deliver-msgs 2 3
----
no messages
`);
  });

  it("never drops local messages", () => {
    const m = (from: number, to: number) => newMessage({ type: MessageType.MsgAppResp, from, to });
    const msgs = [m(1, 1), m(2, 1), m(LocalAppendThread, 1), m(3, 2), m(1, LocalApplyThread)];
    expect(splitMsgs(msgs, 1, undefined, true)).toEqual([[msgs[1]], [msgs[0], msgs[2], msgs[3], msgs[4]]]);
    expect(splitMsgs(msgs, 1, undefined, false)).toEqual([
      [msgs[0], msgs[1], msgs[2]],
      [msgs[3], msgs[4]],
    ]);
  });

  it("refuses to deliver and drop to the same node", () => {
    const env = new InteractionEnv();
    const r = runTestData("deliver-msgs 2 drop=(2)\n----\nok\n", (d) => env.handle(d), "bad");
    expect(String(r.results[0]?.error)).toMatch(/can't both deliver and drop msgs to 2/);
  });

  it("treats a malformed directive as a script error", () => {
    const env = new InteractionEnv();
    const r = runTestData("campaign x\n----\nok\n", (d) => env.handle(d), "bad");
    expect(r.results[0]?.error).toBeInstanceOf(InteractionScriptError);
  });

  it("records the state machine's history and serves its last state as the storage snapshot", () => {
    const env = new InteractionEnv();
    env.logLevel("none");
    env.handle({
      pos: "t",
      cmd: "add-nodes",
      cmdArgs: parse("1 voters=(1) index=2 content=ab"),
      input: "",
      expected: "",
    });
    const n = env.nodes[0]!;
    expect(n.history).toHaveLength(1);
    expect(new TextDecoder().decode(n.history[0]!.data)).toBe("ab");
    expect(n.history[0]!.metadata.term).toBe(1);
    expect(n.storage.snapshot()).toBe(n.history[0]);
    env.campaign(0);
    env.stabilize();
    env.propose(0, new TextEncoder().encode("c"));
    env.stabilize();
    const last = n.history[n.history.length - 1]!;
    // The empty entry of the new leader's term, then "c".
    expect(new TextDecoder().decode(last.data)).toBe("abc");
    expect(last.metadata.index).toBe(4);
    expect(n.storage.snapshot()).toBe(last);
  });
});

function parse(args: string) {
  return args.split(" ").map((a) => {
    const [key, v] = a.split("=");
    return { key: key!, vals: v === undefined ? [] : v.replace(/[()]/g, "").split(",") };
  });
}
