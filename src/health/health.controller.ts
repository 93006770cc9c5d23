import { Controller, Get, Inject, Logger, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, HealthIndicatorResult, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { Public } from '../common/decorators/public.decorator.js';
import { ErrorResponseDto } from '../common/dto/error-response.dto.js';
import { safeLogText } from '../common/log-safe.js';
import { REDIS } from '../redis/redis.module.js';
import { HealthDto, LivenessDto, ReadinessDto } from './dto/health.dto.js';
import { ReadinessIndicator, ReadinessRegistry } from './readiness.registry.js';

// Same relative path from src/health (tests) and dist/health (built app).
const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

/** The same part down for the same reason is logged again at most this often (orchestrators probe every few seconds). */
const DOWN_LOG_EVERY_MS = 60_000;

/** How long each readiness check may take before it counts as down. */
const CHECK_TIMEOUT_MS = 2000;

/**
 * Why a check is down, in the public answer of GET /api/health/ready: a fixed text. A driver's own message
 * names internal hosts, ports, users and databases (`connect ECONNREFUSED 10.0.3.7:5432`, `password
 * authentication failed for user "sms"`): it goes to the log only.
 */
const UNAVAILABLE = 'unavailable';
const timedOut = (what: string) => `${what} did not answer within ${CHECK_TIMEOUT_MS} ms`;

/** A check that took longer than CHECK_TIMEOUT_MS: its message is ours, safe to answer. */
class CheckTimeoutError extends Error {}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeoutError(timedOut(what))), CHECK_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

@ApiTags('health')
@Controller('health')
export class HealthController {
  private readonly logger = new Logger('Health');
  /** The last line logged per part that is down, and when: a probe every few seconds repeats it once a minute. */
  private readonly lastLogged = new Map<string, { message: string; at: number }>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis | null,
    private readonly health: HealthCheckService,
    private readonly typeOrm: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly readiness: ReadinessRegistry,
  ) {}

  @Public()
  @Get()
  @ApiOperation({ summary: 'Liveness and database reachability' })
  @ApiOkResponse({ type: HealthDto })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: `The database does not answer (within ${CHECK_TIMEOUT_MS} ms)` })
  async check(): Promise<HealthDto> {
    try {
      // Bounded as the readiness checks are: a database that hangs would hold the probe DATABASE_QUERY_TIMEOUT_MS.
      await withTimeout(this.dataSource.query('SELECT 1'), 'database');
    } catch {
      throw new ServiceUnavailableException({
        message: 'The database does not answer',
        status: 'error',
        database: 'down',
        version: VERSION,
      });
    }
    return { status: 'ok', database: 'up', version: VERSION };
  }

  @Public()
  @Get('live')
  @ApiOperation({ summary: 'Liveness for orchestrators: the process answers (no dependency is checked)' })
  @ApiOkResponse({ type: LivenessDto })
  live(): LivenessDto {
    return { status: 'ok', version: VERSION, uptimeSeconds: Math.round(process.uptime()) };
  }

  @Public()
  @Get('ready')
  @ApiOperation({
    summary: 'Readiness for orchestrators: the database, Redis (when REDIS_URL is set), the dispatcher and the SMS provider',
  })
  @ApiOkResponse({ type: ReadinessDto })
  @ApiServiceUnavailableResponse({
    type: ErrorResponseDto,
    description:
      'A part is down: `message` and `failing` name it, `checks` says why in a fixed reason (`unavailable`, ' +
      "`… did not answer within 2000 ms`, or the part's own state); the error itself is logged, never answered",
  })
  async ready(): Promise<ReadinessDto> {
    const checks = [
      () => this.databaseCheck(),
      ...(this.redis ? [() => this.redisCheck(this.redis!)] : []),
      ...this.readiness.list().map((indicator) => () => this.indicatorCheck(indicator)),
    ];
    try {
      const result = await this.health.check(checks);
      return { status: 'ok', checks: result.details, version: VERSION };
    } catch (error) {
      const response = error instanceof ServiceUnavailableException ? (error.getResponse() as Record<string, unknown>) : {};
      const failed = Object.keys((response.error as Record<string, unknown> | undefined) ?? {});
      // `error` is the common error body's own field: terminus' `details` (every part, up or down) become `checks`.
      throw new ServiceUnavailableException({
        message: `Not ready: ${failed.length ? failed.join(', ') : 'a check failed'}`,
        status: 'error',
        failing: failed,
        checks: response.details ?? {},
        version: VERSION,
      });
    }
  }

  /** terminus' ping (it times the answer), its driver message swapped for a fixed reason. */
  private async databaseCheck(): Promise<HealthIndicatorResult> {
    const result = await this.typeOrm.pingCheck('database', { connection: this.dataSource, timeout: CHECK_TIMEOUT_MS });
    const detail = result.database;
    if (detail?.status !== 'down') return this.up('database', result);
    const message = typeof detail.message === 'string' ? detail.message : String(detail.message);
    this.logDown('database', message);
    // terminus' own text for its timeout (`timeout of 2000ms exceeded`) tells it apart; any other came from the driver.
    const reason = message === `timeout of ${CHECK_TIMEOUT_MS}ms exceeded` ? timedOut('database') : UNAVAILABLE;
    return { database: { ...detail, message: reason } };
  }

  private async redisCheck(redis: Redis): Promise<HealthIndicatorResult> {
    const session = this.indicators.check('redis');
    try {
      await withTimeout(redis.ping(), 'Redis');
      return this.up('redis', session.up());
    } catch (error) {
      // ioredis' message names the host and port.
      return session.down({ message: this.reasonFor('redis', error) });
    }
  }

  private async indicatorCheck(indicator: ReadinessIndicator): Promise<HealthIndicatorResult> {
    const name = indicator.readinessName;
    const session = this.indicators.check(name);
    try {
      const { ready, detail } = await withTimeout(
        Promise.resolve().then(() => indicator.readiness()),
        name,
      );
      // A part's own detail is a fixed text of its code (ReadinessState), answered as it is.
      return ready ? this.up(name, session.up(detail ? { detail } : {})) : session.down({ message: detail ?? `${name} is not ready` });
    } catch (error) {
      // A part that throws may pass on a driver's message (a connection it opened): logged, never answered.
      return session.down({ message: this.reasonFor(name, error) });
    }
  }

  /** The fixed reason to answer for a check that threw; the error's own message goes to the log. */
  private reasonFor(name: string, error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    this.logDown(name, message);
    return error instanceof CheckTimeoutError ? message : UNAVAILABLE;
  }

  /** A part answering again: its next failure is logged at once, whatever it says. */
  private up(name: string, result: HealthIndicatorResult): HealthIndicatorResult {
    this.lastLogged.delete(name);
    return result;
  }

  private logDown(name: string, message: string): void {
    const now = Date.now();
    const last = this.lastLogged.get(name);
    if (last && last.message === message && now - last.at < DOWN_LOG_EVERY_MS) return;
    this.lastLogged.set(name, { message, at: now });
    this.logger.warn(`Readiness check ${name} is down: ${safeLogText(message)}`);
  }
}
