import { QueryFailedError } from 'typeorm';
import { DatabaseQueryTimeoutError } from './data-source.js';
import { CommitOutcomeUnknownError, databaseUnavailability, databaseUnavailableReason } from './database-errors.js';

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

describe('databaseUnavailability', () => {
  const timeout = () => new DatabaseQueryTimeoutError(30_000, new Error('Connection terminated unexpectedly'));
  const failed = (statement: string, cause: Error) => new QueryFailedError(statement, [], cause);

  it.each([
    ['an INSERT whose answer was lost', failed('INSERT INTO "sms_messages" ("id") VALUES ($1)', timeout()), true],
    ['an UPDATE on a lost connection', failed('UPDATE "users" SET "email" = $1', new Error('Connection terminated unexpectedly')), true],
    ['a COMMIT whose answer was lost', failed('COMMIT', withCode('ECONNRESET')), true],
    [
      'a WITH … INSERT whose answer was lost',
      failed('WITH u AS (UPDATE x SET y = 1 RETURNING id) INSERT INTO a SELECT * FROM u', timeout()),
      true,
    ],
    ['a COMMIT inside its transaction whose answer was lost', failed('COMMIT', Object.assign(timeout(), { inTransaction: true })), true],
    [
      'an INSERT PostgreSQL was terminated under (it may have crashed after the commit)',
      failed('INSERT INTO x VALUES (1)', withCode('57P02')),
      true,
    ],
    ['a group commit that could not tell', new CommitOutcomeUnknownError(failed('INSERT INTO x VALUES (1)', timeout())), true],
    [
      'a group commit that could not tell, whatever the cause',
      new CommitOutcomeUnknownError(new Error('server closed the connection')),
      true,
    ],
    [
      'an INSERT inside a transaction whose answer was lost (rolled back with it)',
      failed('INSERT INTO x VALUES (1)', Object.assign(timeout(), { inTransaction: true })),
      false,
    ],
    ['a lost answer with no statement (the connection was being opened)', new Error('Connection terminated unexpectedly'), false],
    ['a SELECT whose answer was lost', failed('SELECT "id" FROM "users" WHERE "id" IN ($1)', timeout()), false],
    ['a step of a transaction before its COMMIT', failed('  begin', timeout()), false],
    ['an INSERT refused before it ran (connection refused)', failed('INSERT INTO x VALUES (1)', withCode('ECONNREFUSED')), false],
    ['an INSERT cancelled by the server (statement_timeout)', failed('INSERT INTO x VALUES (1)', withCode('57014')), false],
    ['an INSERT SQLite could not lock', failed('INSERT INTO x VALUES (1)', withCode('SQLITE_BUSY')), false],
    ['a connection that could not be opened in time', new Error('timeout expired'), false],
  ])('%s: mayHaveStored %s', (_name, error, mayHaveStored) => {
    expect(databaseUnavailability(error)?.mayHaveStored).toBe(mayHaveStored);
  });

  it("names the reason of a group commit's unknown outcome, a code even when its cause has none", () => {
    expect(databaseUnavailability(new CommitOutcomeUnknownError(failed('INSERT INTO x VALUES (1)', timeout())))).toEqual({
      reason: 'DATABASE_QUERY_TIMEOUT',
      mayHaveStored: true,
    });
    expect(databaseUnavailability(new CommitOutcomeUnknownError(new Error('server closed the connection')))).toEqual({
      reason: 'connection lost',
      mayHaveStored: true,
    });
  });

  it('is undefined for errors that are not the database being unavailable', () => {
    expect(databaseUnavailability(failed('INSERT INTO x VALUES (1)', withCode('23505')))).toBeUndefined();
  });
});
