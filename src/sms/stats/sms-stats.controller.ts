import { Controller, Get, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ErrorResponseDto } from '../../common/dto/error-response.dto.js';
import { SmsStatsDto } from './sms-stats.dto.js';
import { AcceptLanguage } from '../../common/i18n/accept-language.decorator.js';
import { Roles } from '../../common/decorators/roles.decorator.js';
import { STAFF_ROLES } from '../../users/role.enum.js';
import { languageOf } from '../failure-explanations.js';
import { SmsStatsService } from './sms-stats.service.js';
import { SmsStatsQueryDto } from './stats-query.dto.js';
import { ApiDatabaseErrors } from '../../common/decorators/api-database-errors.decorator.js';

@ApiTags('sms')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'Missing, invalid or expired token' })
@ApiDatabaseErrors()
@Controller('sms/stats')
export class SmsStatsController {
  constructor(private readonly stats: SmsStatsService) {}

  @Get()
  @Roles(...STAFF_ROLES)
  @ApiOperation({
    summary: 'SMS statistics over a period',
    description:
      'Counts by status and by day in `timeZone` (DEFAULT_TIMEZONE), delivery rate, segments sent, top error codes explained in the caller’s language, opt-outs gained.',
  })
  @ApiOkResponse({ type: SmsStatsDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid since / until / kind / category, or a period over 366 days' })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Role not allowed' })
  get(@Query() query: SmsStatsQueryDto, @AcceptLanguage() acceptLanguage?: string) {
    return this.stats.compute(query, languageOf(acceptLanguage));
  }
}
