/**
 * A Server-Sent Events parser (the WHATWG "event stream interpretation"), fed text as it arrives
 * in arbitrary pieces: lines end in LF, CRLF or CR; `event`, `data` (lines joined with LF), `id`
 * and comments (`:`); an event is dispatched at a blank line. Enough for `GET /watch`; no `retry`.
 */

/** One dispatched event. `id` is the event's `id:` field, if it had one. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
}

/** Parses a stream of text into events. Holds at most one unfinished line and one unfinished event. */
export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private id: string | undefined;
  /** A CR ended the last piece: an LF starting the next one belongs to it. */
  private pendingCr = false;

  /** Feeds `text`; returns the events it completed. */
  push(text: string): SseEvent[] {
    if (this.pendingCr && text.startsWith("\n")) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (m === null) break;
      if (m[0] === "\r" && m.index === this.buffer.length - 1) {
        this.pendingCr = true;
      }
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const e = this.line(line);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  private line(line: string): SseEvent | undefined {
    if (line === "") {
      if (this.data.length === 0 && this.event === "") {
        this.id = undefined;
        return undefined;
      }
      const e: SseEvent = { event: this.event || "message", data: this.data.join("\n"), id: this.id };
      this.event = "";
      this.data = [];
      this.id = undefined;
      return e;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.id = value;
    return undefined;
  }
}
