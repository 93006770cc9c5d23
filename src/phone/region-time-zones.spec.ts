import { timeZonesOfRegion } from './region-time-zones.js';

describe('timeZonesOfRegion', () => {
  it.each([
    ['FR', 'Europe/Paris'],
    ['MQ', 'America/Martinique'],
    ['RE', 'Indian/Reunion'],
    ['YT', 'Indian/Mayotte'],
    ['GF', 'America/Cayenne'],
    ['BE', 'Europe/Brussels'],
  ])('reads %s in its own zone, %s', (region, zone) => {
    expect(timeZonesOfRegion(region, 'Europe/Paris')).toEqual([zone]);
  });

  it('gives every zone of a country of several, and the fallback for a number placed nowhere', () => {
    expect([...timeZonesOfRegion('PF', 'Europe/Paris')].sort()).toEqual(['Pacific/Gambier', 'Pacific/Marquesas', 'Pacific/Tahiti']);
    expect(timeZonesOfRegion('US', 'Europe/Paris')).toEqual(expect.arrayContaining(['America/New_York', 'Pacific/Honolulu']));
    expect(timeZonesOfRegion(null, 'Europe/Paris')).toEqual(['Europe/Paris']);
  });
});
