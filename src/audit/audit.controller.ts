import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { Roles } from '../common/decorators/roles.decorator.js';
import { STAFF_ROLES } from '../users/role.enum.js';
import { AuditService } from './audit.service.js';
import { ListAuditQueryDto } from './dto/list-audit-query.dto.js';

@ApiTags('audit')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'Missing, invalid or expired token' })
@ApiForbiddenResponse({ description: 'Only admin and superadmin read the journal' })
@Controller('audit')
@Roles(...STAFF_ROLES)
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @ApiOperation({ summary: 'The journal, newest first', description: 'Filters: action, actor (id or email), from, to.' })
  @ApiOkResponse({ description: '{items, total, page, limit}' })
  list(@Query() query: ListAuditQueryDto) {
    return this.audit.list(query);
  }
}
