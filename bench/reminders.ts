/**
 * Benchmark of the reminder scan (ReminderScheduler): with 100,000 appointments in the table, what does a
 * tick cost next to the same tick on an empty table, and what would it cost without the reminder_due_at
 * index? On SQLite files and on fresh PostgreSQL databases, in this process (no app server).
 * Usage and how to read the figures: bench/README.md.
 */
import 'reflect-metadata';
import type { SchedulerRegistry } from '@nestjs/schedule';
import { mkdtempSync, rmSync } from 'node:fs';
import { register } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DataSource, LessThanOrEqual, type Logger, type Repository } from 'typeorm';
import { Appointment } from '../src/appointments/appointment.entity.js';
import type { ReminderPolicy } from '../src/appointments/reminder-policy.js';
import type { ReminderScheduler as Scheduler } from '../src/appointments/reminder.scheduler.js';
import type { Clock } from '../src/common/clock.js';
import type { AppConfig, DatabaseConfig } from '../src/config/app-config.js';
import { buildDataSourceOptions } from '../src/database/data-source.js';
import type { DomainEvents, UnitOfWork } from '../src/events/domain-events.service.js';
import { createDatabase } from './database.js';
import { readOptions } from './options.js';
import { HarnessError, onCleanup, runBenchmark } from './processes.js';
import {
  deleteAppointments,
  dueAppointments,
  insertAppointments,
  mixedAppointments,
  seededRandom,
  type SeedRow,
} from './reminders-data.js';

// The scheduler imports @nestjs/event-emitter, which ts-node's ESM resolver cannot load on its own (see
// reminders-hooks.ts): register the fix, then import the scheduler (a static import would resolve first).
register(new URL('./reminders-hooks.ts', import.meta.url));
const { REMINDER_BATCH, ReminderScheduler } = await import('../src/appointments/reminder.scheduler.js');

const USAGE = `Usage: npm run bench:reminders -- [--rows 100000] [--due 50] [--iterations 200] [--warmup 50]
                                [--no-index-iterations 30] [--databases sqlite,postgres]
                                [--postgres-url postgres://postgres@127.0.0.1:5432/test]
(env: BENCH_ROWS, BENCH_DUE, BENCH_ITERATIONS, BENCH_WARMUP, BENCH_NO_INDEX_ITERATIONS, BENCH_DATABASES, BENCH_POSTGRES_URL)`;

const INDEX = 'IDX_appointments_reminder_due';

function parseOptions() {
  const { whole, pick, databases } = readOptions(
    ['rows', 'due', 'iterations', 'warmup', 'no-index-iterations', 'databases', 'postgres-url'],
    USAGE,
  );
  const due = whole('due', 50, 1);
  if (due > REMINDER_BATCH) throw new HarnessError(`--due must be <= ${REMINDER_BATCH} (one scan's batch)\n${USAGE}`);
  return {
    rows: whole('rows', 100_000, 1),
    due,
    iterations: whole('iterations', 200, 1),
    warmup: whole('warmup', 50, 0),
    noIndexIterations: whole('no-index-iterations', 30, 1),
    databases: databases(),
    postgresUrl: pick('postgres-url') ?? 'postgres://postgres@127.0.0.1:5432/test',
  };
}
type Options = ReturnType<typeof parseOptions>;

/** TypeORM logger that keeps the SQL while recording, and prints warnings and failures (the app logs `['warn']`). */
class QueryRecorder implements Logger {
  private recording = false;
  private queries: Array<{ sql: string; parameters: unknown[] }> = [];
  logQuery(sql: string, parameters?: unknown[]) {
    if (this.recording) this.queries.push({ sql, parameters: parameters ?? [] });
  }
  logQueryError(error: string | Error, sql: string) {
    const shown = sql.length > 300 ? `${sql.slice(0, 300)}… (${sql.length} characters)` : sql;
    console.error(`  query failed: ${error instanceof Error ? error.message : error}\n  ${shown}`);
  }
  logQuerySlow() {}
  logSchemaBuild() {}
  logMigration() {}
  log(level: 'log' | 'info' | 'warn', message: unknown) {
    if (level === 'warn') console.warn(`  typeorm: ${String(message)}`);
  }
  async record(action: () => Promise<unknown>) {
    this.queries = [];
    this.recording = true;
    try {
      await action();
    } finally {
      this.recording = false;
    }
    return this.queries;
  }
}

