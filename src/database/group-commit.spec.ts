import { HttpStatus } from '@nestjs/common';
import { AllExceptionsFilter } from '../common/filters/all-exceptions.filter.js';
import { CommitOutcomeUnknownError } from './database-errors.js';
import { classifyWriteError, GroupCommit, GroupCommitOverloadedError } from './group-commit.js';

/** Errors as the drivers raise them (TypeORM's QueryFailedError copies `code` and keeps `driverError`). */
const sqliteUnique = () => Object.assign(new Error('UNIQUE constraint failed: rows.id'), { code: 'SQLITE_CONSTRAINT_UNIQUE' });
const sqliteBusy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
const pgForeignKey = () => Object.assign(new Error('query failed'), { driverError: { code: '23503', message: 'violates foreign key' } });
const pgTerminated = () => new Error('Connection terminated unexpectedly');
const pgAdminShutdown = () => Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });

/** A writeBatch that records each call and fails as `fail` decides. */
function fakeWriter(fail: (jobs: string[], call: number) => Error | null) {
  const calls: string[][] = [];
  const committed: string[] = [];
  const writeBatch = async (jobs: string[]) => {
    calls.push(jobs);
    const error = fail(jobs, calls.length);
    if (error) throw error;
    committed.push(...jobs);
  };
  return { calls, committed, writeBatch };
}

const settle = (sut: GroupCommit<string>, jobs: string[]) => Promise.allSettled(jobs.map((j) => sut.submit(j)));
const statuses = (results: PromiseSettledResult<void>[]) => results.map((r) => r.status);
const reasons = (results: PromiseSettledResult<void>[]) => results.map((r) => (r.status === 'rejected' ? r.reason : null));

describe(classifyWriteError.name, () => {
  it.each([
    ['SQLite unique', sqliteUnique(), 'constraint'],
    ['SQLite foreign key', { code: 'SQLITE_CONSTRAINT_FOREIGNKEY' }, 'constraint'],
    ['SQLite not null', { code: 'SQLITE_CONSTRAINT_NOTNULL' }, 'constraint'],
    ['SQLite check', { code: 'SQLITE_CONSTRAINT_CHECK' }, 'constraint'],
    ['PostgreSQL unique (23505)', { code: '23505' }, 'constraint'],
    ['PostgreSQL FK in driverError', pgForeignKey(), 'constraint'],
    ['PostgreSQL not null (23502)', { code: '23502' }, 'constraint'],
    ['PostgreSQL check (23514)', { driverError: { code: '23514' } }, 'constraint'],
    ['PostgreSQL value too long (22001)', { driverError: { code: '22001' } }, 'constraint'],
    ['PostgreSQL out of range (22003)', { code: '22003' }, 'constraint'],
    ['SQLite busy', sqliteBusy(), 'other'],
    ['PostgreSQL serialization (40001)', { code: '40001' }, 'other'],
    ['connection refused (never sent)', { code: 'ECONNREFUSED' }, 'other'],
    ['pg connection terminated', pgTerminated(), 'outcome-unknown'],
    ['PostgreSQL admin shutdown', pgAdminShutdown(), 'outcome-unknown'],
    ['socket reset', { code: 'ECONNRESET' }, 'outcome-unknown'],
    ['transaction resolution unknown (08007)', { driverError: { code: '08007' } }, 'outcome-unknown'],
    ['not an error', 'boom', 'other'],
  ])('%s → %s', (_name, error, kind) => {
    expect(classifyWriteError(error)).toBe(kind);
  });
});

