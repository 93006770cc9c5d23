import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SmsOptOutsModule } from '../opt-outs/opt-outs.module.js';
import { DeliveryStatusService } from './delivery-status.service.js';
import { InboundSms } from './inbound-sms.entity.js';
import { InboundSmsService } from './inbound-sms.service.js';
import { SmsStatusEvent } from './sms-status-event.entity.js';
import { SmsWebhooksController } from './sms-webhooks.controller.js';
import { TwilioSignatureGuard } from './twilio-signature.guard.js';
import { WebhookRefusalJournal } from './webhook-refusal-journal.js';
import { WebhookRefusals } from './webhook-refusals.js';

/** Twilio's calls to us: delivery status callbacks and inbound SMS, signature-checked. */
@Module({
  imports: [TypeOrmModule.forFeature([SmsStatusEvent, InboundSms]), SmsOptOutsModule],
  controllers: [SmsWebhooksController],
  providers: [TwilioSignatureGuard, WebhookRefusals, WebhookRefusalJournal, DeliveryStatusService, InboundSmsService],
  exports: [DeliveryStatusService, WebhookRefusals],
})
export class SmsWebhooksModule {}
