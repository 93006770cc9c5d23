import type { AppConfig } from '../config/app-config.js';
import { PhoneNumberService } from '../phone/phone-number.service.js';
import { ReminderPolicy } from './reminder-policy.js';

describe('ReminderPolicy.dueAt', () => {
  // 24 hours ahead; quiet hours 21:00-08:00 in Paris (UTC+1 in November).
  const policy = new ReminderPolicy({
    reminders: { leadHours: 24, quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 } },
    defaultTimeZone: 'Europe/Paris',
  } as AppConfig);
  const at = (iso: string) => new Date(iso);

  it('is the lead before the start, or the nearer side of the quiet hours it would fall in', () => {
    expect(policy.dueAt(at('2030-11-06T13:00:00Z'), at('2030-11-01T10:00:00Z'))).toEqual(at('2030-11-05T13:00:00Z'));
    // 07:00 in Paris, the day before, is in quiet hours: 08:00 that day when they end (an hour later, 23 hours
    // ahead), not 20:55 the evening before that (10 hours earlier, 34 hours ahead).
    expect(policy.dueAt(at('2030-11-06T06:00:00Z'), at('2030-11-01T10:00:00Z'))).toEqual(at('2030-11-05T07:00:00Z'));
    // 21:30 the day before: just before they begin (35 minutes earlier), not 08:00 the next morning.
    expect(policy.dueAt(at('2030-11-06T20:30:00Z'), at('2030-11-01T10:00:00Z'))).toEqual(at('2030-11-05T19:55:00Z'));
    // 02:30 the day before: 5 h 35 after 20:55, 5 h 30 before 08:00: the end of the night.
    expect(policy.dueAt(at('2030-11-06T01:30:00Z'), at('2030-11-01T10:00:00Z'))).toEqual(at('2030-11-05T07:00:00Z'));
    // 02:27:30: 5 h 32 min 30 s either side: early rather than late.
    expect(policy.dueAt(at('2030-11-06T01:27:30Z'), at('2030-11-01T10:00:00Z'))).toEqual(at('2030-11-04T19:55:00Z'));
  });

  it('moves to the end of the night only if that leaves at least half the lead before the appointment', () => {
    const twoHours = new ReminderPolicy({
      reminders: { leadHours: 2, quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 } },
      defaultTimeZone: 'Europe/Paris',
    } as AppConfig);
    // 09:30 in Paris: 07:30 is in quiet hours; 08:00 leaves an hour and a half.
    expect(twoHours.dueAt(at('2030-11-06T08:30:00Z'), at('2030-11-01T10:00:00Z'))).toEqual(at('2030-11-06T07:00:00Z'));
    // 09:00: 08:00 leaves exactly half the lead.
    expect(twoHours.dueAt(at('2030-11-06T08:00:00Z'), at('2030-11-01T10:00:00Z'))).toEqual(at('2030-11-06T07:00:00Z'));
    // 08:30: 08:00 would leave half an hour: 20:55 the evening before.
    expect(twoHours.dueAt(at('2030-11-06T07:30:00Z'), at('2030-11-01T10:00:00Z'))).toEqual(at('2030-11-05T19:55:00Z'));
  });

  it('confirmed late for an appointment early the next morning: just before that evening, not at once 20 hours ahead', () => {
    // Confirmed at 11:00 in Paris for 07:00 the next day: the lead time (07:00 today) is past and was in quiet hours.
    expect(policy.dueAt(at('2030-11-05T06:00:00Z'), at('2030-11-04T10:00:00Z'))).toEqual(at('2030-11-04T19:55:00Z'));
  });

  it('confirmed late otherwise: the past due time stands (the next scan sends it)', () => {
    // 15:00 the same day: not in quiet hours.
    expect(policy.dueAt(at('2030-11-04T14:00:00Z'), at('2030-11-04T10:00:00Z'))).toEqual(at('2030-11-03T14:00:00Z'));
    // 07:00 the next day, confirmed at 22:00 (in quiet hours already): nothing better ahead (08:00 today, the end
    // of the night its lead time fell in, is past too).
    expect(policy.dueAt(at('2030-11-05T06:00:00Z'), at('2030-11-04T21:00:00Z'))).toEqual(at('2030-11-04T07:00:00Z'));
  });

  it('confirmed late in the night before an evening appointment in quiet hours: when that night ends, not 35 minutes ahead', () => {
    // Confirmed at 22:00 in Paris for 21:30 the next day: 08:00 (10 hours after the confirmation, 13.5 before the
    // appointment), not 20:55 (35 minutes before it).
    expect(policy.dueAt(at('2030-11-05T20:30:00Z'), at('2030-11-04T21:00:00Z'))).toEqual(at('2030-11-05T07:00:00Z'));
    // Confirmed at 02:00 for 21:30 that day: 08:00 too.
    expect(policy.dueAt(at('2030-11-05T20:30:00Z'), at('2030-11-05T01:00:00Z'))).toEqual(at('2030-11-05T07:00:00Z'));
    // Confirmed at 06:00 for 15:00 that day (not in quiet hours: no evening before): 08:00 as well.
    expect(policy.dueAt(at('2030-11-05T14:00:00Z'), at('2030-11-05T05:00:00Z'))).toEqual(at('2030-11-05T07:00:00Z'));
    // Confirmed at 07:50 for 07:45 the next day: 20:55 that evening, not 08:00 ten minutes after the confirmation.
    expect(policy.dueAt(at('2030-11-05T06:45:00Z'), at('2030-11-04T06:50:00Z'))).toEqual(at('2030-11-04T19:55:00Z'));
  });

  it('confirmed late the same day for an evening appointment in quiet hours: just before they begin, the only time apart', () => {
    // Confirmed at 12:00 in Paris for 21:30: 20:55 (35 minutes ahead), not at once right after the confirmation.
    expect(policy.dueAt(at('2030-11-05T20:30:00Z'), at('2030-11-05T11:00:00Z'))).toEqual(at('2030-11-05T19:55:00Z'));
  });

  it('confirmed late in the morning its lead time fell in: not at the end of that night, minutes after the confirmation', () => {
    // Confirmed at 07:30 in Paris for 07:00 the next day: 08:00 today would follow the confirmation's SMS by half an
    // hour; just before this evening's quiet hours instead, as for any late confirmation of an early appointment.
    expect(policy.dueAt(at('2030-11-05T06:00:00Z'), at('2030-11-04T06:30:00Z'))).toEqual(at('2030-11-04T19:55:00Z'));
  });
  it('confirmed late for just after the night ends: the evening before, never minutes ahead', () => {
    // Confirmed at 12:09 in Paris for 08:01 the next morning: 20:55 (8h46 after, 11h06 before), not 08:00.
    expect(policy.dueAt(at('2030-11-05T07:01:00Z'), at('2030-11-04T11:09:00Z'))).toEqual(at('2030-11-04T19:55:00Z'));
    // For 08:30: 20:55 too, not 08:00 half an hour ahead.
    expect(policy.dueAt(at('2030-11-05T07:30:00Z'), at('2030-11-04T11:09:00Z'))).toEqual(at('2030-11-04T19:55:00Z'));
  });

  it('confirmed late in the afternoon for the next day: the morning of the appointment day, not at once', () => {
    // Confirmed at 15:00 in Paris for 14:00 the next day: 08:00 that day (7 hours after the night, 6 before the
    // appointment), not right after the confirmation's own SMS.
    expect(policy.dueAt(at('2030-11-05T13:00:00Z'), at('2030-11-04T14:00:00Z'))).toEqual(at('2030-11-05T07:00:00Z'));
  });
});

