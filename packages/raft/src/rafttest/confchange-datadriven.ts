/**
 * The datadriven harness of etcd's confchange tests (the corpus's `confchange/*.txt`). Commands:
 * `simple` (a change without joint consensus), `enter-joint [autoleave=<bool>]` and `leave-joint`.
 * The first two read their changes from the input: `vN` makes N a voter, `lN` a learner, `rN` removes
 * N, `uN` updates N. Each directive prints the resulting configuration and progress map, or the
 * error. The last index seen by the Changer goes up by one with every directive, so a Progress's
 * `next` tells in which directive it was created.
 */
import { Changer, type ConfChangeResult } from "../confchange/confchange.js";
import { isRaftError } from "../errors.js";
import { confChangesFromString } from "../raftpb/confchange.js";
import type { ConfChangeSingle } from "../raftpb/types.js";
import { ProgressTracker } from "../tracker/tracker.js";
import type { DatadrivenHandler, TestData } from "./datadriven.js";

/** Go's strconv.ParseBool. */
function parseGoBool(s: string, d: TestData): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  throw new Error(`${d.pos}: strconv.ParseBool: parsing "${s}": invalid syntax`);
}

/** The `autoleave` argument (datadriven's ScanArgs: it must be there, with one value). */
function autoLeaveArg(d: TestData): boolean {
  const arg = d.cmdArgs.find((a) => a.key === "autoleave");
  if (arg === undefined) throw new Error(`${d.pos}: missing argument: autoleave`);
  if (arg.vals.length !== 1) throw new Error(`${d.pos}: autoleave: expected 1 value, got ${arg.vals.length}`);
  return parseGoBool(arg.vals[0]!, d);
}

/**
 * A fresh handler for one `confchange/*.txt` file: it holds that file's configuration, starting
 * empty (a ProgressTracker allowing 10 inflight messages, no byte limit).
 */
export function confchangeDatadrivenHandler(): DatadrivenHandler {
  const tracker = new ProgressTracker(10, 0);
  const changer = new Changer(tracker, 0);
  return (d) => {
    try {
      return run(d);
    } finally {
      changer.lastIndex++;
    }
  };

  function run(d: TestData): string {
    let ccs: ConfChangeSingle[];
    try {
      ccs = confChangesFromString(d.input);
    } catch (e) {
      // Bad input is reported as the directive's output, as etcd's harness does.
      return e instanceof Error ? e.message : String(e);
    }
    switch (d.cmd) {
      case "simple":
        return apply(() => changer.simple(ccs));
      case "enter-joint": {
        const autoLeave = d.cmdArgs.length > 0 ? autoLeaveArg(d) : false;
        return apply(() => changer.enterJoint(autoLeave, ccs));
      }
      case "leave-joint":
        if (ccs.length > 0) return "this command takes no input\n";
        return apply(() => changer.leaveJoint());
      default:
        return "unknown command";
    }
  }

  /** Installs the result of `op` and prints it, or prints the ConfChangeInvalid error it threw. */
  function apply(op: () => ConfChangeResult): string {
    let result: ConfChangeResult;
    try {
      result = op();
    } catch (e) {
      if (isRaftError(e, "ConfChangeInvalid")) return `${e.message}\n`;
      throw e;
    }
    tracker.config = result.config;
    tracker.progress = result.progress;
    return `${tracker.config.toString()}\n${tracker.progress.toString()}`;
  }
}
