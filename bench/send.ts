/**
 * Benchmark of POST /api/sms/send through the whole stack (Fastify, JWT guard, validation, database,
 * Twilio SDK) against a bare node:http server making the same SDK call: how many requests per second
 * does everything the app adds cost? Both talk to the Twilio stand-in, which answers at once.
 * Usage and how to read the figures: bench/README.md.
 */
import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { testTwilioCredentials } from '../test/support/twilio-stand-in.js';
import { createDatabase } from './database.js';
import {
  ask,
  baseEnv,
  freePort,
  HarnessError,
  onCleanup,
  runBenchmark,
  startApp,
  startTsChild,
  waitForOk,
  type AppProcess,
} from './processes.js';
import { printProfileSummary } from './cpu-profile.js';
import { readOptions } from './options.js';
import { printReport, type Row } from './report.js';
import { MEMORY_NODE_ARGS, measureMemory, measureOps, printMemory, printOps, type MemoryRow } from './send-extras.js';

const USAGE = `Usage: npm run bench:send -- [--duration 10] [--warmup 3] [--connections 50] [--rounds 1] [--route send|me]
                           [--databases sqlite,postgres] [--postgres-url postgres://postgres@127.0.0.1:5432/postgres]
                           [--sections send,ops,memory] [--ops-seconds 2] [--memory-rounds 3] [--memory-recipients 10000]
                           [--cpu-prof] [--app-main <another build's dist/main.js, to compare builds>] [--sqlite-memory]
(env: BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_ROUNDS, BENCH_ROUTE, BENCH_DATABASES, BENCH_POSTGRES_URL, BENCH_SECTIONS,
 BENCH_OPS_SECONDS, BENCH_MEMORY_ROUNDS, BENCH_MEMORY_RECIPIENTS, BENCH_APP_MAIN, BENCH_CPU_PROF=1, BENCH_SQLITE_MEMORY=1)
--sqlite-memory: one more send pass, the app on an in-memory SQLite database (sqlite::memory:): not a setting to
run with (a crash loses everything), the figure that shows what writing the database to its file costs a send.
--cpu-prof: the app runs under \`node --cpu-prof\`; its profiles (one per database) are kept in a temporary
directory, summarised by area at the end (bench/cpu-profile.ts); the profiler slows the app, so the ratios of
such a run are not the figures to quote.`;

const FROM = '+33700000000';
/** SMS_MAX_CONCURRENCY of the measured app: its Twilio pool is max(20, it) connections, the baseline's the same. */
const APP_CONCURRENCY = 100;
const ADMIN = { email: 'bench@example.test', password: 'bench-password-' + randomBytes(6).toString('hex') };
const SEND_BODY = JSON.stringify({ to: '+33612345678', message: 'Bonjour, votre rendez-vous est confirmé.' });
/** `me` exists to check the harness end to end on a route that is always there (no SMS sent). */
const ROUTES = {
  send: { method: 'POST', path: '/api/sms/send', body: SEND_BODY },
  me: { method: 'GET', path: '/api/auth/me', body: undefined },
} as const;
/** USER_HZ: /proc counts CPU time in ticks of 1/100 s on Linux. */
const CLOCK_TICKS = 100;
const DIST_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

