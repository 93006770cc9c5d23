import { Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config.js';
import { maskPhone } from '../common/log-safe.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { SmsOptOutsModule } from './opt-outs/opt-outs.module.js';
import { SmsStatsModule } from './stats/sms-stats.module.js';
import { SmsWebhooksModule } from './webhooks/sms-webhooks.module.js';
import { AppointmentSmsListener } from './listeners/appointment-sms.listener.js';
import { DryRunSmsProvider } from './providers/dry-run-sms.provider.js';
import { SMS_PROVIDER, type SmsProvider } from './providers/sms-provider.js';
import { TwilioSmsProvider } from './providers/twilio-sms.provider.js';
import { SmsMessage } from './sms-message.entity.js';
import { SmsMessageStore } from './sms-message.store.js';
import { SmsMessagesService } from './sms-messages.service.js';
import { SmsController } from './sms.controller.js';
import { SmsObservability } from './sms-observability.js';
import { SmsService } from './sms.service.js';
import { DEFAULT_TIME_ZONE, SmsTemplateService } from './templates/sms-template.service.js';

/** Picks the provider once at boot and says which. */
function createProvider(config: AppConfig, metrics: MetricsService): SmsProvider {
  const logger = new Logger('SmsModule');
  if (config.sms.provider === 'twilio') {
    const provider = new TwilioSmsProvider(config, metrics);
    logger.log(`SMS provider: twilio (sender ${maskPhone(provider.sender)})`);
    return provider;
  }
  logger.warn('SMS provider: dry-run — no SMS is sent (set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER to send)');
  return new DryRunSmsProvider();
}

@Module({
  imports: [TypeOrmModule.forFeature([SmsMessage]), SmsOptOutsModule, SmsWebhooksModule, SmsStatsModule],
  controllers: [SmsController],
  providers: [
    { provide: SMS_PROVIDER, inject: [AppConfig, MetricsService], useFactory: createProvider },
    { provide: DEFAULT_TIME_ZONE, inject: [AppConfig], useFactory: (config: AppConfig) => config.defaultTimeZone },
    SmsTemplateService,
    SmsMessageStore,
    SmsService,
    SmsMessagesService,
    AppointmentSmsListener,
    SmsObservability,
  ],
  exports: [SmsService, SmsMessagesService, SmsTemplateService, SmsOptOutsModule],
})
export class SmsModule {}
