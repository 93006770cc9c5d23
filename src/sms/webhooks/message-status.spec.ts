import { deliveryCounts, statusRank, statusRankSql, STATUS_RANK, TWILIO_STATUSES } from './message-status.js';

describe('message status order', () => {
  it("ranks every one of Twilio's 13 statuses above our own pre-send states", () => {
    expect(TWILIO_STATUSES).toHaveLength(13);
    for (const status of TWILIO_STATUSES) expect(statusRank(status)).toBeGreaterThan(statusRank('pending'));
  });

  it('moves forward along the lifecycle and never from one final status to another', () => {
    const order = ['accepted', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'read'];
    for (let i = 1; i < order.length; i++) expect(statusRank(order[i])).toBeGreaterThan(statusRank(order[i - 1]));
    expect(statusRank('sent')).toBeLessThan(statusRank('delivered'));
    for (const a of ['delivered', 'undelivered', 'failed', 'canceled'])
      for (const b of ['delivered', 'undelivered', 'failed', 'canceled']) expect(statusRank(a)).toBe(statusRank(b));
    expect(statusRank('partially_delivered')).toBeGreaterThan(statusRank('sent'));
    expect(statusRank('partially_delivered')).toBeLessThan(statusRank('delivered'));
    expect(statusRank('something-new')).toBe(0);
  });

  it('writes the same table as a SQL CASE', () => {
    const sql = statusRankSql('"status"');
    for (const [status, rank] of Object.entries(STATUS_RANK)) if (rank > 0) expect(sql).toContain(`WHEN '${status}' THEN ${rank}`);
    expect(sql).toMatch(/^\(CASE "status" .* ELSE 0 END\)$/);
  });
});

describe('deliveryCounts', () => {
  it('sorts statuses into delivered, undelivered, failed, skipped, cancelled and waiting', () => {
    expect(
      deliveryCounts([
        { status: 'delivered', count: 3 },
        { status: 'read' },
        { status: 'undelivered' },
        { status: 'failed', count: 2 },
        { status: 'skipped' },
        { status: 'cancelled' },
        { status: 'canceled' },
        { status: 'queued', count: 4 },
        { status: 'sending' },
        { status: 'sent' },
      ]),
    ).toEqual({ total: 16, delivered: 4, undelivered: 1, failed: 2, skipped: 1, cancelled: 2, waiting: 6 });
  });
});
