/**
 * Twilio's 13 message statuses and the order a message moves through them. Callbacks arrive out of
 * order and more than once: a status is applied only when its rank is higher than the stored one,
 * so a late `sent` never overwrites `delivered`. Statuses of equal rank (the final ones) never
 * replace each other: the first final answer wins.
 */
export const TWILIO_STATUSES = [
  'accepted',
  'scheduled',
  'queued',
  'sending',
  'sent',
  'delivered',
  'undelivered',
  'failed',
  'receiving',
  'received',
  'read',
  'partially_delivered',
  'canceled',
] as const;
export type TwilioStatus = (typeof TWILIO_STATUSES)[number];

/**
 * Rank of every status a row can hold. Our own states before Twilio has the message (pending,
 * queued by us, sending, dry-run) rank 0, below anything Twilio reports. Unknown statuses rank 0.
 */
export const STATUS_RANK: Readonly<Record<string, number>> = {
  pending: 0,
  accepted: 1,
  scheduled: 2,
  queued: 3,
  sending: 4,
  receiving: 4,
  sent: 5,
  received: 5,
  partially_delivered: 6,
  delivered: 7,
  undelivered: 7,
  failed: 7,
  canceled: 7,
  read: 8,
};

/** Statuses after which nothing more is expected (apart from `read`). */
export const FINAL_STATUSES: ReadonlySet<string> = new Set(['delivered', 'undelivered', 'failed', 'canceled', 'read']);
/** Statuses that count as "arrived" in delivery counts and rates. */
export const DELIVERED_STATUSES: readonly string[] = ['delivered', 'read'];
/** Statuses that count as "did not arrive". */
export const NOT_DELIVERED_STATUSES: readonly string[] = ['undelivered', 'failed', 'canceled'];

export function isTwilioStatus(value: string): value is TwilioStatus {
  return (TWILIO_STATUSES as readonly string[]).includes(value);
}

export function statusRank(status: string): number {
  return STATUS_RANK[status] ?? 0;
}

/** `CASE <column> WHEN 'accepted' THEN 1 … ELSE 0 END`: the rank table in SQL, for conditional updates. */
export function statusRankSql(column: string): string {
  const whens = Object.entries(STATUS_RANK)
    .filter(([, rank]) => rank > 0)
    .map(([status, rank]) => `WHEN '${status}' THEN ${rank}`)
    .join(' ');
  return `(CASE ${column} ${whens} ELSE 0 END)`;
}

/** Delivery counts of a group of messages (a batch, an appointment), from their statuses. */
export interface DeliveryCounts {
  total: number;
  /** delivered (or read) */
  delivered: number;
  undelivered: number;
  /** failed at Twilio or at our side (refused, retries exhausted) */
  failed: number;
  /** not sent on purpose: the number opted out, or the message was cancelled */
  skipped: number;
  cancelled: number;
  /** everything still on its way: waiting to leave, sending, or sent without a final answer yet */
  waiting: number;
}

export function deliveryCounts(statuses: Iterable<{ status: string; count?: number }>): DeliveryCounts {
  const counts: DeliveryCounts = { total: 0, delivered: 0, undelivered: 0, failed: 0, skipped: 0, cancelled: 0, waiting: 0 };
  for (const { status, count = 1 } of statuses) {
    counts.total += count;
    if (DELIVERED_STATUSES.includes(status)) counts.delivered += count;
    else if (status === 'undelivered') counts.undelivered += count;
    else if (status === 'failed') counts.failed += count;
    else if (status === 'skipped') counts.skipped += count;
    else if (status === 'cancelled' || status === 'canceled') counts.cancelled += count;
    else counts.waiting += count;
  }
  return counts;
}
