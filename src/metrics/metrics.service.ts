import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the SMS side reports about its queue at scrape time (rows `queued` in sms_messages). */
export interface QueueSnapshot {
  /** Queued messages due now (no `notBefore`, or passed). */
  due: number;
  /** Queued messages waiting for a later `notBefore` (send later, retry backoff, marketing hours). */
  scheduled: number;
  /** Seconds since the oldest due message became due; 0 when none. */
  oldestDueAgeSeconds: number;
}

export type QueueProbe = () => Promise<QueueSnapshot>;

const EMPTY_QUEUE: QueueSnapshot = { due: 0, scheduled: 0, oldestDueAgeSeconds: 0 };

/** A Prometheus text exposition appended to the scrape (BullMQ's own `exportPrometheusMetrics`). */
export type ExternalExporter = () => Promise<string>;

export type WebhookOutcome = 'accepted' | 'refused_signature' | 'refused_not_configured' | 'refused_payload' | 'failed';

/** Route label for requests no route matched (a 404): never the raw URL, which would explode the series. */
export const UNMATCHED_ROUTE = 'unmatched';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The service's Prometheus metrics, in a registry of its own (not prom-client's global one), so
 * several apps in one process never collide. Feature code calls the typed methods; the queue
 * gauges are computed when Prometheus scrapes. Names are listed in the README.
 */
@Injectable()
export class MetricsService implements OnModuleDestroy {
  readonly registry = new Registry();
  private queueProbe: QueueProbe | null = null;
  private queueSnapshot: QueueSnapshot | null = null;
  private readonly exporters = new Map<string, ExternalExporter>();

