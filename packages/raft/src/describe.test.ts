import { describe, expect, it } from "vitest";
import { newReady } from "../test/ready-fixtures.js";
import { LocalAppendThread, LocalApplyThread } from "./constants.js";
import * as fmt from "./describe.js";
import { goQuote, goQuoteString } from "./go-quote.js";
import * as pb from "./raftpb/index.js";
import { type Ready, StateType } from "./ready.js";

const bytes = (...b: number[]) => new Uint8Array(b);
const utf8 = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));

describe("goQuote (Go's %q of []byte)", () => {
  // Expected values are what Go's fmt.Sprintf("%q", b) prints (strconv.Quote rules).
  const cases: [string, Uint8Array, string][] = [
    ["empty", bytes(), `""`],
    ["plain ASCII", utf8("foo bar"), `"foo bar"`],
    ["quote and backslash", utf8('a"b\\c'), `"a\\"b\\\\c"`],
    ["single quote is not escaped", utf8("it's"), `"it's"`],
    ["C escapes", bytes(7, 8, 12, 10, 13, 9, 11), `"\\a\\b\\f\\n\\r\\t\\v"`],
    ["other controls as \\x", bytes(0, 1, 0x1b, 0x1f, 0x7f), `"\\x00\\x01\\x1b\\x1f\\x7f"`],
    ["invalid bytes as \\x", bytes(0x61, 0xff, 0x80, 0x62), `"a\\xff\\x80b"`],
    ["printable multibyte kept", utf8("héllo 日本 😀"), `"héllo 日本 😀"`],
    ["C1 control as \\u", bytes(0xc2, 0x85), `"\\u0085"`],
    ["no-break space is not printable", bytes(0xc2, 0xa0), `"\\u00a0"`],
    ["soft hyphen (Cf)", bytes(0xc2, 0xad), `"\\u00ad"`],
    ["zero-width space and BOM", utf8("\u200b\ufeff"), `"\\u200b\\ufeff"`],
    ["line separator", utf8("\u2028"), `"\\u2028"`],
    ["private use", utf8("\ue000"), `"\\ue000"`],
    ["astral non-printable as \\U", utf8("\u{e0001}\u{10ffff}"), `"\\U000e0001\\U0010ffff"`],
    ["overlong 2-byte", bytes(0xc0, 0x80), `"\\xc0\\x80"`],
    ["overlong 3-byte", bytes(0xe0, 0x80, 0x80), `"\\xe0\\x80\\x80"`],
    ["encoded surrogate", bytes(0xed, 0xa0, 0x80), `"\\xed\\xa0\\x80"`],
    ["above U+10FFFF", bytes(0xf4, 0x90, 0x80, 0x80), `"\\xf4\\x90\\x80\\x80"`],
    ["truncated sequence", bytes(0xe6, 0x97), `"\\xe6\\x97"`],
    ["bad continuation, then ASCII", bytes(0xe6, 0x41), `"\\xe6A"`],
    ["encoded U+FFFD is printable", bytes(0xef, 0xbf, 0xbd), `"\ufffd"`],
  ];
  for (const [name, input, want] of cases) {
    it(name, () => expect(goQuote(input)).toBe(want));
  }

  it("quotes JS strings the same way as their UTF-8 bytes", () => {
    for (const s of ["", "foo", 'a"\\\n\x00', "héllo\u00a0😀\u{e0001}"]) {
      expect(goQuoteString(s)).toBe(goQuote(utf8(s)));
    }
    expect(goQuoteString("\ud800")).toBe(`"\ufffd"`);
  });
});

