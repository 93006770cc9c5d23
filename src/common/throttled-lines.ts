/**
 * Log lines about something that can happen many times a second (a retried SMS attempt during an outage, a job lock
 * lost, a message taken over after a crash): per key, the first is written at once; the others of the next `everyMs`
 * are counted, and one line at the end of that window stands for them all (the last one's text, with how many more
 * came). A burst is neither a flood nor undercounted: with a line only when the next event came, the tail of a burst
 * was never said. In memory, per instance; at most `maxKeys` keys remembered (the oldest forgotten).
 */
export class ThrottledLines {
  /** When each key's last line was written. */
  private readonly lastLineAt = new Map<string, number>();
  /** Closed (shutdown): what is held has been said, and each event from then on is said at once, no timer left. */
  private closed = false;
  /** Events held since that line, the last one's line builder, and the timer that will say them. */
  private readonly held = new Map<string, { count: number; line: (more: number) => string; timer: NodeJS.Timeout }>();

  constructor(
    private readonly write: (line: string) => void,
    private readonly everyMs = 60_000,
    private readonly maxKeys = 100,
  ) {}

  /** One event of `key`; `line(more)` writes it, standing for itself and `more` others. */
  say(key: string, line: (more: number) => string): void {
    if (this.closed) {
      this.write(line(0));
      return;
    }
    const held = this.held.get(key);
    if (held) {
      held.count++;
      held.line = line;
      return;
    }
    const wait = (this.lastLineAt.get(key) ?? -Infinity) + this.everyMs - Date.now();
    if (wait <= 0) {
      this.written(key);
      this.write(line(0));
      return;
    }
    const timer = setTimeout(() => this.flush(key), wait);
    timer.unref();
    this.held.set(key, { count: 1, line, timer });
  }

  /** At shutdown: says what is held now, and each later event at once (no timer firing after the app has stopped). */
  close(): void {
    this.closed = true;
    for (const key of [...this.held.keys()]) this.flush(key);
  }

  private flush(key: string): void {
    const held = this.held.get(key);
    if (!held) return;
    clearTimeout(held.timer);
    this.held.delete(key);
    this.written(key);
    this.write(held.line(held.count - 1));
  }

  private written(key: string): void {
    this.lastLineAt.delete(key);
    this.lastLineAt.set(key, Date.now());
    if (this.lastLineAt.size <= this.maxKeys) return;
    for (const oldest of this.lastLineAt.keys())
      if (!this.held.has(oldest)) {
        this.lastLineAt.delete(oldest);
        return;
      }
  }
}
