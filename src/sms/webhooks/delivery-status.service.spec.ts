import { furthestEvent } from './delivery-status.service.js';

describe('furthestEvent (callbacks adopted together)', () => {
  const event = (id: string, status: string, receivedAt: string) => ({ id, status, received_at: receivedAt });

  it('takes the furthest status, whatever order the claim returned them in', () => {
    const events = [event('a', 'sent', '2026-11-27 10:00:00.002'), event('b', 'delivered', '2026-11-27 10:00:00.001')];
    expect(furthestEvent(events).id).toBe('b');
    expect(furthestEvent([...events].reverse()).id).toBe('b');
  });

  it('of two final answers, keeps the first received, as the live path does (SQLite text and PostgreSQL Dates)', () => {
    const first = event('undelivered', 'undelivered', '2026-11-27 10:00:00.001');
    const second = event('delivered', 'delivered', '2026-11-27 10:00:00.250');
    expect(furthestEvent([second, first]).id).toBe('undelivered');
    expect(furthestEvent([first, second]).id).toBe('undelivered');
    const dates = [
      { id: 'later', status: 'delivered', received_at: new Date('2026-11-27T10:00:01Z') },
      { id: 'earlier', status: 'failed', received_at: new Date('2026-11-27T10:00:00Z') },
    ];
    expect(furthestEvent(dates).id).toBe('earlier');
  });
});