describe("describe*", () => {
  it("describes hard and soft state", () => {
    expect(fmt.describeHardState({ term: 2, vote: 0, commit: 5 })).toBe("Term:2 Commit:5");
    expect(fmt.describeHardState({ term: 2, vote: 3, commit: 5 })).toBe("Term:2 Vote:3 Commit:5");
    expect(fmt.describeSoftState({ lead: 0, raftState: StateType.StatePreCandidate })).toBe(
      "Lead:0 State:StatePreCandidate",
    );
  });

  it("describes conf states and snapshots like Go's %v", () => {
    const cs = pb.newConfState({ voters: [1, 2, 3], votersOutgoing: [1], autoLeave: true });
    expect(fmt.describeConfState(cs)).toBe(
      "Voters:[1 2 3] VotersOutgoing:[1] Learners:[] LearnersNext:[] AutoLeave:true",
    );
    const snap = pb.newSnapshot({
      metadata: { index: 4, term: 1, confState: pb.newConfState({ learners: [4] }) },
    });
    expect(fmt.describeSnapshot(snap)).toBe(
      "Index:4 Term:1 ConfState:Voters:[] VotersOutgoing:[] Learners:[4] LearnersNext:[] AutoLeave:false",
    );
  });

  it("names targets", () => {
    expect(fmt.describeTarget(0)).toBe("None");
    expect(fmt.describeTarget(LocalAppendThread)).toBe("AppendThread");
    expect(fmt.describeTarget(LocalApplyThread)).toBe("ApplyThread");
    expect(fmt.describeTarget(255)).toBe("ff");
  });

  it("describes entries, decoding conf changes", () => {
    expect(fmt.describeEntry(pb.newEntry({ term: 1, index: 3 }))).toBe('1/3 EntryNormal ""');
    expect(fmt.describeEntry(pb.newEntry({ term: 1, index: 3, data: utf8("a\nb") }))).toBe(
      '1/3 EntryNormal "a\\nb"',
    );
    // A formatter that returns "" leaves no trailing space.
    expect(fmt.describeEntry(pb.newEntry({ term: 1, index: 3, data: utf8("x") }), () => "")).toBe(
      "1/3 EntryNormal",
    );
    expect(
      fmt.describeEntry(pb.newEntry({ term: 2, index: 4, data: utf8("x") }), (d) => `<${d.length}>`),
    ).toBe("2/4 EntryNormal <1>");
    // ConfChangeV2{changes: [{AddNode 3}, {AddLearnerNode 4}]}, hand-encoded.
    const v2 = bytes(0x12, 0x02, 0x10, 0x03, 0x12, 0x04, 0x08, 0x03, 0x10, 0x04);
    expect(
      fmt.describeEntry(pb.newEntry({ term: 1, index: 4, type: pb.EntryType.EntryConfChangeV2, data: v2 })),
    ).toBe("1/4 EntryConfChangeV2 v3 l4");
    // An empty ConfChangeV2 (leave joint) has no changes to show.
    expect(fmt.describeEntry(pb.newEntry({ term: 1, index: 6, type: pb.EntryType.EntryConfChangeV2 }))).toBe(
      "1/6 EntryConfChangeV2",
    );
    // ConfChange{type: RemoveNode, nodeId: 5}.
    const v1 = bytes(0x10, 0x01, 0x18, 0x05);
    expect(
      fmt.describeEntry(pb.newEntry({ term: 3, index: 7, type: pb.EntryType.EntryConfChange, data: v1 })),
    ).toBe("3/7 EntryConfChange r5");
    expect(
      fmt.describeEntries([
        pb.newEntry({ term: 1, index: 1 }),
        pb.newEntry({ term: 1, index: 2, data: utf8("b") }),
      ]),
    ).toBe('1/1 EntryNormal ""\n1/2 EntryNormal "b"\n');
    expect(fmt.describeEntries([])).toBe("");
  });

  it("describes conf changes as their V2 form", () => {
    expect(
      fmt.describeConfChange(
        pb.newConfChange({ type: pb.ConfChangeType.ConfChangeAddLearnerNode, nodeId: 4 }),
      ),
    ).toBe("transition:ConfChangeTransitionAuto changes:{type:ConfChangeAddLearnerNode node_id:4}");
    expect(
      fmt.describeConfChange(
        pb.newConfChangeV2({
          transition: pb.ConfChangeTransition.ConfChangeTransitionJointExplicit,
          changes: [
            { type: pb.ConfChangeType.ConfChangeAddNode, nodeId: 2 },
            { type: pb.ConfChangeType.ConfChangeRemoveNode, nodeId: 3 },
          ],
          context: utf8('c"x'),
        }),
      ),
    ).toBe(
      "transition:ConfChangeTransitionJointExplicit changes:{type:ConfChangeAddNode node_id:2} " +
        'changes:{type:ConfChangeRemoveNode node_id:3} context:"c\\"x"',
    );
    expect(fmt.describeConfChange(pb.newConfChangeV2())).toBe("transition:ConfChangeTransitionAuto");
  });
});

