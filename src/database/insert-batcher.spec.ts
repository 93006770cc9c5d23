import type { Repository } from 'typeorm';
import { CommitOutcomeUnknownError } from './database-errors.js';
import { GroupCommitOverloadedError } from './group-commit.js';
import { InsertBatcher } from './insert-batcher.js';

interface Row {
  id: string;
}

/** A repository (one `id` column) that records each INSERT's ids and fails on demand. */
function fakeRepository(failWhen: (ids: string[]) => Error | null, committedAnyway: string[] = []) {
  const statements: { id: string }[][] = [];
  const lookups: string[][] = [];
  const column = { isInsert: true, databaseName: 'id', getEntityValue: (row: Row) => row.id };
  const repository = {
    metadata: { tableName: 'rows', columns: [column], primaryColumns: [column] },
    manager: {
      connection: {
        driver: { options: { type: 'better-sqlite3' }, escape: (n: string) => `"${n}"`, preparePersistentValue: (v: unknown) => v },
      },
    },
    query: async (sql: string, params: string[]) => {
      if (sql.startsWith('SELECT')) {
        expect(sql).toBe(`SELECT "id" AS id FROM "rows" WHERE "id" IN (${params.map(() => '?').join(', ')})`);
        lookups.push(params);
        return params.filter((id) => committedAnyway.includes(id)).map((id) => ({ id }));
      }
      expect(sql).toBe(`INSERT INTO "rows" ("id") VALUES ${params.map(() => '(?)').join(', ')}`);
      const error = failWhen(params);
      if (error) throw error;
      statements.push(params.map((id) => ({ id })));
    },
  } as unknown as Repository<Row>;
  return { repository, statements, lookups };
}

describe(InsertBatcher.name, () => {
  it('writes rows handed in together with one INSERT and settles each caller after it', async () => {
    const { repository, statements } = fakeRepository(() => null);
    const sut = new InsertBatcher<Row>(repository);

    await Promise.all(['a', 'b', 'c'].map((id) => sut.insert({ id })));

    expect(statements).toEqual([[{ id: 'a' }, { id: 'b' }, { id: 'c' }]]);
  });

  it('retries a failed batch row by row, so a bad row fails only its own caller', async () => {
    const { repository, statements } = fakeRepository((ids) =>
      ids.includes('bad') ? Object.assign(new Error('UNIQUE constraint failed'), { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }) : null,
    );
    const sut = new InsertBatcher<Row>(repository);

    const results = await Promise.allSettled(['a', 'bad', 'c'].map((id) => sut.insert({ id })));

    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(statements).toEqual([[{ id: 'a' }], [{ id: 'c' }]]);
  });

  it('after a lost connection, looks the rows up: a committed row succeeds, a missing one is reported unknown', async () => {
    const lost = Object.assign(new Error('Connection terminated unexpectedly'), {});
    const { repository, lookups } = fakeRepository(() => lost, ['a']);
    const sut = new InsertBatcher<Row>(repository);

    const results = await Promise.allSettled(['a', 'b'].map((id) => sut.insert({ id })));

    expect(results[0].status).toBe('fulfilled');
    expect(results[1].status === 'rejected' && results[1].reason).toBeInstanceOf(CommitOutcomeUnknownError);
    expect(lookups).toEqual([['a', 'b']]);
  });

  it('refuses rows past maxQueued with GroupCommitOverloadedError', async () => {
    const { repository } = fakeRepository(() => null);
    const sut = new InsertBatcher<Row>(repository, { maxQueued: 1 });

    const first = sut.insert({ id: 'a' });
    await expect(sut.insert({ id: 'b' })).rejects.toBeInstanceOf(GroupCommitOverloadedError);
    await first;
  });

  it('starts the next batch with rows that arrived while one was being written', async () => {
    const { repository, statements } = fakeRepository(() => null);
    const sut = new InsertBatcher<Row>(repository);

    const first = sut.insert({ id: 'a' });
    await new Promise((resolve) => setImmediate(resolve));
    const second = sut.insert({ id: 'b' });
    await Promise.all([first, second]);

    expect(statements.flat()).toEqual([{ id: 'a' }, { id: 'b' }]);
  });
});
