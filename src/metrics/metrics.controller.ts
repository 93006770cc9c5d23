import { Controller, Get, Header, Res, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../common/decorators/public.decorator.js';
import { ErrorResponseDto } from '../common/dto/error-response.dto.js';
import { MetricsAccessGuard } from './metrics-access.guard.js';
import { MetricsService } from './metrics.service.js';
import { ApiDatabaseErrors } from '../common/decorators/api-database-errors.decorator.js';

@ApiTags('health')
@ApiBearerAuth()
@ApiDatabaseErrors()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  // Public to the global JWT guard: MetricsAccessGuard admits the METRICS_TOKEN or a superadmin.
  @Public()
  @UseGuards(MetricsAccessGuard)
  @Get()
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'Prometheus metrics (a superadmin token or METRICS_TOKEN)' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: "Prometheus' text exposition format", schema: { type: 'string' } })
  @ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'No token, or neither METRICS_TOKEN nor a valid JWT' })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Signed in, but not a superadmin' })
  async scrape(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    void reply.type(this.metrics.contentType);
    return this.metrics.scrape();
  }
}