/** One database: the app's schema, its repository, and the real scheduler over it. */
interface Stand {
  dataSource: DataSource;
  recorder: QueryRecorder;
  /** The scan's read, with exactly the options ReminderScheduler.scanOnce() passes; resolves to the row count. */
  find(): Promise<number>;
  /** A whole ReminderScheduler.scan(); resolves to the rows it claimed. */
  tick(): Promise<number>;
  close(): Promise<void>;
}

/** The real class; quiet hours off, events dropped, clock fixed: only the database work is left. */
function realScheduler(repo: Repository<Appointment>, now: Date): Scheduler {
  const policy = { quietWindowAt: () => null } as unknown as ReminderPolicy;
  // The claim's real transaction; the events it would publish are dropped.
  const events = {
    transaction: (work: (unit: UnitOfWork) => Promise<unknown>) =>
      repo.manager.transaction((manager) => work({ manager, publish: async () => 'dropped' })),
  } as unknown as DomainEvents;
  const clock = { now: () => now } as Clock;
  return new ReminderScheduler(repo, policy, events, clock, {} as AppConfig, {} as SchedulerRegistry);
}

async function openStand(kind: 'sqlite' | 'postgres', dir: string, options: Options, now: Date): Promise<Stand | { skipped: string }> {
  const database = await createDatabase(kind, dir, options.postgresUrl);
  if ('skipped' in database) return database;
  const db: DatabaseConfig = database.url.startsWith('sqlite:')
    ? { type: 'sqlite', path: database.url.slice('sqlite:'.length) }
    : { type: 'postgres', url: database.url };
  const recorder = new QueryRecorder();
  const dataSource = new DataSource({ ...buildDataSourceOptions(db), logger: recorder });
  await dataSource.initialize();
  // Registered after the database's own clean-up: runs before it (last in, first out).
  const close = onCleanup(async () => {
    if (dataSource.isInitialized) await dataSource.destroy();
  });
  await dataSource.runMigrations();
  const repo = dataSource.getRepository(Appointment);
  const scheduler = realScheduler(repo, now);
  return {
    dataSource,
    recorder,
    find: () =>
      repo
        .find({ where: { reminderDueAt: LessThanOrEqual(now) }, order: { reminderDueAt: 'ASC' }, take: REMINDER_BATCH })
        .then((rows) => rows.length),
    tick: () => scheduler.scan().then((r) => r.claimed + r.expired),
    close,
  };
}

