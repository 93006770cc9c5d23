import { QueryFailedError } from 'typeorm';
import {
  CommitOutcomeUnknownError,
  DatabaseQueryTimeoutError,
  databaseUnavailability,
  databaseUnavailableReason,
  foundAfterFailedWrite,
  lostAnswerMayHaveStored,
  UNAVAILABLE,
  unlessUnavailable,
} from './database-errors.js';

const withCode = (code: string, message = 'boom') => Object.assign(new Error(message), { code });

describe('databaseUnavailableReason', () => {
  it.each([
    [new DatabaseQueryTimeoutError(30_000, new Error('Connection terminated unexpectedly')), 'DATABASE_QUERY_TIMEOUT'],
    [withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'), 'ECONNREFUSED'],
    [withCode('ECONNRESET'), 'ECONNRESET'],
    [new Error('Connection terminated unexpectedly'), 'connection lost'],
    [new Error('Connection terminated due to connection timeout'), 'connect timeout'],
    [new Error('timeout expired'), 'connect timeout'],
    [new Error('Client has encountered a connection error and is not queryable'), 'connection lost'],
    [withCode('57P01', 'terminating connection due to administrator command'), 'SQLSTATE 57P01'],
    [withCode('08006'), 'SQLSTATE 08006'],
    [withCode('53300', 'sorry, too many clients already'), 'SQLSTATE 53300'],
    [withCode('25006', 'cannot execute INSERT in a read-only transaction'), 'SQLSTATE 25006'],
    [withCode('SQLITE_BUSY', 'database is locked'), 'SQLITE_BUSY'],
    [withCode('SQLITE_FULL', 'database or disk is full'), 'SQLITE_FULL'],
    [withCode('SQLITE_IOERR_WRITE'), 'SQLITE_IOERR_WRITE'],
    [Object.assign(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')], ''), { code: undefined }), 'ECONNREFUSED'],
  ])('names %s as unavailable (%s)', (error, reason) => {
    expect(databaseUnavailableReason(error)).toBe(reason);
  });

  it("looks into TypeORM's QueryFailedError and cause chains, and answers only the code (never the statement)", () => {
    const wrapped = new QueryFailedError('INSERT INTO users (email) VALUES ($1)', ['someone@example.test'], withCode('SQLITE_BUSY'));
    expect(databaseUnavailableReason(wrapped)).toBe('SQLITE_BUSY');
    expect(databaseUnavailableReason(new Error('outer', { cause: withCode('57P03') }))).toBe('SQLSTATE 57P03');
  });

  it.each([
    ['a constraint violation', new QueryFailedError('INSERT …', [], withCode('23505', 'duplicate key value'))],
    ['a syntax error', withCode('42601')],
    ['a SQLite constraint', withCode('SQLITE_CONSTRAINT_UNIQUE')],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a Twilio-like numeric code', Object.assign(new Error('Invalid number'), { code: 21211 })],
    ['a partly refused aggregate', new AggregateError([withCode('ECONNREFUSED'), new Error('other')], '')],
    ['not an error', 'ECONNREFUSED'],
  ])('leaves %s alone', (_name, error) => {
    expect(databaseUnavailableReason(error)).toBeUndefined();
  });

  it('stops on a cause cycle', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(databaseUnavailableReason(a)).toBeUndefined();
  });
});

describe('lostAnswerMayHaveStored', () => {
  it.each([
    ['INSERT INTO "sms_messages" ("id") VALUES ($1)', false, true],
    ['UPDATE "users" SET "email" = $1', false, true],
    ['DELETE FROM "audit_logs" WHERE "id" = $1', false, true],
    ['WITH u AS (UPDATE x SET y = 1 RETURNING id) INSERT INTO a SELECT * FROM u', false, true],
    ['COMMIT', true, true],
    ['commit', false, true],
    ['', false, true],
    ['INSERT INTO x VALUES (1)', true, false],
    ['SELECT "id" FROM "users" WHERE "id" IN ($1)', false, false],
    ['  begin', false, false],
    ['START TRANSACTION', false, false],
    ['ROLLBACK', true, false],
    ['RELEASE SAVEPOINT typeorm_1', true, false],
  ])('%j (in a transaction: %s) may have been stored: %s', (statement, inTransaction, stored) => {
    expect(lostAnswerMayHaveStored(statement, inTransaction)).toBe(stored);
  });
});

describe('databaseUnavailability', () => {
  const timeout = () => new DatabaseQueryTimeoutError(30_000, new Error('Connection terminated unexpectedly'));
  const marked = <E extends Error>(error: E) => Object.assign(error, { mayHaveStored: true });

  it.each([
    ['a lost answer marked by the client', marked(timeout()), true],
    ["TypeORM's QueryFailedError of a marked error (it copies the mark)", new QueryFailedError('INSERT …', [], marked(timeout())), true],
    ['a group commit that could not tell', new CommitOutcomeUnknownError(new QueryFailedError('INSERT …', [], timeout())), true],
    ['an unmarked lost answer (a read, a write inside a transaction)', new QueryFailedError('INSERT …', [], timeout()), false],
    ['a connection refused', withCode('ECONNREFUSED'), false],
    ['SQLite locked', withCode('SQLITE_BUSY'), false],
  ])('%s: mayHaveStored %s', (_name, error, mayHaveStored) => {
    expect(databaseUnavailability(error)?.mayHaveStored).toBe(mayHaveStored);
  });

  it("names the reason of a group commit's unknown outcome, a code even when its cause has none", () => {
    expect(databaseUnavailability(new CommitOutcomeUnknownError(new QueryFailedError('INSERT …', [], timeout())))).toEqual({
      reason: 'DATABASE_QUERY_TIMEOUT',
      mayHaveStored: true,
    });
    expect(databaseUnavailability(new CommitOutcomeUnknownError(new Error('server closed the connection')))).toEqual({
      reason: 'connection lost',
      mayHaveStored: true,
    });
  });

  it('is undefined for errors that are not the database being unavailable', () => {
    expect(databaseUnavailability(new QueryFailedError('INSERT INTO x VALUES (1)', [], withCode('23505')))).toBeUndefined();
  });
});

describe('foundAfterFailedWrite', () => {
  const lost = () => new CommitOutcomeUnknownError(new QueryFailedError('COMMIT', [], withCode('ECONNRESET')));
  const refused = () => withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432');

  it("answers what the look-up finds: another call's row, or this call's own whose answer was lost", async () => {
    await expect(foundAfterFailedWrite(lost(), async () => 'row')).resolves.toBe('row');
    await expect(foundAfterFailedWrite(withCode('SQLITE_CONSTRAINT_UNIQUE'), async () => 'row')).resolves.toBe('row');
  });

  it("throws the write's error when the look-up finds nothing", async () => {
    const error = withCode('SQLITE_CONSTRAINT_UNIQUE');
    await expect(foundAfterFailedWrite(error, async () => null)).rejects.toBe(error);
  });

  it('keeps a write that may have been stored (504) when the look-up fails too, not the look-up\'s "nothing was stored" (503)', async () => {
    const write = lost();
    await expect(
      foundAfterFailedWrite(write, async () => {
        throw refused();
      }),
    ).rejects.toBe(write);
    // A write that surely stored nothing: the look-up's own error says why.
    const lookUp = refused();
    await expect(
      foundAfterFailedWrite(withCode('SQLITE_CONSTRAINT_UNIQUE'), async () => {
        throw lookUp;
      }),
    ).rejects.toBe(lookUp);
  });
});

describe('unlessUnavailable', () => {
  it('turns the database unavailable into UNAVAILABLE and rethrows anything else', () => {
    expect(unlessUnavailable(withCode('ECONNREFUSED'))).toBe(UNAVAILABLE);
    const bug = new TypeError('x is undefined');
    expect(() => unlessUnavailable(bug)).toThrow(bug);
  });
});