  private readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly smsStates = new Counter({
    name: 'sms_messages_total',
    help: 'SMS reaching a state (queued, sending, sent, delivered, failed, cancelled…), by kind and category',
    labelNames: ['kind', 'category', 'state'] as const,
    registers: [this.registry],
  });
  private readonly twilioDuration = new Histogram({
    name: 'twilio_request_duration_seconds',
    help: "Time of calls to Twilio's API, by operation and outcome (ok or error)",
    labelNames: ['operation', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly twilioErrors = new Counter({
    name: 'twilio_errors_total',
    help: "Failed calls to Twilio's API, by operation and Twilio error code (or HTTP status, timeout, network)",
    labelNames: ['operation', 'code'] as const,
    registers: [this.registry],
  });
  private readonly retries = new Counter({
    name: 'sms_retries_total',
    help: 'SMS sends scheduled for another attempt, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly webhooks = new Counter({
    name: 'sms_webhooks_total',
    help: 'Twilio webhooks received, by type (status, inbound) and outcome (accepted, refused_signature…)',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly statusCallbacks = new Counter({
    name: 'sms_status_callbacks_total',
    help: 'Signed status callbacks by what they did (applied, stale, duplicate, unknown_message)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly reminders = new Counter({
    name: 'appointment_reminders_sent_total',
    help: 'Appointment reminders whose SMS went (counted when reminder_sent_at is set, not when claimed)',
    registers: [this.registry],
  });

  private readonly retentionPasses = new Counter({
    name: 'retention_passes_total',
    help: 'Retention purge passes (RETENTION_DAYS), by outcome: ok, interrupted (shutdown), failed',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly retentionRows = new Counter({
    name: 'retention_rows_purged_total',
    help: 'Rows the retention purge scrubbed or deleted, by step (smsMessages, auditLogs…)',
    labelNames: ['step'] as const,
    registers: [this.registry],
  });
  /** When the last complete retention pass ended (ms), or null before the first. */
  private retentionLastOkAt: number | null = null;

  private readonly circuit = new Gauge({
    name: 'sms_provider_circuit_state',
    help: "The circuit in front of Twilio (ProviderCircuit): 1 for this instance's current state (closed, open, half_open), 0 for the others",
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Gauges computed at scrape time from the database (the row is the truth, whatever queue is used):
    // scrape() takes one snapshot, then the gauges read it. When the database did not answer, the queue is not known:
    // its depth is left out and its age is NaN (not 0, which reads as an empty queue and silences an alert on the
    // age), and sms_queue_probe_success says 0.
    const snapshot = () => this.queueSnapshot;
    new Gauge({
      name: 'sms_queue_depth',
      help: 'SMS waiting in the queue (state queued): due now, or scheduled for later; absent when the database did not answer',
      labelNames: ['when'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        const known = snapshot();
        if (!known) return;
        this.set({ when: 'due' }, known.due);
        this.set({ when: 'scheduled' }, known.scheduled);
      },
    });
    new Gauge({
      name: 'sms_queue_oldest_age_seconds',
      help: 'Seconds the oldest due SMS has been waiting in the queue (0 when none, NaN when the database did not answer)',
      registers: [this.registry],
      collect() {
        this.set(snapshot()?.oldestDueAgeSeconds ?? Number.NaN);
      },
    });
    const retentionLastOkAt = () => this.retentionLastOkAt;
    new Gauge({
      name: 'retention_last_success_timestamp_seconds',
      help: 'When the last complete retention pass of this instance ended (Unix time); NaN before its first (or with retention off)',
      registers: [this.registry],
      collect() {
        const at = retentionLastOkAt();
        this.set(at === null ? Number.NaN : at / 1000);
      },
    });
    new Gauge({
      name: 'sms_queue_probe_success',
      help: 'Whether the queue gauges were read from the database at this scrape (1) or it did not answer (0)',
      registers: [this.registry],
      collect() {
        this.set(snapshot() ? 1 : 0);
      },
    });
  }

  onModuleDestroy(): void {
    this.registry.clear();
  }

  /** One answered HTTP request; `route` is the route pattern (`/api/sms/messages/:id`). */
  httpRequest(method: string, route: string | undefined, status: number, durationSeconds: number): void {
    const labels = { method, route: route ?? UNMATCHED_ROUTE, status: String(status) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, durationSeconds);
  }

  /** An SMS reached `state` (our states and Twilio's). */
  smsStateChanged(kind: string, category: string, state: string): void {
    this.smsStates.inc({ kind, category, state });
  }

  /** One call to Twilio's API; `errorCode` when it failed (Twilio's code, else the HTTP status, `timeout` or `network`). */
  twilioCall(durationMs: number, errorCode?: string | number, operation = 'messages.create'): void {
    this.twilioDuration.observe({ operation, outcome: errorCode === undefined ? 'ok' : 'error' }, durationMs / 1000);
    if (errorCode !== undefined) this.twilioErrors.inc({ operation, code: String(errorCode) });
  }

  /** A send that will be attempted again (`rate_limited`, `server_error`, `network`, `timeout`…). */
  retry(reason: string): void {
    this.retries.inc({ reason });
  }

  /** A Twilio webhook's outcome. */
  webhook(outcome: WebhookOutcome, type = 'status'): void {
    this.webhooks.inc({ type, outcome });
  }

  /** What an accepted status callback did to its message. */
  statusCallback(result: string): void {
    this.statusCallbacks.inc({ result });
  }

  /** The provider circuit's new state: `closed` (calls go), `open` (none for a while), `half_open` (one probe). */
  providerCircuit(state: 'closed' | 'open' | 'half_open'): void {
    for (const each of ['closed', 'open', 'half_open'] as const) this.circuit.set({ state: each }, each === state ? 1 : 0);
  }

  /** Rows one chunk of a retention step scrubbed or deleted (each chunk commits on its own: counted as it goes). */
  retentionPurged(step: string, rows: number): void {
    if (rows > 0) this.retentionRows.inc({ step }, rows);
  }

  /** A retention pass ended, and how. */
  retentionPass(outcome: 'ok' | 'interrupted' | 'failed', endedAt = new Date()): void {
    this.retentionPasses.inc({ outcome });
    if (outcome === 'ok') this.retentionLastOkAt = endedAt.getTime();
  }

  reminderSent(): void {
    this.reminders.inc();
  }

  /** The SMS side's queue query, run at each scrape. */
  setQueueProbe(probe: QueueProbe): void {
    this.queueProbe = probe;
  }

  /** Another exposition appended to the scrape (a BullMQ queue's own metrics). */
  addExporter(name: string, exporter: ExternalExporter): void {
    this.exporters.set(name, exporter);
  }

  removeExporter(name: string): void {
    this.exporters.delete(name);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The whole exposition, in Prometheus' text format. */
  async scrape(): Promise<string> {
    // A failing probe (the database is down) leaves the queue unknown rather than failing the scrape; without a probe
    // (nothing queues here), the queue is empty.
    this.queueSnapshot = this.queueProbe ? await this.queueProbe().catch(() => null) : EMPTY_QUEUE;
    const own = await this.registry.metrics();
    const external = await Promise.all([...this.exporters.values()].map((exporter) => exporter().catch(() => '')));
    return [own.trimEnd(), ...external.filter(Boolean).map((text) => text.trimEnd())].join('\n') + '\n';
  }
}
