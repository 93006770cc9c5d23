import { Injectable } from '@nestjs/common';
import { MetricsService } from '../../metrics/metrics.service.js';

export type WebhookRefusalReason = 'missing_signature' | 'invalid_signature' | 'not_configured';

/**
 * Refused webhook calls since start, by route and reason: in memory, and in the metrics as
 * `sms_webhooks_total{type, outcome="refused_signature" | "refused_not_configured"}`.
 */
@Injectable()
export class WebhookRefusals {
  private readonly counts = new Map<string, number>();

  constructor(private readonly metrics: MetricsService) {}

  count(route: string, reason: WebhookRefusalReason): void {
    const key = `${route} ${reason}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.metrics.webhook(reason === 'not_configured' ? 'refused_not_configured' : 'refused_signature', webhookType(route));
  }

  get total(): number {
    let total = 0;
    for (const n of this.counts.values()) total += n;
    return total;
  }

  snapshot(): { route: string; reason: WebhookRefusalReason; count: number }[] {
    return [...this.counts].map(([key, count]) => {
      const [route, reason] = key.split(' ') as [string, WebhookRefusalReason];
      return { route, reason, count };
    });
  }
}

/** `/api/sms/webhooks/status` → `status`, `/api/sms/webhooks/inbound` → `inbound`. */
export function webhookType(route: string): string {
  return route.split('/').filter(Boolean).pop() ?? 'unknown';
}
