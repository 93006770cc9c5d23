import { DynamicModule, Module } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ScheduleModule } from '@nestjs/schedule';
import { AppointmentsModule } from './appointments/appointments.module.js';
import { AuditModule } from './audit/audit.module.js';
import { AuthModule } from './auth/auth.module.js';
import { CommonModule } from './common/common.module.js';
import { AppConfigModule, AppConfigOptions } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { EventsModule } from './events/events.module.js';
import { HealthModule } from './health/health.module.js';
import { RedisModule } from './redis/redis.module.js';
import { RetentionModule } from './retention/retention.module.js';
import { IdempotencyModule } from './idempotency/idempotency.module.js';
import { LimitsModule } from './limits/limits.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { PhoneModule } from './phone/phone.module.js';
import { loadConfigFromProcess } from './config/process-config.js';
import { SmsBullmqModule } from './sms/dispatch/sms-bullmq.module.js';
import { SmsPortsModule } from './sms/sms-ports.module.js';
import { SmsModule } from './sms/sms.module.js';
import { UsersModule } from './users/users.module.js';

@Module({})
export class AppModule {
  static forRoot(options: AppConfigOptions = {}): DynamicModule {
    // Validated once here (or by createApp): the same instance decides the module graph and is what every module injects.
    const config = options.config ?? loadConfigFromProcess({ overrides: options.overrides, ignoreEnvFile: options.ignoreEnvFile });
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot({ config }),
        LoggingModule,
        MetricsModule,
        CommonModule,
        EventEmitterModule.forRoot(),
        ScheduleModule.forRoot(),
        DatabaseModule,
        RedisModule,
        EventsModule,
        AuditModule,
        PhoneModule,
        UsersModule,
        AuthModule,
        HealthModule,
        IdempotencyModule,
        LimitsModule,
        // BullMQ (@nestjs/bullmq) only with REDIS_URL: without it nothing of it is registered and Redis is never needed.
        ...(config.redisUrl ? [SmsBullmqModule] : []),
        SmsModule,
        SmsPortsModule,
        AppointmentsModule,
        RetentionModule,
      ],
    };
  }
}
