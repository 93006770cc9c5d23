import type { Logger } from '@nestjs/common';
import { KeyedThrottle } from '../../common/keyed-throttle.js';

/**
 * A failed attempt that will be made again leaves no other trace but the metrics: Twilio unreachable or hanging under
 * light traffic (too few calls to open the circuit) was silent in the log until a message failed for good, up to
 * SMS_OUTAGE_RETRY_MS later. One warning per error code and minute (KeyedThrottle), with how many more came meanwhile.
 */
export class RetryLines {
  private readonly throttle: KeyedThrottle;

  constructor(
    private readonly logger: Pick<Logger, 'warn'>,
    everyMs = 60_000,
  ) {
    this.throttle = new KeyedThrottle({ windowMs: everyMs, maxKeys: 100, maxEntriesPerWindow: Infinity });
  }

  failed(code: string, message: string, now = Date.now()): void {
    const decision = this.throttle.record(code, now);
    if (!decision.journal) return;
    const more = decision.count > 1 ? ` (and ${decision.count - 1} more since the last such line)` : '';
    this.logger.warn(`An SMS attempt failed with ${code}, retried later${more}: ${message}`);
  }
}
