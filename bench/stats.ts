/**
 * Benchmark of GET /api/sms/stats's work (SmsStatsService.compute, the real class): fills sms_messages
 * with --rows messages spread over 90 days (default 1,000,000; written by the database itself in one
 * INSERT … SELECT), then times the statistics of 30 days, 90 days and filtered ones, and prints the
 * query plan of the main GROUP BY. On a SQLite file and a fresh PostgreSQL database, in this process.
 * Usage: npm run bench:stats -- [--rows 1000000] [--iterations 5] [--databases sqlite,postgres]
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DataSource } from 'typeorm';
import type { Clock } from '../src/common/clock.js';
import type { AppConfig, DatabaseConfig } from '../src/config/app-config.js';
import { buildDataSourceOptions } from '../src/database/data-source.js';
import type { SmsStatsQueryDto } from '../src/sms/stats/stats-query.dto.js';
import { createDatabase } from './database.js';
import { readOptions } from './options.js';
import { onCleanup, runBenchmark } from './processes.js';

// @nestjs/common's deep imports trip ts-node's ESM resolver: the same fix as bench/reminders.ts, then
// import the service (a static import would resolve before the hook is registered).
register(new URL('./reminders-hooks.ts', import.meta.url));
const { SmsStatsService } = await import('../src/sms/stats/sms-stats.service.js');

const DAY_MS = 86_400_000;
/** The data spans [START, START + 90 days). */
const START = new Date('2026-01-01T00:00:00Z');
const SPAN_DAYS = 90;

const USAGE = `Usage: npm run bench:stats -- [--rows 1000000] [--iterations 5] [--databases sqlite,postgres]
                             [--postgres-url postgres://postgres@127.0.0.1:5432/test]
(env: BENCH_ROWS, BENCH_ITERATIONS, BENCH_DATABASES, BENCH_POSTGRES_URL)`;

function parseOptions() {
  const { whole, pick, databases } = readOptions(['rows', 'iterations', 'databases', 'postgres-url'], USAGE);
  return {
    rows: whole('rows', 1_000_000),
    iterations: whole('iterations', 5),
    databases: databases(),
    postgresUrl: pick('postgres-url') ?? 'postgres://postgres@127.0.0.1:5432/test',
  };
}

/**
 * Columns of every generated row, as SQL over `n` (0 … rows-1): statuses in realistic proportions
 * (85% delivered, 5% undelivered, 3% failed, 4% sent, 3% queued), error codes on the failures, a
 * third of each kind, one in seven marketing.
 */
function generatedColumns(postgres: boolean, rows: number): Record<string, string> {
  const mod = (k: number) => `(n % ${k})`;
  const status = `CASE WHEN ${mod(100)} < 85 THEN 'delivered' WHEN ${mod(100)} < 90 THEN 'undelivered' WHEN ${mod(100)} < 93 THEN 'failed' WHEN ${mod(100)} < 97 THEN 'sent' ELSE 'queued' END`;
  const errorCode = `CASE WHEN ${mod(100)} >= 85 AND ${mod(100)} < 93 THEN (CASE ${mod(4)} WHEN 0 THEN '30003' WHEN 1 THEN '30005' WHEN 2 THEN '30006' ELSE '30007' END) ELSE NULL END`;
  const spanMs = SPAN_DAYS * DAY_MS;
  const createdAt = postgres
    ? `(timestamptz '${START.toISOString()}' + (n::float8 * ${spanMs / rows}) * interval '1 millisecond')`
    : `strftime('%Y-%m-%d %H:%M:%f', julianday('${START.toISOString().slice(0, 19).replace('T', ' ')}') + n * ${SPAN_DAYS / rows})`;
  return {
    id: postgres ? 'gen_random_uuid()' : 'lower(hex(randomblob(16)))',
    to: postgres ? `'+3361' || lpad((n % 9999999)::text, 7, '0')` : `'+3361' || substr('0000000' || (n % 9999999), -7)`,
    from: `'+33700000000'`,
    body: `'Rappel : rendez-vous demain'`,
    kind: `CASE ${mod(3)} WHEN 0 THEN 'single' WHEN 1 THEN 'notification' ELSE 'bulk' END`,
    provider: `'twilio'`,
    status,
    provider_sid: postgres ? `'SM' || md5(n::text)` : `'SM' || lower(hex(randomblob(16)))`,
    error_code: errorCode,
    segments: `1 + ${mod(10)} / 8`,
    encoding: `'GSM-7'`,
    attempts: '1',
    category: `CASE ${mod(7)} WHEN 0 THEN 'marketing' ELSE 'transactional' END`,
    created_at: createdAt,
    updated_at: createdAt,
  };
}