describe("describeMessage", () => {
  it("prints the header, rejection, commit and vote", () => {
    const m = pb.newMessage({
      type: pb.MessageType.MsgAppResp,
      from: 3,
      to: 2,
      term: 2,
      logTerm: 1,
      index: 4,
      reject: true,
      rejectHint: 3,
      commit: 7,
      vote: 1,
    });
    expect(fmt.describeMessage(m)).toBe("3->2 MsgAppResp Term:2 Log:1/4 Rejected (Hint: 3) Commit:7 Vote:1");
    expect(
      fmt.describeMessage(
        pb.newMessage({ type: pb.MessageType.MsgVoteResp, from: 1, to: 3, term: 2, reject: true }),
      ),
    ).toBe("1->3 MsgVoteResp Term:2 Log:0/0 Rejected (Hint: 0)");
  });

  it("puts one entry inline and several on their own lines", () => {
    const one = pb.newMessage({
      type: pb.MessageType.MsgApp,
      from: 1,
      to: 2,
      term: 1,
      logTerm: 1,
      index: 10,
      commit: 10,
      entries: [pb.newEntry({ term: 1, index: 11 })],
    });
    expect(fmt.describeMessage(one)).toBe(
      '1->2 MsgApp Term:1 Log:1/10 Commit:10 Entries:[1/11 EntryNormal ""]',
    );
    const two = {
      ...one,
      entries: [pb.newEntry({ term: 1, index: 11 }), pb.newEntry({ term: 1, index: 12, data: utf8("p") })],
    };
    expect(fmt.describeMessage(two)).toBe(
      '1->2 MsgApp Term:1 Log:1/10 Commit:10 Entries:[\n  1/11 EntryNormal ""\n  1/12 EntryNormal "p"\n]',
    );
  });

  it("shows a non-empty snapshot on its own line", () => {
    const snap = pb.newSnapshot({
      metadata: { index: 4, term: 1, confState: pb.newConfState({ voters: [1, 2] }) },
    });
    const m = pb.newMessage({ type: pb.MessageType.MsgSnap, from: 1, to: 2, term: 1, snapshot: snap });
    expect(fmt.describeMessage(m)).toBe(
      "1->2 MsgSnap Term:1 Log:0/0\n" +
        "  Snapshot: Index:4 Term:1 ConfState:Voters:[1 2] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false",
    );
    // An empty snapshot (index 0) is not shown.
    expect(fmt.describeMessage({ ...m, snapshot: pb.newSnapshot() })).toBe("1->2 MsgSnap Term:1 Log:0/0");
  });

  it("nests responses with growing indentation", () => {
    const inner = pb.newMessage({
      type: pb.MessageType.MsgStorageApply,
      from: 1,
      to: LocalApplyThread,
      entries: [pb.newEntry({ term: 1, index: 11 }), pb.newEntry({ term: 1, index: 12 })],
      responses: [
        pb.newMessage({ type: pb.MessageType.MsgStorageApplyResp, from: LocalApplyThread, to: 1, term: 0 }),
      ],
    });
    const m = pb.newMessage({
      type: pb.MessageType.MsgStorageAppend,
      from: 1,
      to: LocalAppendThread,
      commit: 10,
      vote: 1,
      term: 1,
      responses: [pb.newMessage({ type: pb.MessageType.MsgVoteResp, from: 1, to: 1, term: 1 }), inner],
    });
    expect(fmt.describeMessage(m)).toBe(
      [
        "1->AppendThread MsgStorageAppend Term:1 Log:0/0 Commit:10 Vote:1 Responses:[",
        "  1->1 MsgVoteResp Term:1 Log:0/0",
        "  1->ApplyThread MsgStorageApply Term:0 Log:0/0 Entries:[",
        '    1/11 EntryNormal ""',
        '    1/12 EntryNormal ""',
        "  ] Responses:[",
        "    ApplyThread->1 MsgStorageApplyResp Term:0 Log:0/0",
        "  ]",
        "]",
      ].join("\n"),
    );
  });

  it("prints unknown message types by number", () => {
    expect(fmt.describeMessage(pb.newMessage({ type: 99 as pb.MessageType, from: 1, to: 2 }))).toBe(
      "1->2 99 Term:0 Log:0/0",
    );
  });
});

