import { Logger } from '@nestjs/common';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { AppConfig } from '../../config/app-config.js';
import type { DispatchQueue } from './dispatch-queue.js';
import type { SmsDispatcher } from './sms-dispatcher.js';
import type { SmsOutbox } from './sms-outbox.js';

interface SendJob {
  id: string;
}

/** Jobs per addBulk call. */
const ADD_CHUNK = 1000;

/**
 * With REDIS_URL: every instance shares one BullMQ queue, so the limits toward the provider hold for all
 * of them together: a global rate limit (`maxPerSecond` per second) and a global concurrency
 * (`maxConcurrency` jobs active at once) on the queue. A job is "look at message X" (jobId = the message
 * id, so a message is queued once); the worker claims the row by id and does nothing if the row says it
 * is not due (a stalled job redelivered, a message cancelled or already sent). A retry moves the same job
 * back to delayed. A sweep hands due rows whose job was lost (Redis down at write time, a job failed for
 * staying stalled) to the queue again.
 */
export class BullmqDispatchQueue implements DispatchQueue {
  readonly kind = 'bullmq';
  private readonly logger = new Logger('BullmqDispatchQueue');
  private readonly connections: Redis[] = [];
  private queue!: Queue<SendJob>;
  private worker!: Worker<SendJob>;
  private sweeper: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly redisUrl: string,
    private readonly outbox: SmsOutbox,
    private readonly dispatcher: SmsDispatcher,
    private readonly config: AppConfig['dispatch'],
  ) {}

  private connection(): Redis {
    const connection = new Redis(this.redisUrl, { maxRetriesPerRequest: null });
    this.connections.push(connection);
    return connection;
  }

  async start(): Promise<void> {
    const { queueName, maxConcurrency, maxPerSecond, leaseMs } = this.config;
    this.queue = new Queue<SendJob>(queueName, { connection: this.connection() });
    await this.queue.setGlobalConcurrency(maxConcurrency);
    this.worker = new Worker<SendJob>(queueName, (job, token) => this.handle(job, token), {
      connection: this.connection(),
      concurrency: maxConcurrency,
      limiter: { max: maxPerSecond, duration: 1000 },
      // The row's lease is what protects a message; the job lock only needs to outlive one attempt.
      lockDuration: leaseMs,
      maxStalledCount: 1000,
    });
    this.worker.on('error', (error) => this.logger.error(`BullMQ worker: ${error.message}`));
    this.sweeper = setInterval(() => void this.sweep(), Math.max(1000, this.config.pollIntervalMs * 5));
    this.sweeper.unref();
    void this.sweep();
    this.running = true;
  }

  readiness(): { ready: boolean; detail: string } {
    if (!this.running) return { ready: false, detail: 'BullMQ dispatcher not started' };
    if (!this.worker.isRunning()) return { ready: false, detail: 'BullMQ worker not running' };
    return { ready: true, detail: `bullmq, queue ${this.config.queueName}` };
  }

  /** BullMQ's own exposition: jobs by state, completed and failed totals. */
  exportMetrics(): Promise<string> {
    return this.running ? this.queue.exportPrometheusMetrics() : Promise.resolve('');
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.sweeper) clearInterval(this.sweeper);
    await this.worker?.close();
    await this.queue?.close();
    await Promise.allSettled(this.connections.map((c) => c.quit()));
  }

  notify(messages: readonly { id: string; notBefore: Date | null }[]): void {
    void this.add(messages).catch((error) =>
      this.logger.error(
        `Queueing ${messages.length} SMS failed (the sweep will retry): ${error instanceof Error ? error.message : String(error)}`,
      ),
    );
  }

  private async add(messages: readonly { id: string; notBefore: Date | null }[]): Promise<void> {
    const now = Date.now();
    for (let i = 0; i < messages.length; i += ADD_CHUNK) {
      await this.queue.addBulk(
        messages.slice(i, i + ADD_CHUNK).map((m) => ({
          name: 'send',
          data: { id: m.id },
          opts: { jobId: m.id, delay: Math.max(0, (m.notBefore?.getTime() ?? 0) - now), removeOnComplete: true, removeOnFail: true },
        })),
      );
    }
  }

  private async handle(job: Job<SendJob>, token?: string): Promise<void> {
    const message = await this.outbox.claimById(job.data.id, this.config.leaseMs);
    if (!message) {
      // Not due yet (send later): wait in Redis rather than poll; anything else: nothing to do.
      const row = await this.outbox.get(job.data.id);
      if (row?.notBefore && row.notBefore.getTime() > Date.now() && !row.providerSid && row.status === 'queued') {
        await job.moveToDelayed(row.notBefore.getTime(), token);
        throw new DelayedError();
      }
      return;
    }
    const result = await this.dispatcher.process(message);
    if (!result.final && 'retryAt' in result) {
      await job.moveToDelayed(result.retryAt.getTime(), token);
      throw new DelayedError();
    }
  }

  /** Due rows and abandoned leases back into the queue (an existing job with the same id is kept). */
  private async sweep(): Promise<void> {
    try {
      await this.add(await this.outbox.dueIds(5000));
    } catch (error) {
      this.logger.warn(`SMS sweep failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
