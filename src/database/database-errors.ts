/**
 * Which errors mean "the database is unavailable or busy right now" rather than "this request is wrong" or "a bug",
 * and whether the failed statement may still have taken effect: the requests they fail answer 503 with Retry-After,
 * or 504 when a write may have been stored (AllExceptionsFilter), instead of a bare 500, and the log says which,
 * never the statement or its parameters.
 */

/** Node's codes for a connection that could not be made or was lost. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

/**
 * PostgreSQL's SQLSTATEs of a server that cannot serve now: a connection exception (class 08), insufficient resources
 * (53: disk full, out of memory, too many connections), a server shutting down or starting (57P01-57P03), a statement
 * cancelled by the server's `statement_timeout` (57014), a read-only standby after a failover (25006), and the
 * conflicts that a retry resolves (serialization failure, deadlock, lock not available).
 */
const POSTGRES_UNAVAILABLE = /^(08|53)[0-9A-Z]{3}$|^(57P01|57P02|57P03|57014|25006|40001|40P01|55P03)$/;

/** SQLite's (better-sqlite3) result codes of a file locked too long, full, unreadable or read-only. */
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN|NOMEM|PROTOCOL)(_[A-Z_]+)?$/;

/** pg's messages for a client whose connection is gone or could not be made (they carry no code). */
const PG_CONNECTION_MESSAGES = [
  /^Connection terminated\b/,
  /^Client was closed and is not queryable$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^timeout exceeded when trying to connect$/,
];

/** A PostgreSQL query left unanswered past its QueryTimeout: its connection was closed (the server may have run it). */
export class DatabaseQueryTimeoutError extends Error {
  readonly code = 'DATABASE_QUERY_TIMEOUT';

  constructor(
    readonly timeoutMs: number,
    cause: unknown,
  ) {
    super(`PostgreSQL did not answer a query within ${timeoutMs} ms; its connection was closed`, { cause });
    this.name = 'DatabaseQueryTimeoutError';
  }
}

/**
 * The connection dropped after the statement may have reached the database: it may have committed or not.
 * Callers must check (e.g. look the row up by its id) rather than assume it failed or retry blindly.
 */
