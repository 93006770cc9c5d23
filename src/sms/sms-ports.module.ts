import { Global, Module } from '@nestjs/common';
import { RelatedMessages, type RelatedMessage } from '../common/related-messages.js';
import { SmsMessagesService } from './sms-messages.service.js';
import { SmsModule } from './sms.module.js';

/**
 * What the SMS module offers to modules that must not import it (AppointmentsModule): the
 * RelatedMessages port, globally, backed by SmsMessagesService. Only the port is global, not SmsModule.
 */
@Global()
@Module({
  imports: [SmsModule],
  providers: [
    {
      provide: RelatedMessages,
      inject: [SmsMessagesService],
      useFactory: (messages: SmsMessagesService): RelatedMessages => ({
        findRelated: async (type, id) =>
          (await messages.findRelated(type, id)).map((m): RelatedMessage => ({
            id: m.id,
            type: m.templateType,
            status: m.status,
            sid: m.providerSid,
            errorCode: m.errorCode,
            errorMessage: m.errorMessage,
            createdAt: m.createdAt,
          })),
      }),
    },
  ],
  exports: [RelatedMessages],
})
export class SmsPortsModule {}
