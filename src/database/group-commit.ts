import { ServiceUnavailableException } from '@nestjs/common';
import { CommitOutcomeUnknownError, errorChain, isAnswerLost } from './database-errors.js';

/** Jobs per statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const MAX_JOBS_PER_BATCH = 200;
/** Jobs waiting for their turn before new ones are refused (GroupCommitOverloadedError). */
const DEFAULT_MAX_QUEUED = 10_000;

/**
 * Too many writes are already waiting (the database is slow or stalled): the caller is refused at once
 * instead of joining a queue that only grows. An HTTP error, so any route answers 503 + Retry-After.
 */
export class GroupCommitOverloadedError extends ServiceUnavailableException {
  constructor(
    readonly queued: number,
    readonly retryAfterSeconds = 1,
  ) {
    super({
      message: 'The database is busy with other writes; retry shortly',
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
    this.name = 'GroupCommitOverloadedError';
  }
}

export type WriteErrorKind = 'constraint' | 'outcome-unknown' | 'other';

/**
 * What a failed write means, on both drivers (TypeORM's QueryFailedError carries the driver's `code`, and
 * its original in `driverError`):
 * - `constraint`: the statement was refused as a whole because of a row (unique, foreign key, not null,
 *   check; or a value the column cannot hold: too long, out of range): SQLite `SQLITE_CONSTRAINT*`, PostgreSQL
 *   SQLSTATE classes 23 and 22 (the other rows of a group are then written alone, not refused with it);
 * - `outcome-unknown`: the connection was lost while the statement or its commit was in flight;
 * - `other`: any other refusal (busy, read-only, syntax…): nothing was written.
 */
export function classifyWriteError(error: unknown): WriteErrorKind {
  for (const { code } of errorChain(error)) {
    if (typeof code === 'string' && (code.startsWith('SQLITE_CONSTRAINT') || /^2[23][0-9A-Z]{3}$/.test(code))) return 'constraint';
  }
  return isAnswerLost(error) ? 'outcome-unknown' : 'other';
}

export interface GroupCommitOptions<J> {
  /** Most jobs waiting (not yet in a statement) before submit() refuses with GroupCommitOverloadedError. */
  maxQueued?: number;
  /**
   * After a lost connection, tells which jobs of the batch are in the database (true) so their callers
   * succeed; the others get CommitOutcomeUnknownError. Without it, every job of the batch gets that error.
   */
  verify?: (jobs: J[]) => Promise<boolean[]>;
}

interface Waiting<J> {
  job: J;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: jobs handed in during the same event-loop turn (or while the previous batch is being
 * written) are written together by one `writeBatch` call (one statement, atomic), and each caller's
 * promise settles only once its own job is committed. Under load this turns N statements into one,
 * without weakening "written before we go on".
 *
 * When a batch fails:
 * - a constraint error (one bad row refuses the whole statement): the jobs are retried one by one, so a
 *   bad one fails only its own caller; a retry failing for another reason fails the rest at once;
 * - a lost connection: the statement may have committed; `verify` (when given) settles what it can,
 *   the rest get CommitOutcomeUnknownError, never a plain failure;
 * - anything else (busy database, …): every caller of the batch gets the error at once, with no retry
 *   that would hold the queue behind a stalled database.
 * The queue is bounded: past `maxQueued` waiting jobs, submit() refuses with GroupCommitOverloadedError.
 */
export class GroupCommit<J> {
  private queue: Waiting<J>[] = [];
  private flushing: Promise<void> | null = null;
  private scheduled = false;
  private readonly maxQueued: number;

  constructor(
    private readonly writeBatch: (jobs: J[]) => Promise<void>,
    private readonly options: GroupCommitOptions<J> = {},
  ) {
    this.maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
  }

  /** Jobs waiting for a statement (for tests and metrics). */
  get queued(): number {
    return this.queue.length;
  }

  submit(job: J): Promise<void> {
    if (this.queue.length >= this.maxQueued) return Promise.reject(new GroupCommitOverloadedError(this.queue.length));
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
    } catch (error) {
      const kind = classifyWriteError(error);
      if (kind === 'constraint' && batch.length > 1) await this.retryOneByOne(batch);
      else if (kind === 'outcome-unknown') await this.settleUnknown(batch, error);
      else for (const w of batch) w.reject(error);
    }
  }

  /** The statement was refused because of some row(s): nothing was written, so each job goes alone. */
  private async retryOneByOne(batch: Waiting<J>[]): Promise<void> {
    for (let i = 0; i < batch.length; i++) {
      const w = batch[i];
      try {
        await this.writeBatch([w.job]);
        w.resolve();
      } catch (error) {
        const kind = classifyWriteError(error);
        if (kind === 'outcome-unknown') await this.settleUnknown([w], error);
        else w.reject(error);
        if (kind !== 'constraint') {
          // The database itself is failing now: the jobs not yet retried were not written either.
          for (const rest of batch.slice(i + 1)) rest.reject(error);
          return;
        }
      }
    }
  }

  private async settleUnknown(batch: Waiting<J>[], error: unknown): Promise<void> {
    let present: boolean[] | null = null;
    if (this.options.verify) {
      try {
        present = await this.options.verify(batch.map((w) => w.job));
      } catch {
        present = null;
      }
    }
    batch.forEach((w, i) => (present?.[i] ? w.resolve() : w.reject(new CommitOutcomeUnknownError(error))));
  }
}
