import type { Repository } from 'typeorm';
import type { AuditService } from '../../audit/audit.service.js';
import type { Clock } from '../../common/clock.js';
import type { PhoneNumberService } from '../../phone/phone-number.service.js';
import { OptOutService } from './opt-out.service.js';
import { OptOutSource, type SmsOptOut } from './sms-opt-out.entity.js';

describe('OptOutService.isOptedOut', () => {
  const entry = (phone: string) => ({ id: phone, phone, optedOutAt: new Date(), source: OptOutSource.Keyword }) as SmsOptOut;
  let table: SmsOptOut[];
  let check: ReturnType<typeof vi.spyOn>;
  let service: OptOutService;

  beforeEach(() => {
    table = [entry('+33611111111')];
    service = new OptOutService({} as Repository<SmsOptOut>, {} as PhoneNumberService, {} as AuditService, {} as Clock);
    // check() is the one query (numbers in, their opt-outs out); its SQL is covered end to end.
    check = vi
      .spyOn(service, 'check')
      .mockImplementation(async (e164s) => new Map(table.filter((row) => e164s.includes(row.phone)).map((row) => [row.phone, row])));
  });

  it('answers the look-ups of one turn with one query, each with its own number', async () => {
    const [a, b, c] = await Promise.all([
      service.isOptedOut('+33611111111'),
      service.isOptedOut('+33622222222'),
      service.isOptedOut('+33611111111'),
    ]);
    expect(check).toHaveBeenCalledTimes(1);
    expect([...(check.mock.calls[0][0] as string[])].sort()).toEqual(['+33611111111', '+33622222222']);
    expect(a?.phone).toBe('+33611111111');
    expect(b).toBeNull();
    expect(c?.phone).toBe('+33611111111');
  });

  it('reads the table again on the next look-up (nothing cached): an opt-out counts from its commit', async () => {
    expect(await service.isOptedOut('+33622222222')).toBeNull();
    table.push(entry('+33622222222'));
    expect((await service.isOptedOut('+33622222222'))?.phone).toBe('+33622222222');
    expect(check).toHaveBeenCalledTimes(2);
  });
});
