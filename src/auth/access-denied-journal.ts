import { Injectable, Logger } from '@nestjs/common';
import { AuditAction } from '../audit/audit-action.enum.js';
import { AuditService } from '../audit/audit.service.js';
import { REFUSAL_THROTTLE_DEFAULTS, RefusalJournalThrottle } from '../audit/refusal-journal-throttle.js';
import type { Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';

/**
 * Journals a signed-in user refused by a route's roles (403) as `access_denied`: who tried which route, with which
 * role, and the roles it admits ("toutes les actions sont journalisées", a `user` trying to send SMS included).
 * Throttled per user and route ({@link RefusalJournalThrottle}: the first refusal of a minute at once, the others of
 * that minute summed into the next entry as `count` and `refusedSince`), so a client retrying in a loop cannot write
 * one row per request. A journal that cannot be written does not change the 403 (logged instead).
 */
@Injectable()
export class AccessDeniedJournal {
  private readonly logger = new Logger('RolesGuard');
  private readonly throttle = new RefusalJournalThrottle();

  constructor(
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async refused(actor: Actor, method: string, route: string, allowed: readonly string[]): Promise<void> {
    const decision = this.throttle.refused(`${actor.id}\n${method} ${route}`, this.clock.now().getTime());
    if (!decision.journal) {
      if (decision.capReached)
        this.logger.warn(
          `More than ${REFUSAL_THROTTLE_DEFAULTS.maxEntriesPerWindow} refused route calls journaled this minute: the next ones are journaled later, summed`,
        );
      return;
    }
    try {
      await this.audit.record({
        action: AuditAction.AccessDenied,
        actor,
        ip: actor.ip ?? null,
        target: { type: 'route', id: `${method} ${route}` },
        metadata: {
          method,
          route,
          role: actor.role,
          allowed,
          ...(decision.count > 1 ? { count: decision.count, refusedSince: new Date(decision.refusedSince).toISOString() } : {}),
        },
      });
    } catch (error) {
      this.logger.warn(`Could not journal a refused route call: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
