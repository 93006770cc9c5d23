import type { Clock } from '../../common/clock.js';
import type { AppConfig } from '../../config/app-config.js';
import { PhoneNumberService } from '../../phone/phone-number.service.js';
import { MarketingPolicy } from '../marketing/marketing-policy.js';
import { SendHours } from './send-hours.js';

describe('SendHours for an appointment reminder', () => {
  const config = {
    marketing: { hours: 'Mon-Sat 08:00-20:00', holidaysCountry: 'FR', stopMention: 'STOP au 36111' },
    reminders: { quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 } },
    defaultTimeZone: 'Europe/Paris',
  } as AppConfig;
  let now: Date;
  const clock = { now: () => now } as Clock;
  const phones = new PhoneNumberService('FR');
  const sut = new SendHours(new MarketingPolicy(config, clock, phones), config, clock, phones);
  const reminder = (to: string) => ({ category: 'transactional', templateType: 'appointment_reminder', relatedType: 'appointment', to });

  it("drops one that would leave in the client's own night, though it is evening in Paris", () => {
    now = new Date('2030-11-04T18:30:00Z'); // 19:30 in Paris, 22:30 in Réunion
    expect(sut.verdict(reminder('+262692123456'))).toEqual({ drop: expect.stringMatching(/quiet hours/) });
    expect(sut.verdict(reminder('+33612345678'))).toBeNull();
  });

  it("drops one in Paris's quiet hours whatever the client's zone (the operator's)", () => {
    now = new Date('2030-11-04T21:30:00Z'); // 22:30 in Paris, 17:30 in Martinique
    expect(sut.verdict(reminder('+596696123456'))).toEqual({ drop: expect.stringMatching(/quiet hours/) });
  });

  it('lets other messages leave at any hour', () => {
    now = new Date('2030-11-04T23:30:00Z');
    expect(sut.verdict({ ...reminder('+262692123456'), templateType: 'appointment_confirmed' })).toBeNull();
  });
});
