import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { inject } from 'vitest';
import { AuditAction } from '../../src/audit/audit-action.enum.js';
import { AuditLog } from '../../src/audit/audit-log.entity.js';
import { bullmqPrefix } from '../../src/sms/dispatch/sms-bullmq.module.js';
import type { DatabaseKind } from './databases.js';
import { TestApp, twilioEnvironment } from './test-app.js';
import { testTwilioCredentials, TwilioStandIn, type TwilioStandInOptions } from './twilio-stand-in.js';

/** The two dispatch modes; BullMQ only when the run has Redis. */
export type DispatchMode = 'inline' | 'bullmq';

/** Settings for a dispatch mode: a unique BullMQ queue (and Redis key prefix) per app run, so parallel runs never share one. */
export function dispatchEnvironment(mode: DispatchMode, redisUrl: string | null, queueName = uniqueQueueName()): Record<string, string> {
  // Its own key prefix too: limits kept in Redis (sign-in, sends per user) are not shared with other runs.
  return mode === 'bullmq' ? { REDIS_URL: redisUrl!, SMS_QUEUE_NAME: queueName, REDIS_KEY_PREFIX: `${queueName}:` } : { REDIS_URL: '' };
}

export function uniqueQueueName(): string {
  return `sms-e2e-${randomBytes(6).toString('hex')}`;
}

/** The app's BullMQ queue of a test run (dispatchEnvironment: REDIS_KEY_PREFIX is `<queue name>:`), to look into it. */
export function testQueue(queueName: string, connection: Redis): Queue {
  return new Queue(queueName, { connection, prefix: bullmqPrefix(`${queueName}:`) });
}

/** Removes a test queue's keys from Redis. */
export async function dropQueue(redisUrl: string | null, queueName: string | undefined): Promise<void> {
  if (!redisUrl || !queueName) return;
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = testQueue(queueName, connection);
  try {
    await queue.obliterate({ force: true });
  } finally {
    await queue.close();
    await connection.quit();
  }
}

/** The Twilio stand-in and the app on it; `env` is what the app got (for a second instance), `close` stops both and drops the queue. */
export interface DispatchApp {
  standIn: TwilioStandIn;
  t: TestApp;
  queueName: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Starts the Twilio stand-in, then the app against it in a dispatch mode (default inline) with `env` on top. */
export async function startDispatchApp(
  kind: DatabaseKind,
  options: { mode?: DispatchMode; env?: Record<string, string>; standIn?: Omit<TwilioStandInOptions, 'accountSid' | 'authToken'> } = {},
): Promise<DispatchApp> {
  const { mode = 'inline', env = {} } = options;
  const credentials = testTwilioCredentials();
  const redisUrl = inject('redisUrl');
  const queueName = uniqueQueueName();
  const standIn = await TwilioStandIn.start({ ...credentials, ...options.standIn });
  const appEnv = { ...twilioEnvironment(standIn, credentials.authToken), ...dispatchEnvironment(mode, redisUrl, queueName), ...env };
  let t: TestApp | undefined;
  const close = async () => {
    await t?.close();
    await standIn.stop();
    if (mode === 'bullmq') await dropQueue(redisUrl, queueName);
  };
  try {
    t = await TestApp.start(kind, appEnv);
  } catch (error) {
    await close();
    throw error;
  }
  return { standIn, t, queueName, env: appEnv, close };
}

/** Polls a batch until it is no longer running (or the time is up) and returns its view. */
export async function waitForBatch(t: TestApp, token: string, batchId: string, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await t.http.get(`/api/sms/bulk/${batchId}`).set('Authorization', `Bearer ${token}`).expect(200);
    if (res.body.status !== 'running') return res.body;
    if (Date.now() > until) throw new Error(`batch still running after ${timeoutMs} ms: ${JSON.stringify(res.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Polls one message until `done` says so. */
export async function waitForMessage(
  t: TestApp,
  token: string,
  id: string,
  done: (m: Record<string, unknown>) => boolean,
  timeoutMs = 20_000,
) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await t.http.get(`/api/sms/messages/${id}`).set('Authorization', `Bearer ${token}`).expect(200);
    if (done(res.body)) return res.body;
    if (Date.now() > until) throw new Error(`message not done after ${timeoutMs} ms: ${JSON.stringify(res.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The journal entries of a batch's end (`send_bulk_sms`, phase `finished`): exactly one once it ended. */
export async function batchEndEntries(t: TestApp, batchId: string): Promise<AuditLog[]> {
  const entries = await t.get(DataSource).getRepository(AuditLog).findBy({ action: AuditAction.SendBulkSms, targetId: batchId });
  return entries.filter((e) => e.metadata?.phase === 'finished');
}