interface Stats {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

function stats(times: number[]): Stats {
  const sorted = [...times].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  return { n: sorted.length, p50: rank(50), p99: rank(99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

interface Timed {
  label: string;
  run: () => Promise<number>;
  /** Rows every run must return. */
  expect: number;
  /** Untimed, before each run. */
  prepare?: () => Promise<void>;
}

/**
 * Warm-up (discarded), then `iterations` rounds; each round times every target once, in an order that
 * alternates from round to round, so drift (JIT, caches, the machine) falls on all targets alike.
 */
async function measure(targets: Timed[], { warmup, iterations }: { warmup: number; iterations: number }): Promise<Stats[]> {
  const times = targets.map((): number[] => []);
  for (let round = 0; round < warmup + iterations; round++) {
    const order = targets.map((_, i) => i);
    if (round % 2) order.reverse();
    for (const i of order) {
      const { label, run, expect, prepare } = targets[i];
      await prepare?.();
      const start = performance.now();
      const got = await run();
      const elapsed = performance.now() - start;
      if (got !== expect) throw new HarnessError(`${label}: got ${got} rows, expected ${expect}`);
      if (round >= warmup) times[i].push(elapsed);
    }
  }
  return times.map(stats);
}

interface PlanCheck {
  lines: string[];
  usesIndex: boolean;
  sorts: boolean;
}

async function plan(dataSource: DataSource, sql: string, parameters: unknown[], analyze = false): Promise<PlanCheck> {
  let lines: string[];
  if (dataSource.options.type === 'postgres') {
    const rows: Array<{ 'QUERY PLAN': string }> = await dataSource.query(
      `EXPLAIN ${analyze ? '(ANALYZE, BUFFERS) ' : ''}${sql}`,
      parameters,
    );
    lines = rows.map((r) => r['QUERY PLAN']);
  } else {
    // Prepared afresh on the raw connection: TypeORM caches prepared statements, and a cached EXPLAIN QUERY
    // PLAN is not planned again after a schema change (it would still show the index once dropped).
    const sqlite = (dataSource.driver as unknown as { databaseConnection: { prepare(sql: string): { all(...p: unknown[]): unknown[] } } })
      .databaseConnection;
    const rows = sqlite.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...parameters) as Array<{ id: number; parent: number; detail: string }>;
    const depth = new Map<number, number>([[0, -1]]);
    lines = rows.map((r) => {
      depth.set(r.id, (depth.get(r.parent) ?? -1) + 1);
      return `${'  '.repeat(depth.get(r.id)!)}${r.detail}`;
    });
  }
  const text = lines.join('\n');
  return { lines, usesIndex: text.includes(INDEX), sorts: /TEMP B-TREE|\bSort\b/.test(text) };
}

interface Notes {
  findings: string[];
  notes: string[];
}

function printPlan(kind: string, label: string, check: PlanCheck, notes: Notes, expectIndex = true): void {
  console.log(`  plan, ${label}:\n${check.lines.map((l) => `    ${l}`).join('\n')}`);
  if (!expectIndex) return;
  if (!check.usesIndex) notes.findings.push(`${kind}, ${label}: the scan's plan does NOT use ${INDEX}`);
  else if (check.sorts)
    notes.notes.push(
      `${kind}, ${label}: ${INDEX} finds the due rows, which are then sorted: every due row is ` +
        `read, not only the first ${REMINDER_BATCH}; cheap while few are due, which is what the planner expects here`,
    );
}

/** Abbreviates the SELECT list; the rest is printed as the app sends it. */
const shortSql = (sql: string) => sql.replace(/^SELECT .*? FROM /s, (m) => `SELECT <${m.split(' AS ').length - 1} columns> FROM `);

interface Row {
  scenario: string;
  table: string;
  stats: Stats;
}

interface PassResult {
  kind: string;
  rows: Row[];
  ratios: string[];
}

async function pass(kind: 'sqlite' | 'postgres', dir: string, options: Options, notes: Notes): Promise<PassResult | { skipped: string }> {
  const now = new Date();
  // Two databases side by side, measured in alternation: the baseline and the loaded table.
  const small = await openStand(kind, join(dir, `${kind}-baseline`), options, now);
  if ('skipped' in small) return small;
  const big = (await openStand(kind, join(dir, `${kind}-loaded`), options, now)) as Stand;
  const { dataSource } = big;
  const version =
    kind === 'postgres'
      ? ((await dataSource.query('SHOW server_version')) as Array<{ server_version: string }>)[0].server_version
      : ((await dataSource.query('SELECT sqlite_version() AS v')) as Array<{ v: string }>)[0].v;
  console.log(`\n${kind} ${version}: two databases (baseline, loaded), schema by the app's migrations`);

  // The SQL find() sends, and proof that ReminderScheduler.scan() sends the same.
  const [scan] = await big.recorder.record(big.find);
  const [schedulerScan] = await big.recorder.record(big.tick);
  const same = schedulerScan?.sql === scan.sql;
  if (!same)
    notes.findings.push(
      `${kind}: find() here and ReminderScheduler.scan() sent different SQL:\n    ${scan.sql}\n    ${schedulerScan?.sql}`,
    );
  console.log(`  scan SQL (ReminderScheduler.scan() sends the same: ${same ? 'yes' : 'NO'}):\n    ${shortSql(scan.sql)}`);

  const random = seededRandom(20_260_101);
  const due = dueAppointments(options.due, now, random);
  const started = performance.now();
  await insertAppointments(dataSource, mixedAppointments(options.rows, now, random));
  const [{ n: pending }]: Array<{ n: number | string }> = await dataSource.query(
    `SELECT COUNT(*) AS n FROM "appointments" WHERE "reminder_due_at" IS NOT NULL`,
  );
  console.log(
    `  loaded: ${options.rows.toLocaleString('en')} appointments seeded in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
      `70% confirmed with a reminder due over the next 60 days, 10% reminder sent, 10% pending, 10% cancelled ` +
      `(${Number(pending).toLocaleString('en')} non-null reminder_due_at, none due)`,
  );

  // PostgreSQL's autovacuum analyses a table after this many inserts anyway; SQLite only on an explicit
  // ANALYZE, which the app never runs: SQLite is measured without statistics, as the app runs.
  if (kind === 'postgres') {
    printPlan(kind, 'before ANALYZE, nothing due', await plan(dataSource, scan.sql, scan.parameters), notes);
    await dataSource.query('ANALYZE "appointments"');
    await small.dataSource.query('ANALYZE "appointments"');
    printPlan(kind, 'after ANALYZE, nothing due', await plan(dataSource, scan.sql, scan.parameters), notes);
  } else {
    printPlan(kind, 'no ANALYZE (as the app runs), nothing due', await plan(dataSource, scan.sql, scan.parameters), notes);
  }

  const rows: Row[] = [];
  const loaded = `${options.rows.toLocaleString('en')}`;
  const loadedDue = `${loaded} + ${options.due} due`;
  const timed = { warmup: options.warmup, iterations: options.iterations };
  const ticks = { warmup: Math.min(options.warmup, 10), iterations: options.iterations };
  const add = (scenario: string, tables: string[], results: Stats[]) => {
    results.forEach((s, i) => rows.push({ scenario, table: tables[i], stats: s }));
    console.log(
      `  ${scenario}: ${results.map((s, i) => `${tables[i]}: p50 ${s.p50.toFixed(3)} ms, p99 ${s.p99.toFixed(3)} ms`).join(' | ')}`,
    );
    return results;
  };

  // Nothing due: the empty table against the loaded one.
  const [emptyFind, bigFind] = add(
    'find, nothing due',
    ['empty', loaded],
    await measure(
      [
        { label: 'find, empty table', run: small.find, expect: 0 },
        { label: 'find, loaded table', run: big.find, expect: 0 },
      ],
      timed,
    ),
  );
  const [emptyTick, bigTick] = add(
    'scan() tick, nothing due',
    ['empty', loaded],
    await measure(
      [
        { label: 'scan(), empty table', run: small.tick, expect: 0 },
        { label: 'scan(), loaded table', run: big.tick, expect: 0 },
      ],
      ticks,
    ),
  );

  // The same due rows in both: alone in the baseline, among the loaded rows in the other.
  await insertAppointments(small.dataSource, due);
  await insertAppointments(dataSource, due);
  printPlan(kind, `${options.due} due`, await plan(dataSource, scan.sql, scan.parameters), notes);
  if (kind === 'postgres')
    printPlan(kind, `${options.due} due, EXPLAIN (ANALYZE, BUFFERS)`, await plan(dataSource, scan.sql, scan.parameters, true), notes);
  const dueOnly = `${options.due} due only`;
  const [dueFind, bigDueFind] = add(
    `find, ${options.due} due`,
    [dueOnly, loadedDue],
    await measure(
      [
        { label: 'find, due rows only', run: small.find, expect: options.due },
        { label: 'find, loaded table + due rows', run: big.find, expect: options.due },
      ],
      timed,
    ),
  );
  // scan() claims the due rows: they are put back (untimed) before each tick.
  const putBack = (stand: Stand, rows: SeedRow[]) => async () => {
    await deleteAppointments(stand.dataSource, rows);
    await insertAppointments(stand.dataSource, rows);
  };
  const [dueTick, bigDueTick] = add(
    `scan() tick, ${options.due} claimed`,
    [dueOnly, loadedDue],
    await measure(
      [
        { label: 'scan(), due rows only', run: small.tick, expect: options.due, prepare: putBack(small, due) },
        { label: 'scan(), loaded table + due rows', run: big.tick, expect: options.due, prepare: putBack(big, due) },
      ],
      ticks,
    ),
  );
  await putBack(big, due)();
  await small.close();

  if (kind === 'sqlite') {
    await dataSource.query('ANALYZE');
    printPlan(
      kind,
      `${options.due} due, after an explicit ANALYZE (the app runs none)`,
      await plan(dataSource, scan.sql, scan.parameters),
      notes,
    );
  }

  // Contrast: the loaded table once the index is gone (few iterations: these are slow).
  await dataSource.query(`DROP INDEX "${INDEX}"`);
  if (kind === 'postgres') await dataSource.query('ANALYZE "appointments"');
  printPlan(kind, `${options.due} due, without ${INDEX}`, await plan(dataSource, scan.sql, scan.parameters), notes, false);
  const slow = { warmup: Math.min(options.warmup, 3), iterations: options.noIndexIterations };
  const [noIndexDue] = add(
    `find, ${options.due} due, NO INDEX`,
    [loadedDue],
    await measure([{ label: 'find without the index', run: big.find, expect: options.due }], slow),
  );
  await deleteAppointments(dataSource, due);
  const [noIndex] = add(
    'find, nothing due, NO INDEX',
    [loaded],
    await measure([{ label: 'find without the index', run: big.find, expect: 0 }], slow),
  );
  await big.close();

  const ratio = (what: string, a: Stats, b: Stats) =>
    `${kind}: ${what}: ${(a.p50 / b.p50).toFixed(2)}x (${a.p50.toFixed(3)} / ${b.p50.toFixed(3)} ms)`;
  return {
    kind,
    rows,
    ratios: [
      ratio(`find, nothing due, ${loaded} rows / empty table`, bigFind, emptyFind),
      ratio(`scan() tick, nothing due, ${loaded} rows / empty table`, bigTick, emptyTick),
      ratio(`find, ${options.due} due, ${loadedDue} / ${dueOnly}`, bigDueFind, dueFind),
      ratio(`find, ${options.due} due, ${loadedDue} / empty table (nothing due)`, bigDueFind, emptyFind),
      ratio(`scan() tick, ${options.due} claimed, ${loadedDue} / ${dueOnly}`, bigDueTick, dueTick),
      ratio(`find, nothing due, without the index / with it (${loaded} rows)`, noIndex, bigFind),
      ratio(`find, ${options.due} due, without the index / with it (${loadedDue})`, noIndexDue, bigDueFind),
    ],
  };
}

function printTable(results: PassResult[]): void {
  const header = ['database', 'scenario', 'table', 'n', 'p50 ms', 'p99 ms', 'mean ms'];
  const cells = results.flatMap(({ kind, rows }) =>
    rows.map((r) => [
      kind,
      r.scenario,
      r.table,
      String(r.stats.n),
      r.stats.p50.toFixed(3),
      r.stats.p99.toFixed(3),
      r.stats.mean.toFixed(3),
    ]),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => (i < 3 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${cells.map(line).join('\n')}`);
}

async function main(): Promise<number> {
  const options = parseOptions();
  const cpu = cpus();
  console.log(
    `bench:reminders - node ${process.version}, ${cpu.length} CPU (${cpu[0]?.model.trim()}); ${options.rows.toLocaleString('en')} appointments, ` +
      `${options.due} due; ${options.warmup} warm-up + ${options.iterations} measured rounds per scenario ` +
      `(without the index: ${Math.min(options.warmup, 3)} + ${options.noIndexIterations}); scan batch ${REMINDER_BATCH}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'bench-reminders-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const results: PassResult[] = [];
  const skipped: string[] = [];
  const notes: Notes = { findings: [], notes: [] };
  for (const kind of options.databases) {
    const result = await pass(kind, dir, options, notes);
    if ('skipped' in result) {
      console.log(`\n${kind}: skipped: ${result.skipped}`);
      skipped.push(`${kind}: skipped: ${result.skipped}`);
    } else results.push(result);
  }
  if (results.length) printTable(results);
  console.log(`\nratios of p50:\n${[...results.flatMap((r) => r.ratios), ...skipped].map((l) => `  ${l}`).join('\n')}`);
  if (notes.notes.length) console.log(`\nnotes:\n${notes.notes.map((n) => `  ${n}`).join('\n')}`);
  if (notes.findings.length) {
    console.log(`\n!!! ${notes.findings.length} finding(s):\n${notes.findings.map((f) => `!!! ${f}`).join('\n')}`);
    return 2;
  }
  if (results.length) console.log(`\nplans: every plan with the index reads ${INDEX}`);
  return 0;
}

await runBenchmark('bench:reminders', main);
