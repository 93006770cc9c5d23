import type { Repository } from 'typeorm';
import type { AuditLog } from '../../audit/audit-log.entity.js';
import type { Atomic, Statement, Work } from '../../database/atomic.js';
import { GroupCommit } from '../../database/group-commit.js';
import { insertStatement, insertWhereKeyInStatement } from '../../database/insert-statement.js';
import { SMS_SENDING } from '../sms-message.entity.js';

/** One provider answer to store: the row, the attempt its lease holder made, what Twilio said. */
interface SentJob {
  id: string;
  attempt: number;
  status: string;
  sid: string;
  from: string | null;
  /** The settlement time, in the database's form (Atomic.time). */
  t: string;
  /** Its journal entry, inserted in the same transaction if (and only if) its UPDATE applied. */
  journal?: AuditLog;
  /** Set once written: false when the row was no longer this attempt's (the lease was lost). */
  applied?: boolean;
}

const SET =
  `"status" = ?, "provider_sid" = ?, "from" = COALESCE(?, "from"), "error_code" = NULL, "error_message" = NULL, ` +
  `"sent_at" = ?, "lease_until" = NULL, "updated_at" = ?`;

/**
 * The "sent" settlements of messages outside a batch (single and notification sends), group-committed:
 * the answers stored during one event-loop turn share one write instead of one commit each. Each row is
 * still updated only if it is `sending` with this attempt number (only the lease holder's attempt counts),
 * each caller learns whether its own row was, and goes on only once it is committed. The journal entries of
 * the rows that were updated are written atomically with them: a sent message is never stored without its
 * entry, and a lost lease writes none.
 * - PostgreSQL: one statement, `WITH u AS (UPDATE … FROM (VALUES …) RETURNING id) INSERT INTO audit_logs …
 *   WHERE key IN (SELECT id FROM u)`: atomic by itself, one round trip instead of BEGIN, UPDATE, INSERT, COMMIT.
 * - SQLite: one transaction of prepared UPDATEs, then one multi-row INSERT of the entries.
 */
export class SentSettlements {
  private readonly commits = new GroupCommit<SentJob>((jobs) => this.write(jobs));

  constructor(
    private readonly atomic: Atomic,
    private readonly auditLogs: Repository<AuditLog>,
  ) {}

  async store(
    id: string,
    attempt: number,
    answer: { status: string; sid: string; from: string | null },
    t: string,
    journal?: AuditLog,
  ): Promise<boolean> {
    const job: SentJob = { id, attempt, status: answer.status, sid: answer.sid, from: answer.from, t, journal };
    await this.commits.submit(job);
    return job.applied === true;
  }

  private async write(jobs: SentJob[]): Promise<void> {
    for (const job of jobs) job.applied = false;
    const auditLogs = this.auditLogs;
    const journal = (entries: AuditLog[]) => insertStatement(auditLogs, entries);
    const entries = (applied: (job: SentJob) => boolean): AuditLog[] => jobs.filter((j) => j.journal && applied(j)).map((j) => j.journal!);
    if (!this.atomic.postgres) {
      const applied = await this.atomic.run(function* (): Work<Set<SentJob>> {
        const done = new Set<SentJob>();
        for (const job of jobs) {
          const changed = yield {
            sql: `UPDATE "sms_messages" SET ${SET} WHERE "id" = ? AND "status" = '${SMS_SENDING}' AND "attempts" = ? RETURNING "id"`,
            params: [job.status, job.sid, job.from, job.t, job.t, job.id, job.attempt],
          } satisfies Statement;
          if (changed.length) done.add(job);
        }
        const journaled = entries((job) => done.has(job));
        if (journaled.length) yield journal(journaled);
        return done;
      });
      for (const job of jobs) job.applied = applied.has(job);
      return;
    }
    const params: unknown[] = [];
    const tuples = jobs.map((job) => {
      params.push(job.id, job.attempt, job.status, job.sid, job.from, job.t);
      return '(?::uuid, ?::integer, ?::varchar, ?::varchar, ?::varchar, ?::timestamptz)';
    });
    const update =
      `UPDATE "sms_messages" AS m SET "status" = v."status", "provider_sid" = v."sid", "from" = COALESCE(v."from", m."from"), ` +
      `"error_code" = NULL, "error_message" = NULL, "sent_at" = v."t", "lease_until" = NULL, "updated_at" = v."t" ` +
      `FROM (VALUES ${tuples.join(', ')}) AS v("id", "attempt", "status", "sid", "from", "t") ` +
      `WHERE m."id" = v."id" AND m."status" = '${SMS_SENDING}' AND m."attempts" = v."attempt" RETURNING m."id"`;
    const journaled = jobs.filter((j) => j.journal).map((j) => ({ entity: j.journal!, key: j.id }));
    // The entries of the rows the UPDATE changed, in the same statement (both or neither are committed).
    const insert = journaled.length ? insertWhereKeyInStatement(auditLogs, journaled, 'uuid', 'SELECT "id" FROM u') : null;
    const rows = insert
      ? await this.atomic.query(`WITH u AS (${update}), j AS (${insert.sql}) SELECT "id" FROM u`, [...params, ...insert.params])
      : await this.atomic.query(update, params);
    const applied = new Set(rows.map((r) => String(r.id)));
    for (const job of jobs) job.applied = applied.has(job.id);
  }
}
