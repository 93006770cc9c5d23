import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller.js';
import { ReadinessRegistry } from './readiness.registry.js';

/**
 * GET /api/health (kept), /api/health/live and /api/health/ready (`@nestjs/terminus`). Global so any
 * module can register a {@link ReadinessIndicator} with the {@link ReadinessRegistry}.
 */
@Global()
@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'json' })],
  controllers: [HealthController],
  providers: [ReadinessRegistry],
  exports: [ReadinessRegistry],
})
export class HealthModule {}