interface Target {
  label: string;
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

function parseOptions() {
  const { pick, whole, list, flag, databases } = readOptions(
    [
      'duration',
      'warmup',
      'connections',
      'rounds',
      'route',
      'databases',
      'postgres-url',
      'app-main',
      'sections',
      'ops-seconds',
      'memory-rounds',
      'memory-recipients',
    ],
    USAGE,
    ['cpu-prof', 'sqlite-memory'],
  );
  const route = pick('route') ?? 'send';
  if (!(route in ROUTES)) throw new HarnessError(`--route must be one of ${Object.keys(ROUTES).join(', ')}\n${USAGE}`);
  const sections = list('sections', 'send,ops,memory');
  if (sections.some((v) => !['send', 'ops', 'memory'].includes(v))) throw new HarnessError(`--sections takes send, ops and/or memory`);
  return {
    duration: whole('duration', 10, 1),
    warmup: whole('warmup', 3, 0),
    rounds: whole('rounds', 1, 1),
    connections: whole('connections', 50, 1),
    route: route as keyof typeof ROUTES,
    databases: databases(),
    postgresUrl: pick('postgres-url') ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    sections: sections as Array<'send' | 'ops' | 'memory'>,
    opsSeconds: whole('ops-seconds', 2, 1),
    memoryRounds: whole('memory-rounds', 3, 1),
    memoryRecipients: whole('memory-recipients', 10_000, 1),
    appMain: resolve(pick('app-main') ?? DIST_MAIN),
    cpuProf: flag('cpu-prof'),
    sqliteMemory: flag('sqlite-memory'),
  };
}
type Options = ReturnType<typeof parseOptions>;

/** One request before loading: a target that does not answer 2xx cannot be measured. */
async function preflight(target: Target, app?: AppProcess): Promise<void> {
  const res = await fetch(target.url, { method: target.method, headers: target.headers, body: target.body });
  const text = await res.text();
  console.log(`  ${target.label}: ${target.method} ${new URL(target.url).pathname} -> ${res.status}`);
  if (!res.ok) throw new HarnessError(`${target.label} answered ${res.status}: ${text.slice(0, 300)}${app ? `\n${app.tail()}` : ''}`);
}

/**
 * CPU time (user + system) a process has used so far, from /proc (Linux; null elsewhere). Per request, it
 * does not depend on what else runs on the machine, unlike requests per second.
 */
function cpuSeconds(pid: number | undefined): number | null {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** Warm-up (discarded), then the measured run; the stand-in's message count brackets the latter. */
async function measure(target: Target, options: Options, standIn: Parameters<typeof ask>[0], pid?: number): Promise<Row> {
  const load = (duration: number) =>
    autocannon({ ...target, connections: options.connections, duration, timeout: 10 }).catch((error: unknown) => {
      throw new HarnessError(`autocannon on ${target.label}: ${error instanceof Error ? error.message : String(error)}`);
    });
  console.log(`  ${target.label}: warm-up ${options.warmup} s, then ${options.duration} s measured`);
  if (options.warmup > 0) await load(options.warmup);
  await ask(standIn, { type: 'take' }, 'taken');
  const cpuBefore = cpuSeconds(pid);
  const result = await load(options.duration);
  const cpuAfter = cpuSeconds(pid);
  const { messages } = await ask<{ messages: number }>(standIn, { type: 'take' }, 'taken');
  const cpuMsPerRequest =
    cpuBefore !== null && cpuAfter !== null && result['2xx'] > 0 ? ((cpuAfter - cpuBefore) * 1000) / result['2xx'] : undefined;
  return { label: target.label, result, twilioMessages: messages, cpuMsPerRequest };
}

async function main(): Promise<number> {
  const options = parseOptions();
  if (!existsSync(options.appMain)) throw new HarnessError(`${options.appMain} is missing: run \`npm run build\` first`);
  const route = ROUTES[options.route];
  const cpu = cpus();
  console.log(
    `bench:send - node ${process.version}, ${cpu.length} CPU (${cpu[0]?.model.trim()}); ${options.connections} connections, ` +
      `${options.warmup} s warm-up + ${options.duration} s per target; app route ${route.method} ${route.path}`,
  );
  if (options.route !== 'send') console.log(`  note: --route ${options.route} sends no SMS; the ratio compares unlike work`);

  // In this process, before any child starts: nothing else competes for the CPU.
  const ops = options.sections.includes('ops') ? await measureOps(new URL('./', pathToFileURL(options.appMain)), options.opsSeconds) : null;
  const dir = mkdtempSync(join(tmpdir(), 'bench-send-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  // Kept after the run (not under `dir`): the profiles are what --cpu-prof is for.
  const profileDir = options.cpuProf ? mkdtempSync(join(tmpdir(), 'bench-send-profile-')) : null;
  const profiles: { file: string; skipMs: number }[] = [];
  const startupMs = new Map<string, number>();
  const credentials = testTwilioCredentials();
  const standIn = await startTsChild<{ baseUrl: string }>(new URL('./stand-in-server.ts', import.meta.url), baseEnv(), 'stand-in');
  const baseline = await startTsChild<{ port: number }>(
    new URL('./baseline-server.ts', import.meta.url),
    {
      ...baseEnv(),
      BENCH_TWILIO_ACCOUNT_SID: credentials.accountSid,
      BENCH_TWILIO_AUTH_TOKEN: credentials.authToken,
      BENCH_TWILIO_FROM: FROM,
      BENCH_TWILIO_BASE_URL: standIn.ready.baseUrl,
      BENCH_TWILIO_POOL_SIZE: String(Math.max(20, APP_CONCURRENCY)),
    },
    'baseline',
  );
  const json = { 'content-type': 'application/json' };
  const baselineTarget: Target = {
    label: 'baseline',
    url: `http://127.0.0.1:${baseline.ready.port}/send`,
    method: 'POST',
    headers: json,
    body: SEND_BODY,
  };
  await preflight(baselineTarget);

  /** The built app on `databaseUrl`, started, signed in as the bench admin. */
  const launch = async (databaseUrl: string, nodeArgs: string[] = [], extraEnv: NodeJS.ProcessEnv = {}) => {
    const port = await freePort();
    const app = startApp(
      options.appMain,
      {
        ...baseEnv(),
        PORT: String(port),
        NODE_ENV: 'production',
        DATABASE_URL: databaseUrl,
        JWT_SECRET: randomBytes(32).toString('hex'),
        ADMIN_EMAIL: ADMIN.email,
        ADMIN_PASSWORD: ADMIN.password,
        TWILIO_ACCOUNT_SID: credentials.accountSid,
        TWILIO_AUTH_TOKEN: credentials.authToken,
        TWILIO_PHONE_NUMBER: FROM,
        TWILIO_API_BASE_URL: standIn.ready.baseUrl,
        // The stand-in has no rate limit: measure the app, not Twilio's default 10 sends per second.
        SMS_MAX_PER_SECOND: '10000',
        SMS_MAX_CONCURRENCY: String(APP_CONCURRENCY),
        LOG_LEVEL: 'warn',
        QUIET_HOURS: '',
        ...extraEnv,
      },
      dir, // not the repository: a developer's .env there must not leak into the measured app
      nodeArgs,
    );
    const origin = `http://127.0.0.1:${port}`;
    await waitForOk(`${origin}/api/health`, app);
    const login = await fetch(`${origin}/api/auth/login`, { method: 'POST', headers: json, body: JSON.stringify(ADMIN) });
    const { access_token: token } = (await login.json().catch(() => ({}))) as { access_token?: string };
    if (login.status !== 200 || !token) throw new HarnessError(`sign-in answered ${login.status}:\n${app.tail()}`);
    return { app, origin, token };
  };

  /** A fresh app on a fresh database: RSS at rest, then after each bulk batch (bench/send-extras.ts). */
  const memoryPass = async (kind: 'sqlite' | 'postgres') => {
    if (!options.sections.includes('memory')) return;
    const database = await createDatabase(kind, join(dir, 'memory'), options.postgresUrl);
    if ('skipped' in database) return;
    const metricsToken = randomBytes(24).toString('hex');
    const { app, origin, token } = await launch(database.url, MEMORY_NODE_ARGS, {
      METRICS_TOKEN: metricsToken,
      SMS_BULK_MAX_RECIPIENTS: String(Math.max(10_000, options.memoryRecipients)),
    });
    console.log(`  memory [${kind}]: at rest, then ${options.memoryRounds} bulk batches of ${options.memoryRecipients} recipients`);
    memory.push([
      kind,
      await measureMemory({ app, origin, token, metricsToken, recipients: options.memoryRecipients, rounds: options.memoryRounds }),
    ]);
    await app.stop();
  };
  const memory: Array<[string, MemoryRow[]]> = [];

  const rows: Row[] = [];
  const ratios: string[] = [];
  // The in-memory pass (--sqlite-memory) runs the send section only, after the others.
  const passes: Array<'sqlite' | 'postgres' | 'sqlite-memory'> = [
    ...options.databases,
    ...(options.sqliteMemory && options.sections.includes('send') ? (['sqlite-memory'] as const) : []),
  ];
  for (const kind of passes) {
    const database = kind === 'sqlite-memory' ? { url: 'sqlite::memory:' } : await createDatabase(kind, dir, options.postgresUrl);
    if ('skipped' in database) {
      console.log(`  ${kind}: skipped: ${database.skipped}`);
      ratios.push(`${kind}: skipped: ${database.skipped}`);
      continue;
    }
    if (!options.sections.includes('send')) {
      if (kind !== 'sqlite-memory') await memoryPass(kind);
      continue;
    }
    const launchedAt = Date.now();
    const { app, origin, token } = await launch(
      database.url,
      profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `app-${kind}.cpuprofile`] : [],
    );
    const appTarget: Target = {
      label: `app [${kind}]`,
      url: `${origin}${route.path}`,
      method: route.method,
      headers: { ...(route.body ? json : {}), authorization: `Bearer ${token}` },
      body: route.body,
    };
    await preflight(appTarget, app);
    // The profile's summary leaves out the start-up (module loading, migrations, sign-in): not the send path.
    startupMs.set(kind, Date.now() - launchedAt);
    // Baseline measured next to each app pass (alternating, per round), so that each ratio compares runs
    // under the same conditions; on a shared machine, the median of several rounds is steadier than one.
    const roundRatios: number[] = [];
    const cpuRatios: number[] = [];
    let failed = false;
    const leftOut: number[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      const suffix = options.rounds > 1 ? ` #${round}` : '';
      const base = await measure(
        { ...baselineTarget, label: `baseline (${kind} pass)${suffix}` },
        options,
        standIn.child,
        baseline.child.pid,
      );
      const measured = await measure({ ...appTarget, label: `${appTarget.label}${suffix}` }, options, standIn.child, app.child.pid);
      rows.push(base, measured);
      // A round whose requests failed measures no sends: left out of the medians (and the run reported invalid).
      if (measured.result.non2xx + measured.result.errors + base.result.non2xx + base.result.errors > 0) {
        failed = true;
        leftOut.push(round);
        continue;
      }
      roundRatios.push(measured.result.requests.average / base.result.requests.average);
      if (measured.cpuMsPerRequest !== undefined && base.cpuMsPerRequest) cpuRatios.push(measured.cpuMsPerRequest / base.cpuMsPerRequest);
    }
    const median = roundRatios.length ? medianOf(roundRatios) : NaN;
    const appRows = rows.filter((r) => r.label.startsWith(appTarget.label));
    // CPU per request moves much less than requests/s when other jobs share the machine: the steadier figure.
    const cpu = cpuRatios.length
      ? `; app CPU per send ÷ baseline's per request: ${medianOf(cpuRatios).toFixed(2)}` +
        (cpuRatios.length > 1 ? ` (median of ${cpuRatios.map((r) => r.toFixed(2)).join(', ')})` : '')
      : '';
    ratios.push(
      (options.rounds > 1
        ? `${kind}: ${median.toFixed(2)} (median of ${roundRatios.map((r) => r.toFixed(2)).join(', ')}` +
          (leftOut.length ? `; round ${leftOut.join(', ')} left out: requests failed)` : ')')
        : `${kind}: ${median.toFixed(2)} (${appRows[0].result.requests.average.toFixed(1)} / ${rows.at(-2)!.result.requests.average.toFixed(1)})`) +
        cpu,
    );
    if (failed) {
      const { exitCode, signalCode } = app.child;
      const state = exitCode !== null || signalCode !== null ? `exited (${exitCode ?? signalCode})` : 'still running';
      console.error(`app [${kind}] ${state}; its output (last lines):\n${app.tail()}`);
    }
    await app.stop();
    if (profileDir) profiles.push({ file: join(profileDir, `app-${kind}.cpuprofile`), skipMs: startupMs.get(kind) ?? 0 });
    if (kind !== 'sqlite-memory') await memoryPass(kind);
  }
  const valid = options.sections.includes('send') ? printReport(rows, ratios) : true;
  if (ops) printOps(ops);
  for (const [kind, memoryRows] of memory) printMemory(kind, memoryRows);
  for (const { file, skipMs } of profiles) {
    if (!existsSync(file)) console.error(`no profile at ${file} (the app did not exit normally?)`);
    else printProfileSummary(file, 20, skipMs);
  }
  return valid ? 0 : 2;
}

/** The middle value (the upper one of an even count). */
function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

await runBenchmark('bench:send', main);
