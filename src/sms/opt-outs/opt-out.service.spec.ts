import type { Repository } from 'typeorm';
import type { AuditService } from '../../audit/audit.service.js';
import type { Clock } from '../../common/clock.js';
import type { PhoneNumberService } from '../../phone/phone-number.service.js';
import { OptOutService } from './opt-out.service.js';
import { OptOutSource, type SmsOptOut } from './sms-opt-out.entity.js';

describe('OptOutService.isOptedOut', () => {
  const entry = (phone: string) => ({ id: phone, phone, optedOutAt: new Date(), source: OptOutSource.Keyword }) as SmsOptOut;
  let table: SmsOptOut[];
  let findBy: ReturnType<typeof vi.fn>;
  let service: OptOutService;

  beforeEach(() => {
    table = [entry('+33611111111')];
    findBy = vi.fn(async ({ phone }: { phone: { value: string[] } }) => table.filter((row) => phone.value.includes(row.phone)));
    service = new OptOutService({ findBy } as unknown as Repository<SmsOptOut>, {} as PhoneNumberService, {} as AuditService, {} as Clock);
  });

  it('answers the look-ups of one turn with one query, each with its own number', async () => {
    const [a, b, c] = await Promise.all([
      service.isOptedOut('+33611111111'),
      service.isOptedOut('+33622222222'),
      service.isOptedOut('+33611111111'),
    ]);
    expect(findBy).toHaveBeenCalledTimes(1);
    expect(a?.phone).toBe('+33611111111');
    expect(b).toBeNull();
    expect(c?.phone).toBe('+33611111111');
  });

  it('reads the table again on the next look-up (nothing cached): an opt-out counts from its commit', async () => {
    expect(await service.isOptedOut('+33622222222')).toBeNull();
    table.push(entry('+33622222222'));
    expect((await service.isOptedOut('+33622222222'))?.phone).toBe('+33622222222');
    expect(findBy).toHaveBeenCalledTimes(2);
  });
});
