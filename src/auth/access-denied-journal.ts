import { Injectable, Logger } from '@nestjs/common';
import { AuditAction } from '../audit/audit-action.enum.js';
import { AuditService } from '../audit/audit.service.js';
import { RefusalJournal } from '../audit/refusal-journal.js';
import type { Actor } from '../common/actor.js';
import { Clock } from '../common/clock.js';

/**
 * Journals a signed-in user refused by a route's roles (403) as `access_denied`: who tried which route, with which
 * role, and the roles it admits ("toutes les actions sont journalisées", a `user` trying to send SMS included).
 * Throttled per user and route ({@link RefusalJournal}), so a client retrying in a loop cannot write one row per request.
 */
@Injectable()
export class AccessDeniedJournal extends RefusalJournal {
  constructor(audit: AuditService, clock: Clock) {
    super(audit, clock, new Logger('RolesGuard'), 'refused route calls');
  }

  refused(actor: Actor, method: string, route: string, allowed: readonly string[]): Promise<void> {
    return this.journal(`${actor.id}\n${method} ${route}`, (summed) => ({
      action: AuditAction.AccessDenied,
      actor,
      ip: actor.ip ?? null,
      target: { type: 'route', id: `${method} ${route}` },
      metadata: { method, route, role: actor.role, allowed, ...summed },
    }));
  }
}
