import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { JwtService } from '@nestjs/jwt';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { vi } from 'vitest';
import { createApp } from '../src/app.factory.js';
import { AppConfig } from '../src/config/app-config.js';
import { validateEnvironment } from '../src/config/env.validation.js';
import { loadConfigFromProcess } from '../src/config/process-config.js';
import { MIGRATIONS } from '../src/database/migrations/index.js';
import { createTestDatabase } from './support/databases.js';
import { freePort } from './support/free-port.js';
import { baseEnvironment, ROOT_EMAIL, ROOT_PASSWORD } from './support/test-app.js';

// The real validation, counted: the environment must be validated once per boot.
vi.mock('../src/config/env.validation.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/config/env.validation.js')>();
  return { ...original, validateEnvironment: vi.fn(original.validateEnvironment) };
});

const root = new URL('..', import.meta.url).pathname;

/** Runs the built service with this environment and returns what it printed and its exit code. */
function boot(env: Record<string, string>) {
  const result = spawnSync(process.execPath, ['dist/main.js'], {
    cwd: root,
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

describe('Booting the built service', () => {
  beforeAll(() => {
    // The real entry point, as `npm run start:prod` runs it.
    execFileSync('npx', ['nest', 'build'], { cwd: root, stdio: 'pipe' });
    expect(existsSync(join(root, 'dist/main.js'))).toBe(true);
  }, 180_000);

  const dir = mkdtempSync(join(tmpdir(), 'sms-boot-'));
  const env = { ...baseEnvironment(`sqlite:${join(dir, 'boot.sqlite')}`), PORT: '0' };

  it.each([
    ['TWILIO_ACCOUNT_SID', 'AC123', 'TWILIO_ACCOUNT_SID must be "AC" followed by 32 hexadecimal characters'],
    ['JWT_SECRET', 'short', 'JWT_SECRET must be at least 32 characters long'],
    ['DATABASE_URL', 'mysql://nope', 'DATABASE_URL must be sqlite:'],
    ['DEFAULT_TIMEZONE', 'Nowhere/City', 'DEFAULT_TIMEZONE must be an IANA time zone'],
    ['PORT', 'eighty', 'PORT'],
  ])('stops on a bad %s with one line naming it, no stack trace', (name, value, expected) => {
    const result = boot({ ...env, [name]: value });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(expected);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('stops in production without JWT_SECRET, ADMIN_* and Twilio credentials', () => {
    const result = boot({ ...env, NODE_ENV: 'production', JWT_SECRET: '', ADMIN_EMAIL: '', ADMIN_PASSWORD: '' });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/JWT_SECRET is required in production.*ADMIN_EMAIL.*TWILIO_ACCOUNT_SID/);
  });

  it('starts two processes together on one new SQLite file: both serve, each migration recorded once', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sms-boot-race-')), 'shared.sqlite');
    const ports = [3918, 3919];
    const children = ports.map((port) =>
      spawn(process.execPath, ['dist/main.js'], {
        cwd: root,
        env: { PATH: process.env.PATH, ...baseEnvironment(`sqlite:${file}`), PORT: String(port) },
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
    const errors = children.map(() => '');
    children.forEach((child, i) => child.stderr!.on('data', (d) => (errors[i] += d)));
    try {
      await vi.waitFor(
        async () => {
          for (const [i, port] of ports.entries()) {
            expect(children[i].exitCode, errors[i]).toBeNull();
            expect((await fetch(`http://127.0.0.1:${port}/api/health`)).status).toBe(200);
          }
        },
        { timeout: 40_000, interval: 250 },
      );
      const dataSource = await new DataSource({ type: 'better-sqlite3', database: file }).initialize();
      const rows: { name: string; n: number }[] = await dataSource.query('SELECT name, COUNT(*) AS n FROM migrations GROUP BY name');
      await dataSource.destroy();
      expect(rows.map((row) => row.name).sort()).toEqual(MIGRATIONS.map((migration) => migration.name).sort());
      expect(rows.every((row) => row.n === 1)).toBe(true);
    } finally {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);

  it('serves, then shuts down cleanly on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/main.js'], {
      cwd: root,
      env: { PATH: process.env.PATH, ...env, PORT: String(port), LOG_LEVEL: 'log' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let stdout = '';
    child.stdout.on('data', (d) => ((output += d), (stdout += d)));
    child.stderr.on('data', (d) => (output += d));
    try {
      await vi.waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}/api/health`);
          expect(res.status).toBe(200);
        },
        { timeout: 20_000, interval: 200 },
      );
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('Listening on');
      // Every line is JSON (pino), boot and shutdown lines included, the health request with its id.
      const lines = stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { level: number; msg: string; context?: string; requestId?: string });
      expect(lines.find((line) => line.msg.startsWith('Listening on'))).toMatchObject({ level: 30, context: 'Bootstrap' });
      expect(lines.some((line) => line.msg === 'SIGTERM received: shutting down')).toBe(true);
      expect(lines.some((line) => line.msg === 'request completed' && typeof line.requestId === 'string')).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it.each([
    ['PORT=0 alone', {}, 'localhost'],
    ['HOST=127.0.0.1, this machine only, API docs off', { HOST: '127.0.0.1', API_DOCS_ENABLED: 'false' }, '127.0.0.1'],
  ] as const)('with %s: listens on a free port and prints that one, at its address', async (_, extra, shown) => {
    const child = spawn(process.execPath, ['dist/main.js'], {
      cwd: root,
      env: { PATH: process.env.PATH, ...env, ...extra, PORT: '0', LOG_LEVEL: 'log' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    try {
      await vi.waitFor(() => expect(stdout).toContain('Listening on'), { timeout: 20_000, interval: 200 });
      const line = JSON.parse(stdout.split('\n').find((l) => l.includes('Listening on'))!) as { msg: string };
      const port = Number(new RegExp(`^Listening on http://${shown.replace(/\./g, '\\.')}:(\\d+) `).exec(line.msg)?.[1]);
      expect(port).toBeGreaterThan(0);
      expect(line.msg).toContain(
        'API_DOCS_ENABLED' in extra ? 'no API docs: API_DOCS_ENABLED=false' : `Swagger UI: http://${shown}:${port}/api/docs`,
      );
      expect((await fetch(`http://127.0.0.1:${port}/api/health`)).status).toBe(200);
      // Another address of this machine (when it has one) answers only when listening on every interface.
      const other = Object.values(networkInterfaces())
        .flat()
        .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
      if (other && 'HOST' in extra) await expect(fetch(`http://${other}:${port}/api/health`)).rejects.toThrow();
      else if (other) expect((await fetch(`http://${other}:${port}/api/health`)).status).toBe(200);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('prints readable lines (pino-pretty) with NODE_ENV=development', async () => {
    const child = spawn(process.execPath, ['dist/main.js'], {
      cwd: root,
      env: { PATH: process.env.PATH, ...env, NODE_ENV: 'development', PORT: String(await freePort()), LOG_LEVEL: 'log' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    try {
      await vi.waitFor(() => expect(stdout).toContain('Listening on'), { timeout: 20_000, interval: 200 });
      const line = stdout.split('\n').find((l) => l.includes('Listening on'))!;
      expect(() => JSON.parse(line)).toThrow();
      expect(line).toMatch(/INFO/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('Configuration at boot', () => {
  it('is validated once, and the one AppConfig (with its one generated JWT secret) is what the app uses', async () => {
    const db = await createTestDatabase('sqlite');
    vi.mocked(validateEnvironment).mockClear();
    const app = await createApp({ overrides: { ...baseEnvironment(db.url), JWT_SECRET: '' }, ignoreEnvFile: true, logger: false });
    try {
      await app.init();
      await app.getHttpAdapter().getInstance().ready();
      expect(validateEnvironment).toHaveBeenCalledTimes(1);

      const config = app.get(AppConfig);
      expect(config.jwt.secretGenerated).toBe(true);
      // A token signed at boot verifies against the app's own secret, and the API accepts it.
      const login = await request(app.getHttpServer()).post('/api/auth/login').send({ email: ROOT_EMAIL, password: ROOT_PASSWORD });
      expect(login.status).toBe(200);
      const token: string = login.body.access_token;
      expect(app.get(JwtService).verify(token, { secret: config.jwt.secret })).toMatchObject({ email: ROOT_EMAIL });
      expect((await request(app.getHttpServer()).get('/api/auth/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    } finally {
      await app.close();
      await db.drop();
    }
  });

  it('uses the AppConfig main.ts validated, without validating again', async () => {
    const db = await createTestDatabase('sqlite');
    const config = loadConfigFromProcess({ overrides: { ...baseEnvironment(db.url), JWT_SECRET: '' }, ignoreEnvFile: true });
    vi.mocked(validateEnvironment).mockClear();
    const app = await createApp({ config, logger: false });
    try {
      await app.init();
      expect(validateEnvironment).not.toHaveBeenCalled();
      expect(app.get(AppConfig)).toBe(config);
    } finally {
      await app.close();
      await db.drop();
    }
  });
});
