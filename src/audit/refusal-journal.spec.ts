import type { Logger } from '@nestjs/common';
import type { Clock } from '../common/clock.js';
import { AuditAction } from './audit-action.enum.js';
import type { AuditEntry, AuditService } from './audit.service.js';
import { REFUSAL_THROTTLE_DEFAULTS, RefusalJournal } from './refusal-journal.js';

class TestJournal extends RefusalJournal {
  constructor(audit: AuditService, clock: Clock, logger: Logger) {
    super(audit, clock, logger, 'refused things');
  }

  refused(who: string): Promise<void> {
    return this.journal(who, (summed) => ({ action: AuditAction.AccessDenied, actor: null, metadata: { who, ...summed } }));
  }
}

function setUp(record: (entry: AuditEntry) => Promise<void> = async () => undefined) {
  const entries: AuditEntry[] = [];
  const warnings: string[] = [];
  let now = Date.parse('2030-01-01T10:00:00Z');
  const audit = { record: async (entry: AuditEntry) => (await record(entry), entries.push(entry)) } as unknown as AuditService;
  const clock = { now: () => new Date(now) } as Clock;
  const logger = { warn: (message: string) => warnings.push(message) } as unknown as Logger;
  return { journal: new TestJournal(audit, clock, logger), entries, warnings, advance: (ms: number) => (now += ms) };
}

describe('RefusalJournal', () => {
  it('journals the first refusal of a key at once and sums the rest of its minute into its next entry', async () => {
    const { journal, entries, advance } = setUp();
    await journal.refused('alice');
    advance(1_000);
    await journal.refused('alice');
    await journal.refused('alice');
    expect(entries.map((e) => e.metadata)).toEqual([{ who: 'alice' }]);
    advance(60_000);
    await journal.refused('alice');
    expect(entries.map((e) => e.metadata)).toEqual([
      { who: 'alice' },
      { who: 'alice', count: 3, refusedSince: '2030-01-01T10:00:01.000Z' },
    ]);
  });

  it('logs a journal it cannot write and does not throw: the refusal answers as it would', async () => {
    const { journal, entries, warnings } = setUp(async () => {
      throw new Error('SQLITE_BUSY: database is locked');
    });
    await expect(journal.refused('alice')).resolves.toBeUndefined();
    expect(entries).toEqual([]);
    expect(warnings).toEqual(['Could not journal refused things: SQLITE_BUSY: database is locked']);
  });

  it('warns once when the cap of entries per minute holds entries back', async () => {
    const { journal, entries, warnings } = setUp();
    for (let i = 0; i <= REFUSAL_THROTTLE_DEFAULTS.maxEntriesPerWindow + 5; i++) await journal.refused(`user ${i}`);
    expect(entries).toHaveLength(REFUSAL_THROTTLE_DEFAULTS.maxEntriesPerWindow);
    expect(warnings).toEqual([
      `More than ${REFUSAL_THROTTLE_DEFAULTS.maxEntriesPerWindow} refused things journaled this minute: the next ones are journaled later, summed`,
    ]);
  });
});
