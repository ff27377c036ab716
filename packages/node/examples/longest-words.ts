// A replicated "three longest words" tracker: every node applies the same words in the same order,
// so every node knows the same three longest words. Its state lives in memory: a volatile state
// machine. The node makes it durable by streaming snapshot() into its snapshot directory every
// `snapshotCount` entries; after a restart a fresh instance (appliedIndex 0) is restored from
// there, then sees the log after it. The same class runs in the simulator (longest-words.test.ts).
import type { ApplyEntry, StateMachine, StateMachineSnapshot } from "@tsraft/node";

export class LongestWords implements StateMachine<string[]> {
  /** At most three words, longest first (equal lengths: alphabetical). */
  private words: string[] = [];
  private applied = 0;

  appliedIndex(): number {
    return this.applied;
  }

  /** Each word's result: the three longest words once it is applied. */
  apply(entries: readonly ApplyEntry[]): (string[] | undefined)[] {
    return entries.map((e) => {
      this.applied = e.index;
      if (e.kind !== "normal") return undefined; // a leader's no-op or a membership change
      const word = new TextDecoder().decode(e.data);
      if (!this.words.includes(word)) {
        this.words = [...this.words, word]
          .sort((a, b) => b.length - a.length || (a < b ? -1 : 1))
          .slice(0, 3);
      }
      return this.top();
    });
  }

  top(): string[] {
    return [...this.words];
  }

  /** A point-in-time image: the words as JSON (captured now, read later). */
  snapshot(): StateMachineSnapshot {
    const image = new TextEncoder().encode(JSON.stringify(this.words));
    return { index: this.applied, read: () => [image], release: () => {} };
  }

  async restore(index: number, image: AsyncIterable<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let json = "";
    for await (const chunk of image) json += decoder.decode(chunk, { stream: true });
    const words: unknown = JSON.parse(json + decoder.decode());
    if (!Array.isArray(words) || !words.every((w) => typeof w === "string")) {
      throw new Error("not a LongestWords image");
    }
    this.words = words;
    this.applied = index;
  }
}
