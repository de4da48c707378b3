/**
 * Coalesce saves into runs: per key (an op name), one run `delayMs` after the last save. A save
 * that lands while that key's run is in flight queues exactly one more run after it, so the
 * last save is always checked and runs of one op never overlap. Pure: timers are the global
 * ones (node:test's mock.timers replaces them in tests).
 */
export class Debouncer<K> {
  private readonly timers = new Map<K, ReturnType<typeof setTimeout>>();
  private readonly running = new Set<K>();
  private readonly again = new Set<K>();

  constructor(private readonly delayMs: () => number, private readonly run: (key: K) => Promise<unknown>) {}

  /** Ask for a run of `key`; restarts its quiet period. */
  schedule(key: K): void {
    clearTimeout(this.timers.get(key));
    this.timers.set(key, setTimeout(() => this.fire(key), Math.max(0, this.delayMs())));
  }

  /** Keys with a run waiting for its quiet period to end. */
  get pending(): K[] { return [...this.timers.keys()]; }

  /** Drop every waiting run (in-flight runs finish, but queue nothing more). */
  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.again.clear();
  }

  private fire(key: K): void {
    this.timers.delete(key);
    if (this.running.has(key)) { this.again.add(key); return; }
    this.running.add(key);
    void this.run(key).catch(() => undefined).finally(() => {
      this.running.delete(key);
      if (this.again.delete(key)) this.fire(key);
    });
  }
}