describe("describeReady", () => {
  const empty = newReady();

  it("describes an empty Ready as <empty Ready>", () => {
    expect(fmt.describeReady(empty)).toBe("<empty Ready>");
    // Zero hard state and empty snapshot count as absent.
    expect(
      fmt.describeReady({ ...empty, hardState: { term: 0, vote: 0, commit: 0 }, snapshot: pb.newSnapshot() }),
    ).toBe("<empty Ready>");
  });

  it("prints every section in etcd's order", () => {
    const rd: Ready = {
      softState: { lead: 1, raftState: StateType.StateLeader },
      hardState: { term: 1, vote: 1, commit: 11 },
      readStates: [
        { index: 11, requestCtx: utf8("ab") },
        { index: 12, requestCtx: bytes() },
      ],
      entries: [pb.newEntry({ term: 1, index: 12, data: utf8("x") })],
      snapshot: pb.newSnapshot({
        metadata: { index: 10, term: 1, confState: pb.newConfState({ voters: [1] }) },
      }),
      committedEntries: [pb.newEntry({ term: 1, index: 11 })],
      messages: [pb.newMessage({ type: pb.MessageType.MsgHeartbeat, from: 1, to: 2, term: 1, commit: 11 })],
      mustSync: true,
    };
    expect(fmt.describeReady(rd)).toBe(
      [
        "Ready MustSync=true:",
        "Lead:1 State:StateLeader",
        "HardState Term:1 Vote:1 Commit:11",
        "ReadStates [{11 [97 98]} {12 []}]",
        "Entries:",
        '1/12 EntryNormal "x"',
        "Snapshot Index:10 Term:1 ConfState:Voters:[1] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false",
        "CommittedEntries:",
        '1/11 EntryNormal ""',
        "Messages:",
        "1->2 MsgHeartbeat Term:1 Log:0/0 Commit:11",
        "",
      ].join("\n"),
    );
  });

  it("passes the entry formatter down to entries and messages", () => {
    const e = pb.newEntry({ term: 1, index: 2, data: utf8("hello") });
    const rd: Ready = {
      ...empty,
      committedEntries: [e],
      messages: [pb.newMessage({ type: pb.MessageType.MsgApp, from: 1, to: 2, entries: [e] })],
    };
    expect(fmt.describeReady(rd, (d) => `len=${d.length}`)).toBe(
      "Ready MustSync=false:\nCommittedEntries:\n1/2 EntryNormal len=5\nMessages:\n" +
        "1->2 MsgApp Term:0 Log:0/0 Entries:[1/2 EntryNormal len=5]\n",
    );
  });
});
