import { RelatedRecords } from './related-records.js';

describe('RelatedRecords', () => {
  it("asks the check registered for the message's record type, and nothing for a type nobody registered", async () => {
    const records = new RelatedRecords();
    const check = vi.fn().mockResolvedValue('Not sent: its appointment is cancelled now');
    records.register('appointment', check);
    expect(await records.whyOutdated('appointment', 'a-1', 'v1')).toBe('Not sent: its appointment is cancelled now');
    expect(check).toHaveBeenCalledWith('a-1', 'v1');
    expect(await records.whyOutdated('dossier', 'd-1', 'v1')).toBeNull();
  });

  it('refuses a second check for the same type (it would silently replace the first)', () => {
    const records = new RelatedRecords();
    records.register('appointment', async () => null);
    expect(() => records.register('appointment', async () => null)).toThrow(/"appointment" is registered already/);
  });
});
