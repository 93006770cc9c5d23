import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AuditService } from '../src/audit/audit.service.js';
import { AuditAction } from '../src/audit/audit-action.enum.js';
import { SmsInputError, SmsSendError } from '../src/sms/sms-exceptions.js';
import { DossierNotifier, DossiersModule } from './examples/dossier-notifier.js';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from './support/databases.js';
import { startAppWithModule } from './support/app-with-module.js';
import { testTwilioCredentials, TWILIO_MAGIC_NUMBERS, TwilioStandIn } from './support/twilio-stand-in.js';

describeEachDatabase('Another module sending through SmsService (README example)', (kind) => {
  const credentials = testTwilioCredentials();
  let standIn: TwilioStandIn;
  let db: TestDatabase;
  let app: NestFastifyApplication;
  let sut: DossierNotifier;

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    db = await createTestDatabase(kind);
    app = await startAppWithModule(db, standIn, credentials.authToken, DossiersModule);
    sut = app.get(DossierNotifier);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
    await standIn?.stop();
  });
  beforeEach(() => standIn.reset());

  it('sends dossier_updated with the reference, journaled and linked to the dossier', async () => {
    const result = await sut.dossierUpdated(
      { name: 'Jean Dupont', phone: '06 12 34 56 78' },
      { id: 'D-42', reference: 'DOS-2024-042', status: 'complet' },
      null,
    );
    expect(result).toMatchObject({ state: 'sent', to: '+33612345678', status: 'queued', provider: 'twilio' });
    expect(standIn.requests[0].form.Body).toMatch(/Jean Dupont.*DOS-2024-042/);
    const audit = await app.get(AuditService).list({ action: AuditAction.SendNotificationSms, page: 1, limit: 1 });
    expect(audit.items[0]).toMatchObject({
      targetType: 'dossier',
      targetId: 'D-42',
      metadata: { type: 'dossier_updated', sid: result.sid },
    });
  });

  it('sends document_uploaded and message_received, in English on request', async () => {
    await sut.documentUploaded({ name: 'Jean', phone: '0612345678' }, 'justificatif de domicile', null);
    await sut.messageReceived({ name: 'Jean', phone: '0612345678', locale: 'en' }, 'Sophie Martin', null);
    expect(standIn.requests[0].form.Body).toContain('justificatif de domicile');
    expect(standIn.requests[1].form.Body).toMatch(/Sophie Martin/);
    expect(standIn.requests[1].form.Body).toMatch(/message/i);
  });

  it('raises SmsInputError for a bad number and SmsSendError for a Twilio refusal', async () => {
    await expect(sut.messageReceived({ name: 'Jean', phone: '06 12' }, 'X', null)).rejects.toBeInstanceOf(SmsInputError);
    await expect(sut.messageReceived({ name: 'Jean', phone: TWILIO_MAGIC_NUMBERS.unsubscribed }, 'X', null)).rejects.toMatchObject({
      constructor: SmsSendError,
      failure: { kind: 'rejected', code: 21610 },
    });
  });
});
