import { register as globalRegistry } from 'prom-client';
import { tokensMatch } from './metrics-access.guard.js';
import { MetricsService } from './metrics.service.js';

describe('MetricsService', () => {
  it('keeps its own registry: two instances never collide, and the global one stays empty', async () => {
    const a = new MetricsService();
    const b = new MetricsService();
    a.httpRequest('GET', '/api/x/:id', 200, 0.01);
    a.httpRequest('GET', '/api/x/:id', 200, 0.02);
    b.httpRequest('GET', '/api/x/:id', 200, 0.01);
    expect(await a.scrape()).toContain('http_requests_total{method="GET",route="/api/x/:id",status="200"} 2');
    expect(await b.scrape()).toContain('http_requests_total{method="GET",route="/api/x/:id",status="200"} 1');
    expect(await globalRegistry.metrics()).not.toContain('http_requests_total');
  });

  it('labels an unmatched request "unmatched", never by its URL', async () => {
    const metrics = new MetricsService();
    metrics.httpRequest('GET', undefined, 404, 0.001);
    expect(await metrics.scrape()).toContain('http_requests_total{method="GET",route="unmatched",status="404"} 1');
  });

  it('exposes the typed events under their names', async () => {
    const metrics = new MetricsService();
    metrics.smsStateChanged('bulk', 'marketing', 'delivered');
    metrics.twilioCall(120, undefined);
    metrics.twilioCall(80, 21211);
    metrics.retry('rate_limited');
    metrics.webhook('accepted');
    metrics.webhook('refused_signature', 'inbound');
    metrics.reminderSent();
    const text = await metrics.scrape();
    expect(text).toContain('sms_messages_total{kind="bulk",category="marketing",state="delivered"} 1');
    expect(text).toContain('twilio_request_duration_seconds_count{operation="messages.create",outcome="ok"} 1');
    expect(text).toContain('twilio_request_duration_seconds_bucket{le="0.25",operation="messages.create",outcome="ok"} 1');
    expect(text).toContain('twilio_errors_total{operation="messages.create",code="21211"} 1');
    expect(text).toContain('sms_retries_total{reason="rate_limited"} 1');
    expect(text).toContain('sms_webhooks_total{type="status",outcome="accepted"} 1');
    expect(text).toContain('sms_webhooks_total{type="inbound",outcome="refused_signature"} 1');
    expect(text).toContain('appointment_reminders_sent_total 1');
  });

  it('computes the queue gauges at scrape time with one probe call, and zero without a probe', async () => {
    const metrics = new MetricsService();
    expect(await metrics.scrape()).toContain('sms_queue_depth{when="due"} 0');
    const probe = vi.fn(async () => ({ due: 3, scheduled: 2, oldestDueAgeSeconds: 42.5 }));
    metrics.setQueueProbe(probe);
    const text = await metrics.scrape();
    expect(text).toContain('sms_queue_depth{when="due"} 3');
    expect(text).toContain('sms_queue_depth{when="scheduled"} 2');
    expect(text).toContain('sms_queue_oldest_age_seconds 42.5');
    expect(text).toContain('sms_queue_probe_success 1');
    expect(probe).toHaveBeenCalledTimes(1);
    await metrics.scrape();
    expect(probe).toHaveBeenCalledTimes(2);
  });

  it('leaves the queue unknown, not empty, when its probe fails (the database does not answer)', async () => {
    const metrics = new MetricsService();
    let down = false;
    metrics.setQueueProbe(async () => {
      if (down) throw new Error('database gone');
      return { due: 3, scheduled: 2, oldestDueAgeSeconds: 42.5 };
    });
    expect(await metrics.scrape()).toContain('sms_queue_depth{when="due"} 3');
    down = true;
    const text = await metrics.scrape();
    expect(text).not.toMatch(/^sms_queue_depth\{/m);
    // NaN (prom-client writes `Nan`; Prometheus reads any case).
    expect(text).toMatch(/^sms_queue_oldest_age_seconds nan$/im);
    expect(text).toContain('sms_queue_probe_success 0');
    down = false;
    expect(await metrics.scrape()).toContain('sms_queue_probe_success 1');
  });

  it('appends external expositions (BullMQ) and survives one failing', async () => {
    const metrics = new MetricsService();
    metrics.addExporter('queue', async () => 'bullmq_job_count{queue="sms", state="waiting"} 4');
    metrics.addExporter('broken', async () => {
      throw new Error('redis down');
    });
    const text = await metrics.scrape();
    expect(text).toContain('bullmq_job_count{queue="sms", state="waiting"} 4');
    metrics.removeExporter('queue');
    expect(await metrics.scrape()).not.toContain('bullmq_job_count');
  });
});

describe('tokensMatch', () => {
  it('compares whole tokens of any length', () => {
    expect(tokensMatch('a'.repeat(30), 'a'.repeat(30))).toBe(true);
    expect(tokensMatch('a'.repeat(30), 'a'.repeat(29))).toBe(false);
    expect(tokensMatch('', 'a')).toBe(false);
    expect(tokensMatch('b' + 'a'.repeat(29), 'a'.repeat(30))).toBe(false);
  });
});
