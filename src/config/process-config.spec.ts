import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFromProcess } from './process-config.js';

describe(loadConfigFromProcess.name, () => {
  const cwd = process.cwd();
  beforeEach(() => {
    const dir = mkdtempSync(join(tmpdir(), 'env-'));
    writeFileSync(join(dir, '.env'), 'BODY_LIMIT_BYTES=2048\nDEFAULT_COUNTRY=BE\n');
    process.chdir(dir);
  });
  afterEach(() => {
    process.chdir(cwd);
    delete process.env.DEFAULT_COUNTRY;
  });

  it('reads .env without copying it into process.env', () => {
    const sut = loadConfigFromProcess();
    expect(sut.bodyLimitBytes).toBe(2048);
    expect(process.env.BODY_LIMIT_BYTES).toBeUndefined();
  });

  it('lets the environment win over .env, and overrides win over both', () => {
    process.env.DEFAULT_COUNTRY = 'CH';
    expect(loadConfigFromProcess().defaultCountry).toBe('CH');
    expect(loadConfigFromProcess({ overrides: { DEFAULT_COUNTRY: 'LU' } }).defaultCountry).toBe('LU');
  });

  it('skips .env when asked', () => {
    expect(loadConfigFromProcess({ ignoreEnvFile: true }).bodyLimitBytes).toBe(1024 * 1024);
  });
});
