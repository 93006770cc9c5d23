/**
 * What a listener of an outbox event receives: the payload as written in the transaction, plus the
 * event's id. Delivery is at least once, so a listener must be idempotent: derive any unique key
 * from `id` (for an SMS: `dedupeKey: 'event:' + id`), so a replay finds its first effect.
 *
 * Listeners subscribe with `@OnEvent(type, { suppressErrors: false })`: a listener that throws makes
 * the relay deliver the event again later (to every listener of the type).
 */
export interface DomainEventEnvelope<P = unknown> {
  id: string;
  type: string;
  /** Plain JSON: dates travel as ISO 8601 strings. */
  payload: P;
  /** 1 on the first delivery. */
  attempt: number;
}

/** The options every outbox listener uses: errors go back to the relay, which retries. */
export const OUTBOX_LISTENER = { suppressErrors: false } as const;
