import { FailureStreak } from '../../common/failure-streak.js';
import { ThrottledLines } from '../../common/throttled-lines.js';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import { DelayedError, ErrorCode, type Job, type Queue } from 'bullmq';
import type { AppConfig } from '../../config/app-config.js';
import type { DispatchQueue, QueuedMessage } from './dispatch-queue.js';
import { bullmqConnection, bullmqPrefix } from './sms-bullmq.module.js';
import type { SmsDispatcher } from './sms-dispatcher.js';
import type { SmsOutbox } from './sms-outbox.js';
import type { RedisBootWait } from '../../redis/redis.module.js';

/** What this class reads of the queue's ioredis client. */
interface RedisClient {
  status?: string;
  options: { commandTimeout?: number };
  on(event: 'ready', listener: () => void): unknown;
  ping(): Promise<unknown>;
}

interface SendJob {
  id: string;
}

/** Jobs per addBulk call. */
const ADD_CHUNK = 1000;
/** A batch message's job priority (BullMQ: lower runs first, none before any). */
const BULK_PRIORITY = 10;
/** Jobs removed at once (one Lua script each) when their messages are cancelled. */
const REMOVE_CHUNK = 200;
/** How long stop() lets the worker, then the queue, finish their Redis bookkeeping once our own calls are done. */
const CLOSE_WAIT_MS = 3000;
/**
 * How long stop() waits for a dropped connection to say it ended: ioredis never does when it is dropped while
 * reconnecting (Redis refusing connections), and BullMQ's disconnect() waits for that.
 */
const DISCONNECT_WAIT_MS = 1000;
/**
 * How long a command of the queue's connection may go unanswered once it is connected: with a Redis that hangs
 * (connected, silent), a scrape of /api/metrics (BullMQ's exporter), a sweep and a job's queueing end instead of
 * waiting for TCP to give up. Not on the worker's connections: one of them blocks on purpose, waiting for jobs.
 */
export const QUEUE_COMMAND_TIMEOUT_MS = 3000;
/**
 * How long a worker's hold on a job (BullMQ's job lock) lasts without renewal. An active job holds one of the queue's
 * global slots (SMS_MAX_CONCURRENCY, counted on BullMQ's active list) until it ends or BullMQ finds its lock gone, so
 * a dead instance's (SIGKILL, Redis cut off) slots come back within JOB_LOCK_MS + STALLED_CHECK_MS or so, not after
 * SMS_LEASE_MS (30 s) and a 30 s stalled check. A live worker's locks are renewed by BullMQ at most JOB_LOCK_MS / 2
 * after the last renewal (its lockRenewTime is half the lock, checked every quarter), so it keeps them unless its event
 * loop is blocked for about 2.5 s (a 10,000-recipient accept blocks it 200-400 ms). The row's lease (SMS_LEASE_MS), not this
 * lock, decides who may send: a redelivered job whose row is still leased does nothing and ends (no slot held
 * while it waits); the sweep queues the row again once its lease has run out, and it is looked up at Twilio first.
 */
export const JOB_LOCK_MS = 5000;
/**
 * BullMQ's errors about a job's own lock (lost, taken over, not renewed), as opposed to its connection's: those of its
 * scripts carry their ErrorCode (JobLockNotExist, JobLockMismatch); the lock manager's renewal failure has no code,
 * only its text (also emitted as `lockRenewalFailed`). The texts are kept as a fallback for the coded ones.
 */
const LOST_JOB_LOCK_CODES: ReadonlySet<unknown> = new Set([ErrorCode.JobLockNotExist, ErrorCode.JobLockMismatch, ErrorCode.JobNotExist]);
// `Missing key for job` (JobNotExist): the job itself is gone while it ran (Redis flushed, or a key evicted): the same
// as a lost lock here, the row still decides; not an outage.
const LOST_JOB_LOCK = /^(Missing lock for job|Lock mismatch for job|could not renew lock for job|Missing key for job)/;
const isLostJobLock = (error: Error) =>
  LOST_JOB_LOCK_CODES.has((error as Error & { code?: unknown }).code) || LOST_JOB_LOCK.test(error.message);
