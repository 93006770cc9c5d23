import { Injectable } from '@nestjs/common';

export type WebhookRefusalReason = 'missing_signature' | 'invalid_signature' | 'not_configured';

/** Refused webhook calls since start, by route and reason (in memory; exported as metrics later). */
@Injectable()
export class WebhookRefusals {
  private readonly counts = new Map<string, number>();

  count(route: string, reason: WebhookRefusalReason): void {
    const key = `${route} ${reason}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
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
