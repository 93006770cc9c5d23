import type { Repository } from 'typeorm';
import { InsertBatcher } from './insert-batcher.js';

interface Row {
  id: string;
}

/** A repository whose query builder records each INSERT's rows and fails on demand. */
function fakeRepository(failWhen: (rows: Row[]) => boolean) {
  const statements: Row[][] = [];
  const builder = {
    insert: () => builder,
    into: () => builder,
    values: (rows: Row[]) => {
      builder.rows = rows;
      return builder;
    },
    updateEntity: () => builder,
    rows: [] as Row[],
    execute: async () => {
      if (failWhen(builder.rows)) throw new Error('constraint failed');
      statements.push(builder.rows);
    },
  };
  const repository = { target: 'rows', manager: { createQueryBuilder: () => builder } } as unknown as Repository<Row>;
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
    const { repository, statements } = fakeRepository((rows) => rows.some((r) => r.id === 'bad'));
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
