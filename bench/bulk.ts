/**
 * Benchmark of bulk sends through the outbox: POST /api/sms/bulk with many recipients against the Twilio
 * stand-in answering after a fixed latency. Per database (SQLite, PostgreSQL), dispatch mode (inline,
 * BullMQ with Redis) and latency: the time to accept the batch, the dispatch rate against what the limits
 * allow (min(SMS_MAX_PER_SECOND, SMS_MAX_CONCURRENCY / latency)), the peak concurrency and per-second
 * starts the stand-in saw, duplicates at the stand-in, and the app's peak RSS.
 * Usage: bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { testTwilioCredentials } from '../test/support/twilio-stand-in.js';
import { createDatabase } from './database.js';
import { readOptions } from './options.js';
import { ask, baseEnv, freePort, HarnessError, onCleanup, runBenchmark, startApp, startTsChild, waitForOk } from './processes.js';

const USAGE = `Usage: npm run bench:bulk -- [--recipients 10000] [--per-request 10000] [--accept-rounds 3] [--latencies 50,200] [--rate 500] [--concurrency 50]
                           [--databases sqlite,postgres] [--modes inline,bullmq] [--redis-url redis://127.0.0.1:6379]
                           [--postgres-url postgres://postgres@127.0.0.1:5432/postgres]
(env: BENCH_RECIPIENTS, BENCH_PER_REQUEST, BENCH_ACCEPT_ROUNDS, BENCH_LATENCIES, BENCH_RATE, BENCH_CONCURRENCY, BENCH_DATABASES, BENCH_MODES, BENCH_REDIS_URL, BENCH_POSTGRES_URL)`;

const FROM = '+33700000000';
const ADMIN = { email: 'bench@example.test', password: 'bench-password-' + randomBytes(6).toString('hex') };
const DIST_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const json = { 'content-type': 'application/json' };

interface Stats {
  messages: number;
  duplicates: number;
  peakInFlight: number;
  peakCreatesPerSecond: number;
  firstCreate: number | null;
  lastCreate: number | null;
}

function parseOptions() {
  const { pick, whole, list, databases } = readOptions(
    ['recipients', 'per-request', 'accept-rounds', 'latencies', 'rate', 'concurrency', 'databases', 'modes', 'redis-url', 'postgres-url'],
    USAGE,
  );
  return {
    recipients: whole('recipients', 10_000),
    perRequest: whole('per-request', 10_000),
    acceptRounds: whole('accept-rounds', 3),
    latencies: list('latencies', '50,200').map(Number),
    rate: whole('rate', 500),
    concurrency: whole('concurrency', 50),
    databases: databases(),
    modes: list('modes', 'inline,bullmq') as Array<'inline' | 'bullmq'>,
    redisUrl: pick('redis-url') ?? 'redis://127.0.0.1:6379',
    postgresUrl: pick('postgres-url') ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  };
}

/** The app's peak resident set (VmHWM), in MB. */
function peakRssMb(pid: number | undefined): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round(kb / 1024) : null;
  } catch {
    return null;
  }
}

async function redisProblem(url: string): Promise<string | null> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    redis.disconnect();
  }
}

