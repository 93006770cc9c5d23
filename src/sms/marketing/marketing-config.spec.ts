import { AppConfig } from '../../config/app-config.js';

describe('marketing settings', () => {
  it('defaults to Monday to Saturday 08:00-20:00 with French public holidays', () => {
    expect(AppConfig.fromEnvironment({}).marketing).toEqual({
      hours: 'Mon-Sat 08:00-20:00',
      holidaysCountry: 'FR',
      stopMention: 'Désabonnement : répondez STOP',
    });
    expect(AppConfig.fromEnvironment({ SMS_MARKETING_HOLIDAYS: '' }).marketing.holidaysCountry).toBe('');
  });
  it.each(['Mon-Sat', 'Lun-Sam 08:00-20:00', 'Mon-Sat 20:00-08:00'])('refuses SMS_MARKETING_HOURS=%j naming it', (value) =>
    expect(() => AppConfig.fromEnvironment({ SMS_MARKETING_HOURS: value })).toThrow(/SMS_MARKETING_HOURS must/),
  );
});
