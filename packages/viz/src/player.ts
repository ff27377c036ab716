/**
 * The play loop of a tab: runs steps at a chosen speed on a timer and renders after each batch.
 * "max" runs as many steps as fit in a frame's budget.
 */

/** Steps per second, or 0 for as fast as the page can. */
export type Speed = number;

/** Drives `step` on a timer while playing. */
export class Player {
  playing = false;
  speed: Speed = 10;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private last = 0;
  private owed = 0;

  constructor(
    /** Runs one step; returns false when nothing more can run (the player stops). */
    private readonly step: () => boolean,
    /** Redraws after a batch of steps. */
    private readonly render: () => void,
    /** Told when playing starts or stops (to update the play button). */
    private readonly onState: (playing: boolean) => void = () => {},
  ) {}

  /** Starts playing. */
  play(): void {
    if (this.playing) return;
    this.playing = true;
    this.last = performance.now();
    this.owed = 1;
    this.onState(true);
    this.schedule();
  }

  /** Stops playing. */
  pause(): void {
    if (!this.playing) return;
    this.playing = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.onState(false);
  }

  toggle(): void {
    if (this.playing) this.pause();
    else this.play();
  }

  private schedule(): void {
    const interval = this.speed === 0 ? 0 : Math.max(16, 1000 / this.speed);
    this.timer = setTimeout(() => this.frame(), interval);
  }

  private frame(): void {
    if (!this.playing) return;
    const now = performance.now();
    let more = true;
    if (this.speed === 0) {
      const deadline = now + 14;
      while (more && performance.now() < deadline) more = this.step();
    } else {
      this.owed += ((now - this.last) * this.speed) / 1000;
      const n = Math.min(Math.floor(this.owed), 500);
      this.owed -= n;
      for (let i = 0; i < n && more; i++) more = this.step();
    }
    this.last = now;
    this.render();
    if (!more) {
      this.pause();
      return;
    }
    this.schedule();
  }
}
