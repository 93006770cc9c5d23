import type { AppConfig } from '../config/app-config.js';
import { ReminderPolicy } from './reminder-policy.js';

describe('ReminderPolicy.dueAt', () => {
  // 24 hours ahead; quiet hours 21:00-08:00 in Paris (UTC+1 in November).
  const policy = new ReminderPolicy({
    reminders: { leadHours: 24, quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 } },
    defaultTimeZone: 'Europe/Paris',
  } as AppConfig);
  const at = (iso: string) => new Date(iso);

  it('is the lead before the start, or just before the quiet hours it would fall in', () => {
    expect(policy.dueAt(at('2030-11-06T13:00:00Z'), at('2030-11-01T10:00:00Z'))).toEqual(at('2030-11-05T13:00:00Z'));
    // 07:00 in Paris, the day before, is in quiet hours: 20:55 the evening before that.
    expect(policy.dueAt(at('2030-11-06T06:00:00Z'), at('2030-11-01T10:00:00Z'))).toEqual(at('2030-11-04T19:55:00Z'));
  });

  it('confirmed late for an appointment early the next morning: just before that evening, not at once 20 hours ahead', () => {
    // Confirmed at 11:00 in Paris for 07:00 the next day: the lead time (07:00 today) is past and was in quiet hours.
    expect(policy.dueAt(at('2030-11-05T06:00:00Z'), at('2030-11-04T10:00:00Z'))).toEqual(at('2030-11-04T19:55:00Z'));
  });

  it('confirmed late otherwise: the past due time stands (the next scan sends it)', () => {
    // 15:00 the same day: not in quiet hours.
    expect(policy.dueAt(at('2030-11-04T14:00:00Z'), at('2030-11-04T10:00:00Z'))).toEqual(at('2030-11-03T14:00:00Z'));
    // 07:00 the next day, confirmed at 22:00 (in quiet hours already): nothing better ahead.
    expect(policy.dueAt(at('2030-11-05T06:00:00Z'), at('2030-11-04T21:00:00Z'))).toEqual(at('2030-11-03T19:55:00Z'));
  });
});

describe('ReminderPolicy.dueAt, confirmed at least the lead ahead', () => {
  const policy = new ReminderPolicy({
    reminders: { leadHours: 24, quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 } },
    defaultTimeZone: 'Europe/Paris',
  } as AppConfig);

  it('keeps the usual time even when moving it before quiet hours put it in the past (hours of notice, not minutes)', () => {
    // Confirmed at 20:58 in Paris for 21:30 the next day: 21:30 today is in quiet hours, 20:55 today is past.
    expect(policy.dueAt(new Date('2030-11-05T20:30:00Z'), new Date('2030-11-04T19:58:00Z'))).toEqual(new Date('2030-11-04T19:55:00Z'));
  });
});
