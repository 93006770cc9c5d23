import type { Repository } from 'typeorm';
import { InsertBatcher } from './insert-batcher.js';

interface Row {
  id: string;
}

/** A repository (one `id` column) that records each INSERT's ids and fails on demand. */
function fakeRepository(failWhen: (ids: string[]) => boolean) {
  const statements: { id: string }[][] = [];
  const column = { isInsert: true, databaseName: 'id', getEntityValue: (row: Row) => row.id };
  const repository = {
    metadata: { tableName: 'rows', columns: [column] },
    manager: {
      connection: {
        driver: { options: { type: 'better-sqlite3' }, escape: (n: string) => `"${n}"`, preparePersistentValue: (v: unknown) => v },
      },
    },
    query: async (sql: string, params: string[]) => {
      expect(sql).toBe(`INSERT INTO "rows" ("id") VALUES ${params.map(() => '(?)').join(', ')}`);
      if (failWhen(params)) throw new Error('constraint failed');
      statements.push(params.map((id) => ({ id })));
    },
  } as unknown as Repository<Row>;
  return { repository, statements };
}

describe(InsertBatcher.name, () => {
  it('writes rows handed in together with one INSERT and settles each caller after it', async () => {
    const { repository, statements } = fakeRepository(() => false);
    const sut = new InsertBatcher<Row>(repository);

    await Promise.all(['a', 'b', 'c'].map((id) => sut.insert({ id })));

    expect(statements).toEqual([[{ id: 'a' }, { id: 'b' }, { id: 'c' }]]);
  });

  it('retries a failed batch row by row, so a bad row fails only its own caller', async () => {
    const { repository, statements } = fakeRepository((ids) => ids.includes('bad'));
    const sut = new InsertBatcher<Row>(repository);

    const results = await Promise.allSettled(['a', 'bad', 'c'].map((id) => sut.insert({ id })));

    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(statements).toEqual([[{ id: 'a' }], [{ id: 'c' }]]);
  });

  it('starts the next batch with rows that arrived while one was being written', async () => {
    const { repository, statements } = fakeRepository(() => false);
    const sut = new InsertBatcher<Row>(repository);

    const first = sut.insert({ id: 'a' });
    await new Promise((resolve) => setImmediate(resolve));
    const second = sut.insert({ id: 'b' });
    await Promise.all([first, second]);

    expect(statements.flat()).toEqual([{ id: 'a' }, { id: 'b' }]);
  });
});
