import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type EntityManager } from 'typeorm';
import { Atomic } from './atomic.js';
import { installSqliteGate, runTransaction } from './transactions.js';

/** SQLite behaviour of runTransaction: what TypeORM's shared better-sqlite3 runner gets wrong alone. */
describe('runTransaction on SQLite', () => {
  let dir: string;
  let db: DataSource;
  let other: DataSource;
  const rows = async () => ((await db.query('SELECT name FROM t ORDER BY name')) as { name: string }[]).map((r) => r.name);
  const insert = (name: string, source: DataSource | EntityManager = db) => source.query('INSERT INTO t (name) VALUES (?)', [name]);
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tx-'));
    const options = {
      type: 'better-sqlite3' as const,
      database: join(dir, 'db.sqlite'),
      prepareDatabase: (sqlite: { pragma(sql: string): unknown }) => {
        sqlite.pragma('journal_mode = WAL');
        sqlite.pragma('busy_timeout = 2000');
      },
    };
    db = await new DataSource(options).initialize();
    // A second app instance in this process: its database is gated at boot.
    other = await new DataSource(options).initialize();
    installSqliteGate(other);
    await db.query('CREATE TABLE t (name TEXT PRIMARY KEY)');
  });
  afterEach(async () => {
    await db.destroy();
    await other.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Starts `outside` (another request's write, named `name`) once an async transaction has written, then rolls
   * the transaction back: only the outside write may remain, so it did not join the transaction.
   */
  async function writeDuringRolledBackTransaction(outside: () => Promise<unknown>, name: string): Promise<void> {
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const written = open.then(outside);
    const transaction = runTransaction(db, async (manager) => {
      await insert('inside', manager);
      opened();
      await nextTurn();
      throw new Error('rolled back');
    });
    await expect(transaction).rejects.toThrow('rolled back');
    await written;
    expect(await rows()).toEqual([name]);
  }

  it('keeps a statement issued from outside while a transaction is open out of it (it waits for the end)', async () => {
    await writeDuringRolledBackTransaction(() => insert('outside'), 'outside');
  });

  it("keeps Atomic's synchronous transactions out of an open async one (they wait for its end)", async () => {
    const atomic = new Atomic(db);
    await writeDuringRolledBackTransaction(
      () =>
        atomic.run(function* () {
          yield { sql: 'INSERT INTO t (name) VALUES (?)', params: ['atomic'] };
        }),
      'atomic',
    );
  });

  it('runs concurrent transactions one after the other instead of nesting them', async () => {
    await Promise.all([
      runTransaction(db, async (manager) => {
        await insert('a1', manager);
        await nextTurn();
        await insert('a2', manager);
      }),
      runTransaction(db, async (manager) => {
        await insert('b1', manager);
        throw new Error('rolled back');
      }).catch(() => undefined),
      runTransaction(db, (manager) => insert('c1', manager)),
    ]);
    expect(await rows()).toEqual(['a1', 'a2', 'c1']);
  });

  it('does not stall the event loop when a second connection in the process writes during a transaction', async () => {
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const started = Date.now();
    await Promise.all([
      open.then(() => insert('other connection', other)),
      runTransaction(db, async (manager) => {
        await insert('tx', manager);
        opened();
        await nextTurn();
      }),
    ]);
    expect((await rows()).sort()).toEqual(['other connection', 'tx']);
    // Without the gate the second connection waits synchronously for busy_timeout, then fails.
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
