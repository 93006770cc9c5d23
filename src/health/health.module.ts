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
  // terminus' own logger is off: it wrote an error line with every part's details at each failing probe (an
  // orchestrator probes every few seconds); HealthController logs why a part is down, once a minute per part.
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [ReadinessRegistry],
  exports: [ReadinessRegistry],
})
export class HealthModule {}
