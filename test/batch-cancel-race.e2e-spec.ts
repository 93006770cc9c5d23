import pg from 'pg';
import { DataSource } from 'typeorm';
import { SmsOutbox } from '../src/sms/dispatch/sms-outbox.js';
import { SmsMessage } from '../src/sms/sms-message.entity.js';
import { describeEachDatabase } from './support/databases.js';
import { TestApp } from './support/test-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A batch cancelled while one of its messages is in flight, the two transactions interleaved by hand on
 * PostgreSQL (READ COMMITTED; SQLite runs its transactions one after another): the cancellation has updated the
 * batch but not committed when the attempt's failure is stored. The message must end cancelled, not queued again
 * in a cancelled batch (where it would be sent later).
 */
describeEachDatabase('Batch cancelled during an attempt, transactions interleaved', (kind) => {
  let t: TestApp;
  let root: string;

  beforeAll(async () => {
    t = await TestApp.start(kind, { SMS_PROVIDER: 'dry-run' });
    root = await t.rootToken();
  });
  afterAll(() => t?.close());

  it.runIf(kind === 'postgres')('waits for the cancellation and cancels the message, counting it in the batch', async () => {
    const res = await t.http
      .post('/api/sms/bulk')
      .set({ Authorization: `Bearer ${root}` })
      .send({
        recipients: [{ phone: '0612340081' }, { phone: '0612340082' }],
        message: 'Plus tard',
        sendAt: new Date(Date.now() + 3_600_000).toISOString(),
      })
      .expect(202);
    const batchId = res.body.batchId as string;
    const messages = t.get(DataSource).getRepository(SmsMessage);
    const [inFlight, waiting] = await messages.find({ where: { batchId }, order: { to: 'ASC' } });
    // The first message claimed (attempt 1, under a lease), as a worker would have.
    await messages.update(inFlight.id, { status: 'sending', attempts: 1, leaseUntil: new Date(Date.now() + 60_000) });

    const cancel = new pg.Client({ connectionString: t.db.url });
    await cancel.connect();
    try {
      await cancel.query('BEGIN');
      await cancel.query(`UPDATE "sms_batches" SET "status" = 'cancelled', "cancelled_at" = now() WHERE "id" = $1`, [batchId]);
      await cancel.query(`UPDATE "sms_messages" SET "status" = 'cancelled' WHERE "batch_id" = $1 AND "status" = 'queued'`, [batchId]);
      await cancel.query(`UPDATE "sms_batches" SET "remaining" = "remaining" - 1 WHERE "id" = $1`, [batchId]);

      const row = Object.assign(new SmsMessage(), { ...inFlight, status: 'sending', attempts: 1 });
      const settling = t
        .get(SmsOutbox)
        .settle(row, 1, { kind: 'retry', notBefore: new Date(Date.now() + 1000), errorCode: '20500', errorMessage: 'Twilio 500' });
      let settled = false;
      void settling.then(() => (settled = true));
      await sleep(300);
      expect(settled, 'the settlement waits for the cancellation on the batch row').toBe(false);
      await cancel.query('COMMIT');
      expect(await settling).toMatchObject({ applied: true, cancelled: true, finishedBatchId: batchId });
    } finally {
      await cancel.end();
    }
    expect(await messages.findOneByOrFail({ id: inFlight.id })).toMatchObject({ status: 'cancelled' });
    expect(await messages.findOneByOrFail({ id: waiting.id })).toMatchObject({ status: 'cancelled' });
    const view = await t.http
      .get(`/api/sms/bulk/${batchId}`)
      .set({ Authorization: `Bearer ${root}` })
      .expect(200);
    expect(view.body).toMatchObject({
      status: 'cancelled',
      counts: { cancelled: 2, queued: 0, sending: 0 },
      finishedAt: expect.any(String),
    });
  });

  it.runIf(kind === 'postgres')(
    'stores a final answer taking the batch row before the message, like a retry: no deadlock between them',
    async () => {
      const res = await t.http
        .post('/api/sms/bulk')
        .set({ Authorization: `Bearer ${root}` })
        .send({ recipients: [{ phone: '0612340083' }], message: 'Plus tard', sendAt: new Date(Date.now() + 3_600_000).toISOString() })
        .expect(202);
      const batchId = res.body.batchId as string;
      const messages = t.get(DataSource).getRepository(SmsMessage);
      const [message] = await messages.findBy({ batchId });
      await messages.update(message.id, { status: 'sending', attempts: 2, leaseUntil: new Date(Date.now() + 60_000) });

      // Another settlement of this batch (a retry of the worker whose lease ran out) holds the batch row and wants the message.
      const other = new pg.Client({ connectionString: t.db.url });
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query(`SELECT "status" FROM "sms_batches" WHERE "id" = $1 FOR UPDATE`, [batchId]);
        const row = Object.assign(new SmsMessage(), { ...message, status: 'sending', attempts: 2 });
        const settling = t.get(SmsOutbox).settle(row, 2, { kind: 'sent', sid: `SM${'0'.repeat(31)}1`, status: 'queued', from: null });
        await sleep(300);
        // The final answer waits for the batch row without holding the message: the other one gets it.
        await other.query(`UPDATE "sms_messages" SET "updated_at" = now() WHERE "id" = $1`, [message.id]);
        await other.query('COMMIT');
        expect(await settling).toMatchObject({ applied: true, finishedBatchId: batchId });
      } finally {
        await other.end();
      }
      expect(await messages.findOneByOrFail({ id: message.id })).toMatchObject({ status: 'queued', providerSid: `SM${'0'.repeat(31)}1` });
    },
  );
});
