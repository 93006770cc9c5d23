import type { Logger } from '@nestjs/common';
import { ThrottledLines } from '../../common/throttled-lines.js';

/**
 * What the dispatcher says about events that come by the hundred in a bad minute, one line per kind and minute with
 * how many more came (ThrottledLines):
 * - a failed attempt that will be made again leaves no other trace but the metrics: Twilio unreachable or hanging under
 *   light traffic (too few calls to open the circuit) was silent in the log until a message failed for good, up to
 *   SMS_OUTAGE_RETRY_MS later. Per error code;
 * - a message left mid-send by a worker that stopped (SIGKILL, a crash, a stall past its lease) is taken over and
 *   looked up at Twilio before anything else: whether it was there (stored sent, never sent twice) or not (sent now)
 *   was said nowhere but in each row.
 */
export class DispatchLines {
  private readonly lines: ThrottledLines;

  constructor(logger: Pick<Logger, 'warn'>, everyMs = 60_000) {
    this.lines = new ThrottledLines((line) => logger.warn(line), everyMs);
  }

  retried(code: string, message: string): void {
    this.lines.say(`retry ${code}`, (more) => `An SMS attempt failed with ${code}, retried later${andMore(more)}: ${message}`);
  }

  /** `atTwilio`: the look-up found it (adopted, not sent again); else it is sent now. */
  takenOver(atTwilio: boolean): void {
    const outcome = atTwilio ? 'was at Twilio: stored as sent, not sent again' : 'was not at Twilio: sent now';
    this.lines.say(`takeover ${atTwilio}`, (more) => `An SMS left mid-send by a stopped worker (lease expired) ${outcome}${andMore(more)}`);
  }

  /** At shutdown: says what is held, and later events at once. */
  close(): void {
    this.lines.close();
  }
}

function andMore(more: number): string {
  return more ? ` (and ${more} more since the last such line)` : '';
}