describe(GroupCommit.name, () => {
  it('writes jobs handed in together with one call and settles each caller after it', async () => {
    const writer = fakeWriter(() => null);
    const results = await settle(new GroupCommit(writer.writeBatch), ['a', 'b', 'c']);
    expect(statuses(results)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(writer.calls).toEqual([['a', 'b', 'c']]);
  });

  it('retries one by one after a constraint error, so only the bad job fails, with its own error', async () => {
    const writer = fakeWriter((jobs) => (jobs.includes('bad') ? sqliteUnique() : null));
    const results = await settle(new GroupCommit(writer.writeBatch), ['a', 'bad', 'c']);
    expect(statuses(results)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(classifyWriteError(reasons(results)[1])).toBe('constraint');
    expect(writer.calls).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
    expect(writer.committed).toEqual(['a', 'c']);
  });

  it('recognises PostgreSQL constraint errors (SQLSTATE class 23) too', async () => {
    const writer = fakeWriter((jobs) => (jobs.includes('bad') ? pgForeignKey() : null));
    const results = await settle(new GroupCommit(writer.writeBatch), ['bad', 'b']);
    expect(statuses(results)).toEqual(['rejected', 'fulfilled']);
  });

  it('fails every caller at once on any other error, without retrying (a busy database is not retried row by row)', async () => {
    const busy = sqliteBusy();
    const writer = fakeWriter(() => busy);
    const results = await settle(new GroupCommit(writer.writeBatch), ['a', 'b', 'c']);
    expect(statuses(results)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(reasons(results)).toEqual([busy, busy, busy]);
    expect(writer.calls).toEqual([['a', 'b', 'c']]);
  });

  it('fails the jobs not yet retried at once when a one-by-one retry hits a non-constraint error', async () => {
    const busy = sqliteBusy();
    // The batch fails on a constraint, then the database stalls on the second retry.
    const writer = fakeWriter((jobs, call) => (call === 1 ? sqliteUnique() : call === 3 ? busy : null));
    const results = await settle(new GroupCommit(writer.writeBatch), ['a', 'b', 'c', 'd']);
    expect(statuses(results)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected']);
    expect(reasons(results).slice(1)).toEqual([busy, busy, busy]);
    expect(writer.calls).toEqual([['a', 'b', 'c', 'd'], ['a'], ['b']]);
  });

  it('reports a lost connection as an unknown outcome, never as a plain failure, and does not retry', async () => {
    const lost = pgTerminated();
    const writer = fakeWriter(() => lost);
    const results = await settle(new GroupCommit(writer.writeBatch), ['a', 'b']);
    for (const reason of reasons(results)) {
      expect(reason).toBeInstanceOf(CommitOutcomeUnknownError);
      expect((reason as Error).cause).toBe(lost);
      expect((reason as Error).message).toMatch(/outcome is unknown/);
    }
    expect(writer.calls).toEqual([['a', 'b']]);
  });

  it('settles jobs that verify finds committed after a lost connection; the others stay unknown', async () => {
    // The commit went through (a, b written) but the answer was lost.
    const writer = fakeWriter(() => pgAdminShutdown());
    const verified: string[][] = [];
    const sut = new GroupCommit(writer.writeBatch, {
      verify: async (jobs) => {
        verified.push(jobs);
        return jobs.map((j) => j !== 'c');
      },
    });
    const results = await settle(sut, ['a', 'b', 'c']);
    expect(statuses(results)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(reasons(results)[2]).toBeInstanceOf(CommitOutcomeUnknownError);
    expect(verified).toEqual([['a', 'b', 'c']]);
  });

  it('leaves every job unknown when verify itself fails', async () => {
    const writer = fakeWriter(() => pgTerminated());
    const sut = new GroupCommit(writer.writeBatch, {
      verify: async () => {
        throw new Error('still down');
      },
    });
    const results = await settle(sut, ['a', 'b']);
    expect(reasons(results).every((r) => r instanceof CommitOutcomeUnknownError)).toBe(true);
  });

  it('reports a lost connection during a one-by-one retry as unknown for that job only', async () => {
    const writer = fakeWriter((jobs, call) => (call === 1 ? sqliteUnique() : call === 2 ? pgTerminated() : null));
    const results = await settle(new GroupCommit(writer.writeBatch), ['a', 'b']);
    expect(reasons(results)[0]).toBeInstanceOf(CommitOutcomeUnknownError);
    expect(reasons(results)[1]).not.toBeInstanceOf(CommitOutcomeUnknownError);
    expect(statuses(results)).toEqual(['rejected', 'rejected']);
  });

  it('refuses submissions past maxQueued with an error answered as 503 + Retry-After, and takes new ones once drained', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const written: string[][] = [];
    const sut = new GroupCommit<string>(
      async (jobs) => {
        written.push(jobs);
        await gate;
      },
      { maxQueued: 2 },
    );
    const first = sut.submit('in-flight');
    await new Promise((resolve) => setImmediate(resolve)); // the first batch is now being written
    const queued = [sut.submit('q1'), sut.submit('q2')];
    const refused = sut.submit('q3');
    await expect(refused).rejects.toBeInstanceOf(GroupCommitOverloadedError);
    const { body, headers } = new AllExceptionsFilter().toBody(await refused.catch((e: unknown) => e));
    expect(body.statusCode).toBe(HttpStatus.SERVICE_UNAVAILABLE);
    expect(body.message).toMatch(/busy/);
    expect(headers['Retry-After']).toBe('1');
    release();
    await Promise.all([first, ...queued]);
    await sut.submit('after');
    expect(written).toEqual([['in-flight'], ['q1', 'q2'], ['after']]);
  });

  it('a single-job batch that fails on a constraint is not written twice', async () => {
    const writer = fakeWriter(() => sqliteUnique());
    const results = await settle(new GroupCommit(writer.writeBatch), ['only']);
    expect(statuses(results)).toEqual(['rejected']);
    expect(writer.calls).toEqual([['only']]);
  });
});
