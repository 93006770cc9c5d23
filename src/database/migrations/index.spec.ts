import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MIGRATIONS } from './index.js';

describe('MIGRATIONS', () => {
  // The app and the TypeORM CLI run this list only: a migration file missing from it would never run.
  it('lists every migration file of the folder once, oldest first', async () => {
    const folder = fileURLToPath(new URL('.', import.meta.url));
    const files = readdirSync(folder).filter((f) => /^\d{13}-.+\.ts$/.test(f) && !f.endsWith('.spec.ts'));
    const exported = await Promise.all(
      files.map(async (f) => Object.values((await import(`./${f.replace(/\.ts$/, '.js')}`)) as Record<string, unknown>)),
    );
    const classes = exported.flat().filter((v): v is new () => unknown => typeof v === 'function');
    expect(classes).toHaveLength(files.length);
    expect(new Set(MIGRATIONS)).toEqual(new Set(classes));
    expect(MIGRATIONS).toHaveLength(classes.length);
    const stamps = MIGRATIONS.map((m) => Number(/(\d{13})$/.exec(m.name)?.[1]));
    expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
  });
});
