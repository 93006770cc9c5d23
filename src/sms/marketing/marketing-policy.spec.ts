import type { Clock } from '../../common/clock.js';
import { AppConfig } from '../../config/app-config.js';
import { PhoneNumberService } from '../../phone/phone-number.service.js';
import { MarketingPolicy } from './marketing-policy.js';

/** Default settings: Mon-Sat 08:00-20:00, French holidays, Paris. */
function policyAt(iso: string, env: Record<string, string> = {}): MarketingPolicy {
  const clock = { now: () => new Date(iso) } as Clock;
  return new MarketingPolicy(AppConfig.fromEnvironment(env), clock, new PhoneNumberService('FR'));
}

const PARIS = '+33612345678';
const REUNION = '+262692123456';
const MARTINIQUE = '+596696123456';

describe(MarketingPolicy.name, () => {
  it("holds a Réunion number on Réunion's own holiday (20 December) while a Paris number of the same batch leaves", () => {
    // Monday 20 December 2027, 13:00 in Réunion, 10:00 in Paris.
    const sut = policyAt('2027-12-20T09:00:00Z');

    expect(sut.heldUntil('marketing', PARIS)).toBeNull();
    expect(sut.heldUntil('marketing', REUNION)).toEqual(new Date('2027-12-21T08:00:00+04:00'));
    expect(sut.heldUntil('transactional', REUNION)).toBeNull();
  });

  it("holds a Martinique number on Martinique's 22 May, by its own clock", () => {
    // Saturday 22 May 2027, 10:00 in Martinique, 16:00 in Paris; Monday 24 May is an ordinary day.
    const sut = policyAt('2027-05-22T14:00:00Z');

    expect(sut.heldUntil('marketing', PARIS)).toBeNull();
    expect(sut.heldUntil('marketing', MARTINIQUE)).toEqual(new Date('2027-05-24T08:00:00-04:00'));
  });

  it("keeps the country's calendar for numbers of no region of it, and none when SMS_MARKETING_HOLIDAYS is empty", () => {
    // Wednesday 14 July 2027 (Fête nationale), 10:00 in Paris and Brussels.
    expect(policyAt('2027-07-14T08:00:00Z').heldUntil('marketing', '+32470123456')).toEqual(new Date('2027-07-15T08:00:00+02:00'));
    expect(policyAt('2027-07-14T08:00:00Z').heldUntil('marketing', REUNION)).toEqual(new Date('2027-07-15T08:00:00+04:00'));
    // Another country's calendar: a French number keeps it whole (Swiss Easter Monday), not that of Fribourg (CH's "FR").
    expect(policyAt('2027-03-29T08:00:00Z', { SMS_MARKETING_HOLIDAYS: 'CH' }).heldUntil('marketing', PARIS)).toEqual(
      new Date('2027-03-30T08:00:00+02:00'),
    );
    const none = policyAt('2027-12-20T09:00:00Z', { SMS_MARKETING_HOLIDAYS: '' });
    expect(none.heldUntil('marketing', REUNION)).toBeNull();
  });
});