export class CommitOutcomeUnknownError extends Error {
  constructor(cause: unknown) {
    super(`The write's outcome is unknown (connection lost while committing): ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'CommitOutcomeUnknownError';
  }
}

/** Node's codes for a connection lost once a statement may have been sent (not "could not connect"), and ours. */
const ANSWER_LOST_CODES = new Set(['DATABASE_QUERY_TIMEOUT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);
/** SQLSTATEs meaning the session ended under the statement (a crash may end it after its commit was written). */
const ANSWER_LOST_SQLSTATES = new Set(['08000', '08003', '08006', '08007', '57P01', '57P02']);
const ANSWER_LOST_MESSAGES = /connection terminated|terminating connection|server closed the connection|query read timeout/i;

/**
 * The connection was lost while a statement was in flight: it reached the server, or may have, and its answer never
 * came, so it may have run. TypeORM's QueryFailedError carries the driver's `code`, and its original in `driverError`.
 */
export function isAnswerLost(error: unknown): boolean {
  for (const e of errorChain(error)) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (ANSWER_LOST_CODES.has(code) || ANSWER_LOST_SQLSTATES.has(code)) return true;
    if (typeof e.message === 'string' && ANSWER_LOST_MESSAGES.test(e.message)) return true;
  }
  return false;
}

/** Statements that store nothing by themselves (reads, and the steps of a transaction before its COMMIT). */
const STORES_NOTHING = /^\s*(SELECT|BEGIN|START|SET|SHOW|ROLLBACK|SAVEPOINT|RELEASE)\b/i;

/**
 * Whether a statement whose answer was lost may have been stored: a COMMIT, or a write (anything but a read or a
 * step of a transaction; an unknown statement counts as a write) sent outside a transaction. A write inside a
 * transaction is rolled back with the lost connection. BoundedPgClient, which knows the statement and whether a
 * transaction was open, marks such an error `mayHaveStored` (TypeORM's QueryFailedError copies the mark).
 */
export function lostAnswerMayHaveStored(statement: string, inTransaction: boolean): boolean {
  if (/^\s*COMMIT\b/i.test(statement)) return true;
  return !inTransaction && !STORES_NOTHING.test(statement);
}

/**
 * A failed statement that may have been stored: marked so by BoundedPgClient, or a group commit that could not tell
 * (CommitOutcomeUnknownError). Unmarked errors stored nothing: reads, writes inside a transaction, SQLite's (its
 * driver runs in the process: no answer can be lost), a connection that could not be opened.
 */
function mayHaveStored(error: unknown): boolean {
  for (const e of errorChain(error)) if (e instanceof CommitOutcomeUnknownError || e.mayHaveStored === true) return true;
  return false;
}

export interface DatabaseUnavailability {
  /** `DATABASE_QUERY_TIMEOUT`, `ECONNREFUSED`, `SQLSTATE 57P01`, `SQLITE_BUSY`, `connection lost`…: a code, never text. */
  reason: string;
  /** The failed statement writes (or commits) and its answer was lost: it may have been stored. */
  mayHaveStored: boolean;
}

/**
 * Whether `error` means the database is unavailable or busy, and why; undefined for any other error. Looks
 * through TypeORM's QueryFailedError (`driverError`) and `cause` chains.
 */
export function databaseUnavailability(error: unknown): DatabaseUnavailability | undefined {
  const stored = mayHaveStored(error);
  const reason = databaseUnavailableReason(error) ?? (stored ? 'connection lost' : undefined);
  return reason ? { reason, mayHaveStored: stored } : undefined;
}

/**
 * What a look-up after a failed write finds (another call's row, or this call's own when the write's answer was lost),
 * else the write's error. When the look-up fails too, the write's error still wins if it says the row may have been
 * stored (a 504), not the look-up's "nothing was stored" (a 503): a client told 503 retries, and would write twice.
 */
export async function foundAfterFailedWrite<T>(writeError: unknown, lookUp: () => Promise<T | null>): Promise<T> {
  let found: T | null;
  try {
    found = await lookUp();
  } catch (lookupError) {
    throw databaseUnavailability(writeError)?.mayHaveStored ? writeError : lookupError;
  }
  if (found === null) throw writeError;
  return found;
}

/** What `unlessUnavailable` answers for a read the database could not serve. */
export const UNAVAILABLE = Symbol('database unavailable');

/** For a read whose failure must not fail the answer: the database unavailable or busy is UNAVAILABLE; else rethrown. */
export function unlessUnavailable(error: unknown): typeof UNAVAILABLE {
  if (databaseUnavailability(error)) return UNAVAILABLE;
  throw error;
}

/** The reason part of databaseUnavailability. */
export function databaseUnavailableReason(error: unknown): string | undefined {
  for (const candidate of errorChain(error)) {
    const code = typeof candidate.code === 'string' ? candidate.code : undefined;
    if (code === 'DATABASE_QUERY_TIMEOUT' || (code && NETWORK_CODES.has(code)) || (code && SQLITE_UNAVAILABLE.test(code))) return code;
    if (code && POSTGRES_UNAVAILABLE.test(code)) return `SQLSTATE ${code}`;
    const message = typeof candidate.message === 'string' ? candidate.message : '';
    // pg's client when opening a connection took longer than its connectionTimeoutMillis (PG_CONNECT_TIMEOUT_MS).
    if (!code && (message === 'timeout expired' || /^Connection terminated due to connection timeout/.test(message)))
      return 'connect timeout';
    if (PG_CONNECTION_MESSAGES.some((pattern) => pattern.test(message))) return 'connection lost';
    // Node 20's happy-eyeballs error: every address refused, the codes in `errors`.
    const inner = candidate.errors;
    if (Array.isArray(inner) && inner.length > 0) {
      const reasons = inner.map(databaseUnavailableReason);
      if (reasons.every(Boolean)) return reasons[0];
    }
  }
  return undefined;
}

/** What the chain walkers read of an error. */
interface ChainLink {
  code?: unknown;
  message?: unknown;
  mayHaveStored?: unknown;
  errors?: unknown;
}

/**
 * `error`, then what it wraps: TypeORM's QueryFailedError its `driverError`, anything else its `cause` (a cycle ends
 * the walk).
 */
export function* errorChain(error: unknown): Generator<ChainLink> {
  const seen = new Set<unknown>();
  for (let e: unknown = error; e && typeof e === 'object' && !seen.has(e);) {
    seen.add(e);
    yield e as ChainLink;
    const link = e as { driverError?: unknown; cause?: unknown };
    e = link.driverError ?? link.cause;
  }
}