async function main(): Promise<number> {
  const options = parseOptions();
  if (!existsSync(DIST_MAIN)) throw new HarnessError(`${DIST_MAIN} is missing: run \`npm run build\` first`);
  const cpu = cpus();
  console.log(
    `bench:bulk - node ${process.version}, ${cpu.length} CPU (${cpu[0]?.model.trim()}); ${options.recipients} recipients, ` +
      `SMS_MAX_PER_SECOND=${options.rate}, SMS_MAX_CONCURRENCY=${options.concurrency}, stand-in latencies ${options.latencies.join(', ')} ms`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'bench-bulk-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const credentials = testTwilioCredentials();
  const standIn = await startTsChild<{ baseUrl: string }>(new URL('./stand-in-server.ts', import.meta.url), baseEnv(), 'stand-in');
  const redisSkip = options.modes.includes('bullmq') ? await redisProblem(options.redisUrl) : null;

  const rows: string[][] = [];
  let problems = 0;
  for (const kind of options.databases) {
    for (const mode of options.modes) {
      if (mode === 'bullmq' && redisSkip) {
        rows.push([kind, mode, '-', `skipped: Redis at ${options.redisUrl} (${redisSkip})`]);
        continue;
      }
      for (const latency of options.latencies) {
        const database = await createDatabase(kind, join(dir, `${kind}-${mode}-${latency}`), options.postgresUrl);
        if ('skipped' in database) {
          rows.push([kind, mode, String(latency), `skipped: ${database.skipped}`]);
          continue;
        }
        const queueName = `bench-bulk-${randomBytes(4).toString('hex')}`;
        const port = await freePort();
        const app = startApp(
          DIST_MAIN,
          {
            ...baseEnv(),
            PORT: String(port),
            NODE_ENV: 'production',
            DATABASE_URL: database.url,
            JWT_SECRET: randomBytes(32).toString('hex'),
            ADMIN_EMAIL: ADMIN.email,
            ADMIN_PASSWORD: ADMIN.password,
            TWILIO_ACCOUNT_SID: credentials.accountSid,
            TWILIO_AUTH_TOKEN: credentials.authToken,
            TWILIO_PHONE_NUMBER: FROM,
            TWILIO_API_BASE_URL: standIn.ready.baseUrl,
            SMS_BULK_MAX_RECIPIENTS: String(Math.max(10_000, options.perRequest)),
            SMS_MAX_PER_SECOND: String(options.rate),
            SMS_MAX_CONCURRENCY: String(options.concurrency),
            REDIS_URL: mode === 'bullmq' ? options.redisUrl : '',
            SMS_QUEUE_NAME: queueName,
            REDIS_KEY_PREFIX: `${queueName}:`,
            LOG_LEVEL: 'warn',
            QUIET_HOURS: '',
          },
          dir,
        );
        const stopApp = app.stop;
        if (mode === 'bullmq') {
          onCleanup(async () => {
            const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
            const queue = new Queue(queueName, { connection, prefix: `${queueName}:bull` });
            await queue.obliterate({ force: true }).catch(() => undefined);
            await queue.close();
            await connection.quit();
          });
        }
        const origin = `http://127.0.0.1:${port}`;
        await waitForOk(`${origin}/api/health`, app);
        const login = await fetch(`${origin}/api/auth/login`, { method: 'POST', headers: json, body: JSON.stringify(ADMIN) });
        const { access_token: token } = (await login.json()) as { access_token?: string };
        if (!token) throw new HarnessError(`sign-in answered ${login.status}:\n${app.tail()}`);
        const headers = { ...json, authorization: `Bearer ${token}` };
        const post = (n: number, offset: number, sendAt?: string) =>
          fetch(`${origin}/api/sms/bulk`, {
            method: 'POST',
            headers,
            body: JSON.stringify({
              recipients: Array.from({ length: n }, (_, i) => ({
                phone: `+3361${String(offset + i).padStart(7, '0')}`,
                name: `Client ${i}`,
              })),
              message: 'Bonjour {{name}}, votre rendez-vous est confirmé.',
              ...(sendAt ? { sendAt } : {}),
            }),
          });
        const waitDone = async (batchId: string) => {
          for (;;) {
            const res = await fetch(`${origin}/api/sms/bulk/${batchId}`, { headers });
            const batch = (await res.json()) as { status: string; counts: Record<string, number>; startedAt: string; finishedAt: string };
            if (batch.status !== 'running') return batch;
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        };
        // Warm-up: a small batch at once (JIT, statement caches, connections), not measured.
        await ask(standIn.child, { type: 'behave', behaviour: {} }, 'behaved');
        const warm = await post(200, 9_000_000);
        await waitDone(((await warm.json()) as { batchId: string }).batchId);
        await ask(standIn.child, { type: 'take' }, 'taken');
        await ask(standIn.child, { type: 'behave', behaviour: { delayMs: latency } }, 'behaved');

        // --accept-rounds batches of the measured size first (sent 30 days later, then cancelled: nothing is
        // sent): the first request of a fresh process pays for JIT compilation; the measured batch comes after.
        const warmAccepts: number[] = [];
        const later = new Date(Date.now() + 30 * 86_400_000).toISOString();
        for (let round = 0; round < options.acceptRounds; round++) {
          const n = Math.min(options.perRequest, options.recipients);
          const started = performance.now();
          const res = await post(n, 5_000_000 + round * n, later);
          warmAccepts.push(performance.now() - started);
          const accepted = (await res.json()) as { batchId: string };
          if (res.status !== 202) throw new HarnessError(`bulk answered ${res.status}: ${JSON.stringify(accepted).slice(0, 300)}`);
          const cancel = await fetch(`${origin}/api/sms/bulk/${accepted.batchId}/cancel`, {
            method: 'POST',
            headers: { authorization: headers.authorization },
          });
          if (!cancel.ok) throw new HarnessError(`cancel answered ${cancel.status}`);
          // Let the app finish what follows an accept (with BullMQ: queueing its 10,000 jobs) before the next one.
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
        if (warmAccepts.length) {
          console.log(
            `  ${kind} ${mode} ${latency} ms: accept rounds before the measured batch: ${warmAccepts.map((t) => t.toFixed(0)).join(', ')} ms`,
          );
        }

        // More recipients than one request takes (--per-request; a body holds at most 100,000 JSON values, about
        // 33,000 recipients) are accepted as several batches, one request after the other, then sent together.
        const batchIds: string[] = [];
        const acceptTimes: number[] = [];
        for (let offset = 0; offset < options.recipients; offset += options.perRequest) {
          const started = performance.now();
          const res = await post(Math.min(options.perRequest, options.recipients - offset), offset);
          acceptTimes.push(performance.now() - started);
          const accepted = (await res.json()) as { batchId: string; queued: number };
          if (res.status !== 202) throw new HarnessError(`bulk answered ${res.status}: ${JSON.stringify(accepted).slice(0, 300)}`);
          batchIds.push(accepted.batchId);
        }
        const acceptMs = acceptTimes[0]!;
        const batches = [];
        for (const batchId of batchIds) batches.push(await waitDone(batchId));
        const batch = { counts: { sent: batches.reduce((n, b) => n + (b.counts.sent ?? 0), 0) } };
        if (batchIds.length > 1) {
          console.log(
            `  ${kind} ${mode} ${latency} ms: ${batchIds.length} requests of up to ${options.perRequest} accepted in ` +
              `${acceptTimes.map((t) => t.toFixed(0)).join(', ')} ms`,
          );
        }
        const stats = await ask<Stats>(standIn.child, { type: 'stats' }, 'stats');
        await ask(standIn.child, { type: 'take' }, 'taken');
        const rss = peakRssMb(app.child.pid);
        const seconds = ((stats.lastCreate ?? 0) - (stats.firstCreate ?? 0)) / 1000;
        const rate = seconds > 0 ? (stats.messages - 1) / seconds : 0;
        const allowed = Math.min(options.rate, options.concurrency / (latency / 1000));
        const ok = batch.counts.sent === options.recipients && stats.duplicates === 0 && stats.peakInFlight <= options.concurrency;
        if (!ok) problems += 1;
        rows.push([
          kind,
          mode,
          String(latency),
          acceptMs.toFixed(0),
          rate.toFixed(1),
          allowed.toFixed(1),
          `${((rate / allowed) * 100).toFixed(1)} %`,
          String(stats.peakInFlight),
          String(stats.peakCreatesPerSecond),
          String(batch.counts.sent),
          String(stats.duplicates),
          rss === null ? '?' : String(rss),
        ]);
        console.log(`  ${rows.at(-1)!.join(' | ')}`);
        await stopApp();
      }
    }
  }
  const header = [
    'db',
    'mode',
    'latency ms',
    'accept ms',
    'sends/s',
    'allowed/s',
    'of allowed',
    'peak in flight',
    'peak/s',
    'sent',
    'dupes',
    'peak RSS MB',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (c: string[]) => c.map((v, i) => (v ?? '').padEnd(widths[i])).join('  ');
  console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}`);
  if (problems) console.error(`\n!!! ${problems} run(s) did not send every recipient exactly once within the limits`);
  return problems ? 2 : 0;
}

await runBenchmark('bench:bulk', main);
