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
import { Roles } from '../common/decorators/roles.decorator.js';
import { ErrorResponseDto } from '../common/dto/error-response.dto.js';
import { STAFF_ROLES } from '../users/role.enum.js';
import { AuditService } from './audit.service.js';
import { AuditPageDto } from './dto/audit-entry.dto.js';
import { ListAuditQueryDto } from './dto/list-audit-query.dto.js';
import { ApiDatabaseErrors } from '../common/decorators/api-database-errors.decorator.js';

@ApiTags('audit')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'Missing, invalid or expired token' })
@ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Role not allowed' })
@ApiDatabaseErrors()
@Controller('audit')
@Roles(...STAFF_ROLES)
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @ApiOperation({ summary: 'The journal, newest first', description: 'Filters: action, actor (id or email), from, to.' })
  @ApiOkResponse({ type: AuditPageDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid filter, page or limit' })
  list(@Query() query: ListAuditQueryDto) {
    return this.audit.list(query);
  }
}
