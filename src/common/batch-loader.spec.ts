import { BatchLoader } from './batch-loader.js';

describe(BatchLoader.name, () => {
  it('loads keys asked for together in one call, once per distinct key', async () => {
    const loadMany = vi.fn(async (keys: string[]) => new Map(keys.map((k) => [k, k.toUpperCase()])));
    const sut = new BatchLoader(loadMany);

    const values = await Promise.all(['a', 'b', 'a'].map((k) => sut.load(k)));

    expect(values).toEqual(['A', 'B', 'A']);
    expect(loadMany).toHaveBeenCalledTimes(1);
    expect(loadMany).toHaveBeenCalledWith(['a', 'b']);
  });

  it('answers null for a key that was not found, and does not cache between turns', async () => {
    const loadMany = vi.fn(async () => new Map<string, string>());
    const sut = new BatchLoader(loadMany);

    expect(await sut.load('x')).toBeNull();
    expect(await sut.load('x')).toBeNull();
    expect(loadMany).toHaveBeenCalledTimes(2);
  });

  it('rejects every waiter of a batch whose load failed', async () => {
    const sut = new BatchLoader<string, string>(async () => {
      throw new Error('db down');
    });

    await expect(Promise.all([sut.load('a'), sut.load('b')])).rejects.toThrow('db down');
  });
});
