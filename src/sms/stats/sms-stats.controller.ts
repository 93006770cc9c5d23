import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AcceptLanguage } from '../../common/i18n/accept-language.decorator.js';
import { Roles } from '../../common/decorators/roles.decorator.js';
import { STAFF_ROLES } from '../../users/role.enum.js';
import { languageOf } from '../sms-errors.js';
import { SmsStatsService } from './sms-stats.service.js';
import { SmsStatsQueryDto } from './stats-query.dto.js';

@ApiTags('sms')
@ApiBearerAuth()
@Controller('sms/stats')
export class SmsStatsController {
  constructor(private readonly stats: SmsStatsService) {}

  @Get()
  @Roles(...STAFF_ROLES)
  @ApiOperation({
    summary: 'SMS statistics over a period',
    description:
      'Counts by status and by UTC day, delivery rate, segments sent, top error codes explained in the caller’s language, opt-outs gained. Admin and superadmin.',
  })
  @ApiOkResponse({
    schema: {
      example: {
        total: 120,
        byStatus: { delivered: 110, undelivered: 6, failed: 4 },
        deliveryRate: 0.9167,
        segmentsSent: 131,
        topErrors: [{ code: '30003', count: 5, explanation: 'Téléphone injoignable : éteint, hors réseau ou sans service.' }],
        optOutsGained: { total: 2, bySource: { keyword: 2 } },
      },
    },
  })
  get(@Query() query: SmsStatsQueryDto, @AcceptLanguage() acceptLanguage?: string) {
    return this.stats.compute(query, languageOf(acceptLanguage));
  }
}
