import type { Logger } from '@nestjs/common';
import type { Clock } from '../common/clock.js';
import type { AuditEntry, AuditService } from './audit.service.js';
import { KeyedThrottle, type ThrottleOptions } from '../common/keyed-throttle.js';

/** At most one entry per key and minute, 10,000 keys remembered, 100 entries a minute in all. */
export const REFUSAL_THROTTLE_DEFAULTS: ThrottleOptions = { windowMs: 60_000, maxKeys: 10_000, maxEntriesPerWindow: 100 };

/** Refusals an entry stands for beyond itself: set only when it sums refusals not journaled before it. */
export interface SummedRefusals {
  count: number;
  /** When the first of them came (ISO 8601). */
  refusedSince: string;
}

/**
 * The shape every refusal journal shares (a route's role refusals, `access_denied`; the webhooks' refusals,
 * `sms_webhook_refused`): one refusal in, through {@link KeyedThrottle} (the first of a key's minute journaled at
 * once, the others of that minute summed into its next entry as `count` and `refusedSince`), one warning when the
 * global cap holds entries back. A journal that cannot be written is logged and never changes the refusal's answer (a
 * 403 stays a 403 while the database is away).
 */
export abstract class RefusalJournal {
  private readonly throttle = new KeyedThrottle(REFUSAL_THROTTLE_DEFAULTS);

  protected constructor(
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** What is refused, in the warnings: "refused route calls". */
    private readonly refusals: string,
  ) {}

  /** Journals one refusal of `key` when the throttle lets it through; `entry` builds the row (`summed`: see above). */
  protected async journal(key: string, entry: (summed: SummedRefusals | undefined) => AuditEntry): Promise<void> {
    const decision = this.throttle.record(key, this.clock.now().getTime());
    if (!decision.journal) {
      if (decision.capReached)
        this.logger.warn(
          `More than ${REFUSAL_THROTTLE_DEFAULTS.maxEntriesPerWindow} ${this.refusals} journaled this minute: the next ones are journaled later, summed`,
        );
      return;
    }
    const summed = decision.count > 1 ? { count: decision.count, refusedSince: new Date(decision.firstAt).toISOString() } : undefined;
    try {
      await this.audit.record(entry(summed));
    } catch (error) {
      this.logger.warn(`Could not journal ${this.refusals}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