describe('ReminderPolicy.dueAt with a lead over a day (48 hours, quiet hours 21:00-08:00 in Paris)', () => {
  const policy = new ReminderPolicy({
    reminders: { leadHours: 48, quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 } },
    defaultTimeZone: 'Europe/Paris',
  } as AppConfig);
  const at = (iso: string) => new Date(iso);

  it('confirmed late for an evening appointment in quiet hours: the morning of its day, not 35 minutes ahead', () => {
    // Confirmed on Tuesday 12:00 for Wednesday 21:30: Wednesday 08:00 (13.5 hours ahead), not Wednesday 20:55.
    expect(policy.dueAt(at('2030-11-06T20:30:00Z'), at('2030-11-05T11:00:00Z'))).toEqual(at('2030-11-06T07:00:00Z'));
  });

  it('confirmed late two days ahead: whichever night end is furthest from both', () => {
    // Confirmed on Monday 12:00 for Wednesday 07:00: Tuesday 08:00 (20 hours after, 23 before), not Tuesday 20:55
    // (10 hours before).
    expect(policy.dueAt(at('2030-11-06T06:00:00Z'), at('2030-11-04T11:00:00Z'))).toEqual(at('2030-11-05T07:00:00Z'));
    // Confirmed on Monday 22:00 for Wednesday 18:00: Tuesday 20:55, the evening before (22h55 after, 21h05 before),
    // not Tuesday 08:00 (the end of the night under way, 10 hours after) nor Wednesday 08:00 (10 hours before).
    expect(policy.dueAt(at('2030-11-06T17:00:00Z'), at('2030-11-04T21:00:00Z'))).toEqual(at('2030-11-05T19:55:00Z'));
    // Confirmed on Tuesday 12:00 for Wednesday 08:10: Tuesday 20:55, not Wednesday 08:00 (10 minutes ahead).
    expect(policy.dueAt(at('2030-11-06T07:10:00Z'), at('2030-11-05T11:00:00Z'))).toEqual(at('2030-11-05T19:55:00Z'));
  });
});