async function fill(dataSource: DataSource, postgres: boolean, rows: number): Promise<void> {
  const columns = generatedColumns(postgres, rows);
  const names = Object.keys(columns)
    .map((c) => `"${c}"`)
    .join(', ');
  const values = Object.values(columns).join(', ');
  const sql = postgres
    ? `INSERT INTO "sms_messages" (${names}) SELECT ${values} FROM generate_series(0, ${rows - 1}) AS n`
    : `INSERT INTO "sms_messages" (${names}) WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < ${rows - 1}) SELECT ${values} FROM seq`;
  await dataSource.query(sql);
  // What autovacuum does on a live PostgreSQL (statistics, and the visibility map index-only scans need).
  await dataSource.query(postgres ? 'VACUUM ANALYZE "sms_messages"' : 'ANALYZE');
}

/** The plan of the statistics' main query, as the service writes it (30 days, no filter). */
async function plan(
  dataSource: DataSource,
  postgres: boolean,
  service: { groupedQuery: InstanceType<typeof SmsStatsService>['groupedQuery'] },
): Promise<string> {
  const { sql, values } = service.groupedQuery(new Date(START.getTime() + 31 * DAY_MS), new Date(START.getTime() + 61 * DAY_MS), {});
  const rows: Record<string, string>[] = await dataSource.query(postgres ? `EXPLAIN ${sql}` : `EXPLAIN QUERY PLAN ${sql}`, values);
  return rows.map((r) => r['QUERY PLAN'] ?? r.detail).join('\n    ');
}

async function pass(kind: 'sqlite' | 'postgres', dir: string, options: ReturnType<typeof parseOptions>) {
  const database = await createDatabase(kind, dir, options.postgresUrl);
  if ('skipped' in database) return database;
  const db: DatabaseConfig =
    kind === 'sqlite' ? { type: 'sqlite', path: database.url.slice('sqlite:'.length) } : { type: 'postgres', url: database.url };
  const dataSource = new DataSource(buildDataSourceOptions(db));
  await dataSource.initialize();
  const close = onCleanup(async () => {
    if (dataSource.isInitialized) await dataSource.destroy();
  });
  await dataSource.runMigrations();
  const postgres = kind === 'postgres';
  let started = performance.now();
  await fill(dataSource, postgres, options.rows);
  const fillMs = performance.now() - started;

  const until = new Date(START.getTime() + SPAN_DAYS * DAY_MS);
  const service = new SmsStatsService(dataSource, { now: () => until } as Clock, { defaultTimeZone: 'Europe/Paris' } as AppConfig);
  const cases: Array<[string, SmsStatsQueryDto]> = [
    ['last 30 days', {}],
    ['90 days', { since: START, until }],
    ['90 days, kind=bulk', { since: START, until, kind: 'bulk' }],
    ['90 days, category=marketing', { since: START, until, category: 'marketing' }],
  ];
  const timings: Array<{ name: string; median: number; total: number }> = [];
  for (const [name, query] of cases) {
    const times: number[] = [];
    let total = 0;
    await service.compute(query, 'fr'); // warm-up
    for (let i = 0; i < options.iterations; i++) {
      started = performance.now();
      total = (await service.compute(query, 'fr')).total;
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    timings.push({ name, median: times[Math.floor(times.length / 2)], total });
  }
  const shownPlan = await plan(dataSource, postgres, service);
  await close();
  return { kind, fillMs, timings, plan: shownPlan };
}

async function main(): Promise<number> {
  const options = parseOptions();
  const dir = mkdtempSync(join(tmpdir(), 'bench-stats-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  console.log(`bench:stats: ${options.rows.toLocaleString('en')} messages over ${SPAN_DAYS} days, median of ${options.iterations} runs`);
  for (const kind of options.databases) {
    const result = await pass(kind, dir, options);
    if ('skipped' in result) {
      console.log(`\n${kind}: skipped: ${result.skipped}`);
      continue;
    }
    console.log(`\n${kind}: filled in ${(result.fillMs / 1000).toFixed(1)} s`);
    for (const t of result.timings)
      console.log(`  ${t.name.padEnd(30)} ${t.median.toFixed(1).padStart(8)} ms   (${t.total.toLocaleString('en')} messages)`);
    console.log(`  plan of the GROUP BY (30 days):\n    ${result.plan}`);
  }
  return 0;
}

await runBenchmark('bench:stats', main);
