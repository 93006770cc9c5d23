// The README's example of another platform module texting a client through SmsService.
// test/other-modules.e2e-spec.ts runs it against the real app, so the example cannot rot.
import { Injectable, Module } from '@nestjs/common';
import type { Actor } from '../../src/common/actor.js';
import { SmsModule } from '../../src/sms/sms.module.js';
import { SmsService } from '../../src/sms/sms.service.js';
import type { SmsSendResult } from '../../src/sms/sms.types.js';

export interface DossierClient {
  name: string;
  phone: string;
  locale?: 'fr' | 'en';
}

@Injectable()
export class DossierNotifier {
  constructor(private readonly sms: SmsService) {}

  /** Tells the client their dossier changed; stored, journaled (send_notification_sms) and linked to the dossier. */
  dossierUpdated(
    client: DossierClient,
    dossier: { id: string; reference: string; status?: string },
    actor: Actor | null,
  ): Promise<SmsSendResult> {
    return this.sms.sendNotification(
      client.phone,
      'dossier_updated',
      { name: client.name, reference: dossier.reference, ...(dossier.status ? { status: dossier.status } : {}) },
      { actor, locale: client.locale, related: { type: 'dossier', id: dossier.id } },
    );
  }

  documentUploaded(client: DossierClient, documentName: string, actor: Actor | null): Promise<SmsSendResult> {
    return this.sms.sendNotification(
      client.phone,
      'document_uploaded',
      { name: client.name, documentName },
      { actor, locale: client.locale },
    );
  }

  messageReceived(client: DossierClient, sender: string, actor: Actor | null): Promise<SmsSendResult> {
    return this.sms.sendNotification(client.phone, 'message_received', { name: client.name, sender }, { actor, locale: client.locale });
  }
}

@Module({ imports: [SmsModule], providers: [DossierNotifier], exports: [DossierNotifier] })
export class DossiersModule {}
