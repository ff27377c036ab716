/**
 * Exponential backoff with "equal jitter": the n-th delay is drawn uniformly from [d/2, d] where
 * d = min(maxMs, initialMs · 2^n). The jitter keeps the peers of a restarted node from redialing in
 * lockstep; the floor of d/2 keeps a flapping peer from being hammered.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call doubles the ceiling up to `maxMs`. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return ceiling / 2 + this.random() * (ceiling / 2);
  }

  /** Call after a success: the next failure starts again from `initialMs`. */
  reset(): void {
    this.attempt = 0;
  }
}
