import type { Type } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module.js';
import { AllExceptionsFilter } from '../../src/common/filters/all-exceptions.filter.js';
import type { TestDatabase } from './databases.js';
import { baseEnvironment, twilioEnvironment } from './test-app.js';
import type { TwilioStandIn } from './twilio-stand-in.js';

/**
 * The real AppModule plus a module of another feature (what a platform module sending through
 * SmsService looks like), on the given database and Twilio stand-in, initialized and listening-ready.
 * `withAppFilter`: install the app-wide exception filter createApp installs (for HTTP answers).
 */
export async function startAppWithModule(
  db: TestDatabase,
  standIn: TwilioStandIn,
  authToken: string,
  extra: Type<unknown>,
  options: { withAppFilter?: boolean } = {},
): Promise<NestFastifyApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      AppModule.forRoot({ overrides: { ...baseEnvironment(db.url), ...twilioEnvironment(standIn, authToken) }, ignoreEnvFile: true }),
      extra,
    ],
  }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  if (options.withAppFilter) app.useGlobalFilters(new AllExceptionsFilter());
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}
