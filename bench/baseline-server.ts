/**
 * Child process of bench/send.ts: the bare baseline. `POST /send` with JSON `{ to, message }` makes
 * the same SDK call the app makes, through the app's own client factory as built in dist/ (so both
 * sides share the SDK, its keep-alive agent, the request timeout and the pool size), and answers 201 `{ sid }`.
 * No auth, no validation, no database: everything the app adds on top is what the benchmark measures.
 *
 * Env: BENCH_TWILIO_ACCOUNT_SID, BENCH_TWILIO_AUTH_TOKEN, BENCH_TWILIO_FROM, BENCH_TWILIO_BASE_URL; optional
 * BENCH_TWILIO_TIMEOUT_MS, the TWILIO_TIMEOUT_MS the app runs with (default 10000, the app's own default: bench/send.ts
 * sets TWILIO_TIMEOUT_MS for neither side), and BENCH_TWILIO_POOL_SIZE, the app's pool (max(20, SMS_MAX_CONCURRENCY):
 * bench/send.ts passes it; default 20, the factory's).
 * IPC: sends `{ type: 'ready', port }` once listening on 127.0.0.1.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// Typed from the source, loaded from the build: the very module `node dist/main.js` runs.
type TwilioClientFactory = typeof import('../src/sms/twilio/twilio-client.factory.js');
const factoryUrl = new URL('../dist/sms/twilio/twilio-client.factory.js', import.meta.url);
const { createTwilioClient } = (await import(factoryUrl.href)) as TwilioClientFactory;

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`baseline: ${name} is not set`);
  return value;
};
// The app passes its TWILIO_TIMEOUT_MS (AppConfig's default 10000 unless set): given explicitly here too, so the two
// sides do not share it only because the factory's own default happens to be the same number.
const timeoutMs = Number(process.env.BENCH_TWILIO_TIMEOUT_MS || 10_000);
if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new Error('baseline: BENCH_TWILIO_TIMEOUT_MS must be a positive integer');
const poolSize = Number(process.env.BENCH_TWILIO_POOL_SIZE || 20);
if (!Number.isInteger(poolSize) || poolSize <= 0) throw new Error('baseline: BENCH_TWILIO_POOL_SIZE must be a positive integer');
const client = createTwilioClient({
  accountSid: env('BENCH_TWILIO_ACCOUNT_SID'),
  authToken: env('BENCH_TWILIO_AUTH_TOKEN'),
  baseUrl: env('BENCH_TWILIO_BASE_URL'),
  timeoutMs,
  poolSize,
});
const from = env('BENCH_TWILIO_FROM');

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/send') return reply(res, 404, { message: 'not found' });
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let to: string, message: string;
    try {
      ({ to, message } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { to: string; message: string });
    } catch {
      return reply(res, 400, { message: 'invalid JSON' });
    }
    client.messages.create({ to, from, body: message }).then(
      (created) => reply(res, 201, { sid: created.sid }),
      (error: unknown) => reply(res, 502, { message: error instanceof Error ? error.message : String(error) }),
    );
  });
});

process.on('disconnect', () => process.exit(0));
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
