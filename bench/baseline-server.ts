/**
 * Child process of bench/send.ts: the bare baseline. `POST /send` with JSON `{ to, message }` makes
 * the same SDK call the app makes, through the app's own client factory as built in dist/ (so both
 * sides share the SDK, its keep-alive agent and its pool limits), and answers 201 `{ sid }`.
 * No auth, no validation, no database: everything the app adds on top is what the benchmark measures.
 *
 * Env: BENCH_TWILIO_ACCOUNT_SID, BENCH_TWILIO_AUTH_TOKEN, BENCH_TWILIO_FROM, BENCH_TWILIO_BASE_URL.
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
const client = createTwilioClient({
  accountSid: env('BENCH_TWILIO_ACCOUNT_SID'),
  authToken: env('BENCH_TWILIO_AUTH_TOKEN'),
  baseUrl: env('BENCH_TWILIO_BASE_URL'),
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
