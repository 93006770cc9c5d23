/** Jobs per statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const MAX_JOBS_PER_BATCH = 200;

interface Waiting<J> {
  job: J;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: jobs handed in during the same event-loop turn (or while the previous batch is being
 * written) are written together by one `writeBatch` call, and each caller's promise settles only once
 * its own job is committed. Under load this turns N statements (N commits on SQLite, N round trips on
 * PostgreSQL) into one, without weakening "written before we go on". If a batch fails, its jobs are
 * retried one by one so a bad one fails only its own caller.
 */
export class GroupCommit<J> {
  private queue: Waiting<J>[] = [];
  private flushing: Promise<void> | null = null;
  private scheduled = false;

  constructor(private readonly writeBatch: (jobs: J[]) => Promise<void>) {}

  submit(job: J): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flushing = this.flush().finally(() => {
        this.flushing = null;
        if (this.queue.length) this.schedule();
      });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_JOBS_PER_BATCH);
    try {
      await this.writeBatch(batch.map((w) => w.job));
      for (const w of batch) w.resolve();
    } catch {
      for (const w of batch) await this.writeBatch([w.job]).then(w.resolve, w.reject);
    }
  }
}