/** How often BullMQ looks for active jobs whose lock is gone (one check a period for all instances; BullMQ's default: 30 s). */
export const STALLED_CHECK_MS = 2000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * With REDIS_URL: every instance shares one BullMQ queue, so the limits toward the provider hold for all
 * of them together: a global rate limit (`maxPerSecond` per second) and a global concurrency
 * (`maxConcurrency` jobs active at once) on the queue. A job is "look at message X" (jobId = the message
 * id, so a message is queued once); the worker claims the row by id and does nothing if the row says it
 * is not due (a stalled job redelivered, a message cancelled or already sent). A retry moves the same job
 * back to delayed. A sweep hands due rows whose job was lost (Redis down at write time, a job failed for
 * staying stalled) to the queue again.
 *
 * `@nestjs/bullmq` builds the queue (SmsBullmqModule) and the worker: this class is the queue's
 * `@Processor` ({@link BullmqDispatchQueue.configured} applies it with the settings' name and limits). The
 * worker does not run on its own (`autorun: false`): start() connects, waiting at most what is left of the boot's
 * 2 s for Redis (RedisBootWait), so the app boots
 * and writes rows while Redis is down, and readiness says so until Redis answers; then the queue's global
 * concurrency is set, the worker runs and a sweep queues what was written meanwhile.
 */
export class BullmqDispatchQueue extends WorkerHost implements DispatchQueue {
  readonly kind = 'bullmq';
  private readonly logger = new Logger('BullmqDispatchQueue');
  /** The sweep failing every few seconds while the database or Redis is away: said once, and its end once. */
  private readonly sweeps = new FailureStreak(this.logger, 'SMS sweep', 'warn');
  private sweeper: NodeJS.Timeout | null = null;
  private started = false;
  /** Redis answered once: the global concurrency is set and the worker runs. */
  private connected = false;
  /** The queue's ioredis client once BullMQ is ready (before `connected`): its status says whether Redis answers now. */
  private client: RedisClient | null = null;
  /** Our own handlers in flight: stop() waits for them (they write to the database) before anything closes. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private errorReported = false;
  /** Job locks lost: one line per 10 s with how many (see onWorkerError). */
  private readonly lostLocks = new ThrottledLines((line) => this.logger.warn(line), 10_000);

  /**
   * The class `@nestjs/bullmq` discovers as the queue's worker: `@Processor` with the configured queue name,
   * concurrency and rate limit (decorator metadata is per class, so each app gets its own subclass).
   */
  static configured(config: AppConfig): new (...args: ConstructorParameters<typeof BullmqDispatchQueue>) => BullmqDispatchQueue {
    const { queueName, maxConcurrency, maxPerSecond } = config.dispatch;
    class ConfiguredBullmqDispatchQueue extends BullmqDispatchQueue {}
    Processor(queueName, {
      connection: bullmqConnection(config.redisUrl!, 'worker'),
      prefix: bullmqPrefix(config.redisKeyPrefix),
      autorun: false,
      concurrency: maxConcurrency,
      limiter: { max: maxPerSecond, duration: 1000 },
      // The row's lease is what protects a message; the job lock (renewed by BullMQ while the job runs) only says which
      // instance is alive to hold a slot of the global concurrency: short, so a dead one's slots come back in seconds.
      lockDuration: JOB_LOCK_MS,
      stalledInterval: STALLED_CHECK_MS,
      maxStalledCount: 1000,
      // After a Redis outage the worker fetches again within a second or two (BullMQ's default: 15 s).
      runRetryDelay: 1000,
    })(ConfiguredBullmqDispatchQueue);
    return ConfiguredBullmqDispatchQueue;
  }

  constructor(
    private readonly queue: Queue<SendJob>,
    private readonly outbox: SmsOutbox,
    private readonly dispatcher: SmsDispatcher,
    private readonly config: AppConfig['dispatch'],
    private readonly bootWait: RedisBootWait,
  ) {
    super();
    queue.on('error', (error) => this.reportError('queue', error));
  }

  /** One line per outage, not one per reconnection attempt. */
  private reportError(what: string, error: Error): void {
    if (this.errorReported) return;
    this.errorReported = true;
    this.logger.error(`BullMQ ${what}: ${error.message} (the dispatcher waits for Redis)`);
  }

  @OnWorkerEvent('error')
  onWorkerError(error: Error): void {
    // A job whose lock ran out while it ran (the event loop blocked for seconds, Redis slow): BullMQ gave its slot
    // back and may redeliver it; the row's lease still decides who sends. Not an outage: it neither claims the
    // outage's one line (the next real outage would go unsaid) nor floods the log (one line per 10 s, with a count).
    if (isLostJobLock(error)) {
      this.lostLocks.say(
        'lost',
        (more) =>
          `BullMQ worker: ${more + 1} job lock(s) lost while their job ran (last: ${error.message}); their rows' leases still decide who sends`,
      );
      return;
    }
    this.reportError('worker', error);
  }

  @OnWorkerEvent('ready')
  onWorkerReady(): void {
    this.errorReported = false;
  }

  start(): Promise<void> {
    if (this.started) return Promise.resolve();
    if (this.worker.closing) return Promise.reject(new Error('The BullMQ dispatcher cannot start again once stopped'));
    this.started = true;
    this.sweeper = setInterval(() => void this.sweep(), Math.max(1000, this.config.pollIntervalMs * 5));
    this.sweeper.unref();
    // Redis up: connected before the app listens, as it always was. Down: the app boots anyway.
    return this.bootWait.race(this.connect());
  }

  /** Waits for Redis as long as it takes (never at boot's expense), then sets the limit and runs the worker. */
  private async connect(): Promise<void> {
    while (this.started) {
      try {
        await this.queue.waitUntilReady();
        if (!this.started) return;
        const client = (await this.queue.getBackend().client) as unknown as RedisClient;
        if (!this.started) return;
        this.client = client;
        // Only once ready: BullMQ checks the server once when it first connects and never again, so a timeout during
        // that check would leave the queue failing until a restart. From here on (the limit set just below included:
        // a Redis silent then would otherwise hold it, and the shutdown's QUIT after it, for ever). ioredis reads this
        // option at every command.
        this.client.options.commandTimeout = QUEUE_COMMAND_TIMEOUT_MS;
        await this.queue.setGlobalConcurrency(this.config.maxConcurrency);
        if (!this.started) return;
        // Back after an outage (perhaps an empty Redis): the limit again, and what was written meanwhile.
        this.client.on('ready', () => void this.reconnected());
        this.connected = true;
        this.errorReported = false;
        this.logger.log(`BullMQ dispatcher connected (queue ${this.config.queueName})`);
        void this.worker.run().catch((error) => this.logger.error(`BullMQ worker stopped: ${messageOf(error)}`));
        void this.sweep();
        return;
      } catch (error) {
        if (!this.started) return;
        this.reportError('queue', error instanceof Error ? error : new Error(String(error)));
        await sleep(1000);
      }
    }
  }

  private async reconnected(): Promise<void> {
    if (!this.started) return;
    this.errorReported = false;
    try {
      await this.queue.setGlobalConcurrency(this.config.maxConcurrency);
      this.logger.log(`BullMQ dispatcher reconnected (queue ${this.config.queueName})`);
    } catch (error) {
      this.logger.warn(`Setting the global concurrency again failed: ${messageOf(error)}`);
    }
    await this.sweep();
  }

  /** Whether the queue's own connection answers now (after a first connection). */
  private redisUp(): boolean {
    return this.connected && this.client?.status === 'ready';
  }

  readiness(): { ready: boolean; detail: string } {
    if (!this.started) return { ready: false, detail: 'BullMQ dispatcher not started' };
    if (!this.connected) return { ready: false, detail: `BullMQ dispatcher waiting for Redis (queue ${this.config.queueName})` };
    if (!this.redisUp()) return { ready: false, detail: `BullMQ dispatcher lost Redis (queue ${this.config.queueName})` };
    if (!this.worker.isRunning()) return { ready: false, detail: 'BullMQ worker not running' };
    return { ready: true, detail: `bullmq, queue ${this.config.queueName}` };
  }

  /** BullMQ's own exposition: jobs by state, completed and failed totals (nothing while Redis is away). */
  async exportMetrics(): Promise<string> {
    return this.started && this.redisUp() ? this.queue.exportPrometheusMetrics() : '';
  }

  /**
   * The worker takes no new job; our calls in flight finish and store their answers before the database
   * closes. The worker's Redis bookkeeping gets a few seconds: with Redis away it would wait for ever, and
   * a job left active is redelivered later, which the row makes harmless. The queue is closed here too, as
   * boundedly (`@nestjs/bullmq`'s own close of it at shutdown then finds it closed).
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.sweeper) clearInterval(this.sweeper);
    this.lostLocks.close();
    // Redis away (refusing): closed at once (forced), as its QUIT would wait in ioredis's offline queue for ever.
    const up = this.redisUp();
    const closing = this.worker.close(!up).catch((error) => this.logger.warn(`Closing the BullMQ worker: ${messageOf(error)}`));
    await Promise.allSettled([...this.inFlight]);
    const closed = await Promise.race([closing.then(() => true), sleep(CLOSE_WAIT_MS).then(() => false)]);
    if (!closed) {
      // Connected but not answering (a hung Redis): dropping its connections ends the close.
      this.logger.warn('BullMQ worker did not close in time (Redis away?): disconnecting it');
      await Promise.race([this.worker.disconnect().catch(() => undefined), sleep(DISCONNECT_WAIT_MS)]);
    }
    // The queue's connection too: with a Redis that hangs (or a network dropping packets) its QUIT is never answered,
    // and `@nestjs/bullmq`'s own close of this queue at shutdown would wait for ever with it (the process would not
    // exit on SIGTERM). A live connection that does not answer within CLOSE_WAIT_MS is dropped. One that is
    // reconnecting is left alone: its QUIT fails at the next failed reconnection (`maxRetriesPerRequest: 1`, see
    // bullmqConnection), which ends the close; dropping it then would stop the reconnections and keep the QUIT for ever.
    // Its QUIT is bounded here, not by the command timeout: a timed-out QUIT fails the close, which `@nestjs/bullmq`'s
    // own close of this queue would then report as an error at every shutdown with a hung Redis.
    if (this.client) this.client.options.commandTimeout = undefined;
    const queueClosed = await Promise.race([
      this.queue.close().then(
        () => true,
        () => true,
      ),
      sleep(CLOSE_WAIT_MS).then(() => false),
    ]);
    if (!queueClosed && this.client?.status === 'ready') {
      this.logger.warn('BullMQ queue did not close in time (Redis not answering): disconnecting it');
      await Promise.race([this.queue.disconnect().catch(() => undefined), sleep(DISCONNECT_WAIT_MS)]);
    }
  }

  notify(messages: readonly QueuedMessage[]): void {
    // Redis not reached yet, or away now: the rows wait, the sweep queues them once it answers (a job would wait in
    // ioredis's offline queue, ahead of the queue's QUIT at shutdown). Stopped (shutdown): they wait for the next
    // start, or another instance's sweep.
    if (!this.started || !this.redisUp()) return;
    const add = () =>
      void this.add(messages).catch((error) =>
        this.logger.error(`Queueing ${messages.length} SMS failed (the sweep will retry): ${messageOf(error)}`),
      );
    // A batch's jobs are built after the caller's answer has gone (building 1,000 jobs takes milliseconds of
    // this thread); a single message is queued at once.
    if (messages.length > 1) setImmediate(add);
    else add();
  }

  private async add(messages: readonly QueuedMessage[]): Promise<void> {
    const now = Date.now();
    // Redis connected but silent (a hang): one PING fails after QUEUE_COMMAND_TIMEOUT_MS, where a batch's or a sweep's
    // thousand jobs would each wait in ioredis's memory for an answer, time after time (a timed-out command stays
    // there until Redis answers or the connection closes). The rows stay; a later sweep queues them.
    if (messages.length > 1) await this.client!.ping();
    for (let i = 0; i < messages.length; i += ADD_CHUNK) {
      const chunk = messages.slice(i, i + ADD_CHUNK);
      await this.queue.addBulk(
        chunk.map((m) => ({
          name: 'send',
          data: { id: m.id },
          opts: {
            jobId: m.id,
            delay: Math.max(0, (m.notBefore?.getTime() ?? 0) - now),
            removeOnComplete: true,
            removeOnFail: true,
            // BullMQ takes jobs without a priority first: a batch's messages never hold a confirmation back.
            ...(m.bulk ? { priority: BULK_PRIORITY } : {}),
          },
        })),
      );
      // A cancellation committed while these jobs were being added (the batch cancelled right after its 202, on this
      // instance or another) removed the jobs that existed then: the ones added after are removed here. Either this
      // read sees the cancellation, or the cancellation's forget() came after these jobs existed.
      // The jobs are queued already: a failed read leaves them (each finds its row cancelled), not the add failed.
      if (messages.length > 1 && this.started)
        this.forget(
          await this.outbox.cancelledAmong(chunk.map((m) => m.id)).catch((error: unknown) => {
            this.logger.warn(`Could not check ${chunk.length} queued SMS for cancellations: ${messageOf(error)}`);
            return [];
          }),
        );
    }
  }

  /**
   * A cancelled batch's jobs would each still take a turn of the global rate limit (10 per second by default): a
   * cancelled 10,000-recipient batch held every later SMS back for 17 minutes. They are removed instead, in the
   * background; BullMQ leaves an active (locked) job alone, and a job left behind finds its row cancelled.
   */
  forget(ids: readonly string[]): void {
    // Stopped (shutdown): the queue is closing; a job left behind finds its row cancelled.
    if (!ids.length || !this.started || !this.redisUp()) return;
    void (async () => {
      for (let i = 0; i < ids.length; i += REMOVE_CHUNK)
        await Promise.all(ids.slice(i, i + REMOVE_CHUNK).map((id) => this.queue.remove(id, { removeChildren: false })));
    })().catch((error) =>
      this.logger.warn(`Removing the jobs of ${ids.length} cancelled SMS failed (each does nothing when it comes): ${messageOf(error)}`),
    );
  }

  /**
   * The worker's processor (`@nestjs/bullmq` binds it): claim the row and send (our part, which stop() waits
   * for), then, when the row must wait (send later, a retry), move the job back to delayed.
   */
  async process(job: Job<SendJob>, token?: string): Promise<void> {
    const work = this.handle(job.data.id);
    this.inFlight.add(work);
    let waitUntil: number | null;
    try {
      waitUntil = await work;
    } finally {
      this.inFlight.delete(work);
    }
    if (waitUntil !== null) {
      await job.moveToDelayed(waitUntil, token);
      throw new DelayedError();
    }
  }

  /** Claims and sends message `id`; answers when its job should come back (null: the job is done). */
  private async handle(id: string): Promise<number | null> {
    const message = await this.outbox.claimById(id, this.config.leaseMs);
    if (!message) {
      // Not due yet (send later): wait in Redis rather than poll; anything else: nothing to do.
      const row = await this.outbox.get(id);
      const due = row?.notBefore?.getTime() ?? 0;
      return due > Date.now() && !row!.providerSid && row!.status === 'queued' ? due : null;
    }
    const result = await this.dispatcher.process(message);
    return !result.final && 'retryAt' in result ? result.retryAt.getTime() : null;
  }

  /**
   * Due rows and abandoned leases back into the queue (an existing job with the same id is kept), and the global
   * concurrency set again: BullMQ keeps it in the queue's meta key, which a FLUSHALL or an eviction (a maxmemory policy
   * other than noeviction) removes without any reconnection; each worker would then run its own concurrency, the
   * limit times the instances.
   */
  private async sweep(): Promise<void> {
    if (!this.started || !this.redisUp()) return;
    try {
      await this.queue.setGlobalConcurrency(this.config.maxConcurrency);
      await this.add(await this.outbox.dueIds(5000));
      this.sweeps.succeeded();
    } catch (error) {
      this.sweeps.failed(error);
    }
  }
}