describe('ReminderPolicy.dueAt with a lead of weeks (720 hours)', () => {
  const policy = new ReminderPolicy({
    reminders: { leadHours: 720, quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 } },
    defaultTimeZone: 'Europe/Paris',
  } as AppConfig);

  it('confirmed late: a few days before the appointment (the last LATE_REMINDER_DAYS, from the day before), not halfway', () => {
    // Confirmed on 1 November 13:00 in Paris for 30 November 12:00: 25 November 20:55, not about 15 November.
    expect(policy.dueAt(new Date('2030-11-30T11:00:00Z'), new Date('2030-11-01T12:00:00Z'))).toEqual(new Date('2030-11-25T19:55:00Z'));
  });
});

describe('ReminderPolicy.dueAt, late, with a night ending in the hour the clocks skip (QUIET_HOURS=22:00-02:30, Paris)', () => {
  const policy = new ReminderPolicy({
    reminders: { leadHours: 48, quietHours: { startMinute: 22 * 60, endMinute: 2 * 60 + 30 } },
    defaultTimeZone: 'Europe/Paris',
  } as AppConfig);

  it('finds that night and its end (03:00 summer time)', () => {
    // Confirmed on Saturday 29 March 2025 at 12:00 CET for Sunday 30 March at 18:00 CEST: the night's end, 03:00 CEST
    // (01:00 UTC), is 14 hours after and 15 before.
    expect(policy.dueAt(new Date('2025-03-30T16:00:00Z'), new Date('2025-03-29T11:00:00Z'))).toEqual(new Date('2025-03-30T01:00:00Z'));
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

describe('ReminderPolicy.dueAt across a change of clocks (Europe/Paris)', () => {
  const policy = (
    leadHours: number,
    quietHours: { startMinute: number; endMinute: number } | null = { startMinute: 21 * 60, endMinute: 8 * 60 },
  ) => new ReminderPolicy({ reminders: { leadHours, quietHours }, defaultTimeZone: 'Europe/Paris' } as AppConfig);
  const longBefore = new Date('2025-03-01T00:00:00Z');
  const at = (iso: string) => new Date(iso);

  it('a lead of 24 hours is the same local time the day before, on the spring night (23 real hours)', () => {
    // Sunday 30 March 2025 08:30 CEST (UTC+2): the reminder goes on Saturday at 08:30 CET (UTC+1), not at 07:30 (quiet
    // hours, which would have sent it on Friday at 20:55, 35 hours ahead).
    expect(policy(24).dueAt(at('2025-03-30T06:30:00Z'), longBefore)).toEqual(at('2025-03-29T07:30:00Z'));
    // The Monday after: 24 real hours, as on any day.
    expect(policy(24).dueAt(at('2025-03-31T06:30:00Z'), longBefore)).toEqual(at('2025-03-30T06:30:00Z'));
  });

  it('a lead of 24 hours is the same local time the day before, on the autumn night (25 real hours)', () => {
    // Sunday 26 October 2025 08:30 CET (UTC+1): Saturday 08:30 CEST (UTC+2), not 09:30.
    expect(policy(24).dueAt(at('2025-10-26T07:30:00Z'), longBefore)).toEqual(at('2025-10-25T06:30:00Z'));
    expect(policy(24).dueAt(at('2025-10-27T07:30:00Z'), longBefore)).toEqual(at('2025-10-26T07:30:00Z'));
  });

  it('whole days are local days, the hours left over are hours; a lead shorter than a day is hours', () => {
    // 48 hours before Monday 31 March 08:30 CEST: Saturday 08:30 CET.
    expect(policy(48).dueAt(at('2025-03-31T06:30:00Z'), longBefore)).toEqual(at('2025-03-29T07:30:00Z'));
    // 30 hours before Sunday 30 March 14:30 CEST: Saturday 14:30 CET, less 6 hours: 08:30 CET.
    expect(policy(30).dueAt(at('2025-03-30T12:30:00Z'), longBefore)).toEqual(at('2025-03-29T07:30:00Z'));
    // 2 hours before Sunday 30 March 04:00 CEST: 2 real hours (01:00 CET), across the change itself.
    expect(policy(2, null).dueAt(at('2025-03-30T02:00:00Z'), longBefore)).toEqual(at('2025-03-30T00:00:00Z'));
    // 2 hours before Sunday 26 October 03:00 CET: 2 real hours (02:00 CEST, the first one).
    expect(policy(2, null).dueAt(at('2025-10-26T02:00:00Z'), longBefore)).toEqual(at('2025-10-26T00:00:00Z'));
  });

  it('confirmed before the local lead time (less than 24 real hours ahead on the spring night): at that time, not at once', () => {
    // Confirmed on Saturday 29 March at 08:00 CET for Sunday 08:30 CEST: 23.5 hours ahead, yet before Saturday 08:30.
    expect(policy(24).dueAt(at('2025-03-30T06:30:00Z'), at('2025-03-29T07:00:00Z'))).toEqual(at('2025-03-29T07:30:00Z'));
  });
});

describe('ReminderPolicy.dueAgainAt with quiet hours ending between 02:00 and 03:00 (QUIET_HOURS=22:00-02:30, Paris)', () => {
  const policy = new ReminderPolicy({
    reminders: { leadHours: 24, quietHours: { startMinute: 22 * 60, endMinute: 2 * 60 + 30 } },
    defaultTimeZone: 'Europe/Paris',
  } as AppConfig);
  const at = (iso: string) => new Date(iso);

  it('is after the drop on the night the clocks go back (02:15 read the second time: the second 02:30)', () => {
    expect(policy.dueAgainAt(at('2025-10-26T01:15:00Z'))).toEqual(at('2025-10-26T01:30:00Z'));
    expect(policy.dueAgainAt(at('2025-10-26T00:15:00Z'))).toEqual(at('2025-10-26T01:30:00Z'));
  });

  it('is when the clocks jump past 02:30 on the night they go forward (03:00 summer time)', () => {
    expect(policy.dueAgainAt(at('2025-03-30T00:15:00Z'))).toEqual(at('2025-03-30T01:00:00Z'));
  });
});

describe("ReminderPolicy in the client's zone too (overseas numbers)", () => {
  const policy = new ReminderPolicy(
    { reminders: { leadHours: 24, quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 } }, defaultTimeZone: 'Europe/Paris' } as AppConfig,
    new PhoneNumberService('FR'),
  );
  const at = (iso: string) => new Date(iso);
  const REUNION = '+262692123456'; // UTC+4
  const MARTINIQUE = '+596696123456'; // UTC-4

  it('moves a reminder out of the quiet hours of both zones', () => {
    // 00:30 in Réunion (20:30 UTC, 21:30 in Paris): its lead time falls just after Paris's 21:00; before it would be
    // 23:55 in Réunion, its night: before Réunion's 21:00 instead (16:55 UTC).
    expect(policy.dueAt(at('2030-03-12T20:30:00Z'), at('2030-03-01T10:00:00Z'), REUNION)).toEqual(at('2030-03-11T16:55:00Z'));
    expect(policy.dueAt(at('2030-03-12T20:30:00Z'), at('2030-03-01T10:00:00Z'), '+33612345678')).toEqual(at('2030-03-11T19:55:00Z'));
    // 07:00 in Martinique (11:00 UTC, 12:00 in Paris): the day before at 07:00 is Martinique's night, which ends at
    // 08:00 there (12:00 UTC); in Paris the same instant is midday.
    expect(policy.dueAt(at('2030-03-12T11:00:00Z'), at('2030-03-01T10:00:00Z'), MARTINIQUE)).toEqual(at('2030-03-11T12:00:00Z'));
    expect(policy.dueAt(at('2030-03-12T11:00:00Z'), at('2030-03-01T10:00:00Z'), '+33612345678')).toEqual(at('2030-03-11T11:00:00Z'));
    // 09:00 in Réunion (05:00 UTC, 06:00 in Paris): both nights joined up end at 08:00 in Paris, 11:00 in Réunion,
    // 22 hours ahead (before them was 20:55 in Réunion two evenings before, 36 hours ahead).
    expect(policy.dueAt(at('2030-03-12T05:00:00Z'), at('2030-03-01T10:00:00Z'), REUNION)).toEqual(at('2030-03-11T07:00:00Z'));
  });

  it("confirmed during the client's own night with a due time moved into the past: when that night ends, not at once", () => {
    // Confirmed at 05:00 in Martinique (10:00 in Paris) for 06:00 there the next day: 24 hours before is in the nights
    // joined up (Paris 21:00 to Martinique 08:00), so the due time moved before them is past; sent at once, the
    // dispatcher dropped it (Martinique's night) as a failed SMS. At 08:00 in Martinique instead.
    expect(policy.dueAt(at('2030-11-06T10:00:00Z'), at('2030-11-05T09:00:00Z'), MARTINIQUE)).toEqual(at('2030-11-05T12:00:00Z'));
    // In Paris the same instants are outside quiet hours: 24 hours before.
    expect(policy.dueAt(at('2030-11-06T10:00:00Z'), at('2030-11-05T09:00:00Z'), '+33612345678')).toEqual(at('2030-11-05T10:00:00Z'));
  });

  it("confirmed late: weighs the client's own quiet hours even when they do not join DEFAULT_TIMEZONE's", () => {
    const midday = new ReminderPolicy(
      {
        reminders: { leadHours: 24, quietHours: { startMinute: 12 * 60, endMinute: 14 * 60 } },
        defaultTimeZone: 'Europe/Paris',
      } as AppConfig,
      new PhoneNumberService('FR'),
    );
    // QUIET_HOURS=12:00-14:00; confirmed at 14:59 in Paris (09:59 in Martinique) for 06:56 in Paris the next day: the
    // end of Martinique's quiet hours, 14:00 there (18:00 UTC), 4 hours after the confirmation, not at once.
    expect(midday.dueAt(at('2030-11-04T05:56:00Z'), at('2030-11-03T13:59:00Z'), MARTINIQUE)).toEqual(at('2030-11-03T18:00:00Z'));
    // A Paris number has no such period between: at once (the lead time, past).
    expect(midday.dueAt(at('2030-11-04T05:56:00Z'), at('2030-11-03T13:59:00Z'), '+33612345678')).toEqual(at('2030-11-03T05:56:00Z'));
  });

  it('is due again when the quiet hours of both zones have ended, not at 08:00 in Paris (03:00 in Martinique)', () => {
    // Dropped at 22:30 in Paris (17:30 in Martinique): Martinique's night follows Paris's, until 08:00 there (12:00 UTC).
    expect(policy.dueAgainAt(at('2030-11-04T21:30:00Z'), MARTINIQUE)).toEqual(at('2030-11-05T12:00:00Z'));
    expect(policy.dueAgainAt(at('2030-11-04T21:30:00Z'), '+33612345678')).toEqual(at('2030-11-05T07:00:00Z'));
    // Dropped at 22:00 in Réunion (19:00 in Paris): due again at 08:00 in Paris, when both nights are over.
    expect(policy.dueAgainAt(at('2030-11-04T18:00:00Z'), REUNION)).toEqual(at('2030-11-05T07:00:00Z'));
    // A country of several zones keeps Paris's hours only.
    expect(policy.dueAgainAt(at('2030-11-04T21:30:00Z'), '+12025550123')).toEqual(at('2030-11-05T07:00:00Z'));
  });
});
