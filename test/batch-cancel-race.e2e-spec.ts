import pg from 'pg';
import { DataSource } from 'typeorm';
import { SmsOutbox } from '../src/sms/dispatch/sms-outbox.js';
import { DISPATCH_QUEUE, type DispatchQueue } from '../src/sms/dispatch/dispatch-queue.js';
import { SmsKind, SmsMessage } from '../src/sms/sms-message.entity.js';
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

  /** A one-message batch due in an hour, its message claimed by a worker as attempt `attempts`. */
  const claimedInBatch = async (phone: string, attempts: number) => {
    const res = await t.http
      .post('/api/sms/bulk')
      .set({ Authorization: `Bearer ${root}` })
      .send({ recipients: [{ phone }], message: 'Plus tard', sendAt: new Date(Date.now() + 3_600_000).toISOString() })
      .expect(202);
    const batchId = res.body.batchId as string;
    const messages = t.get(DataSource).getRepository(SmsMessage);
    const [message] = await messages.findBy({ batchId });
    await messages.update(message.id, { status: 'sending', attempts, leaseUntil: new Date(Date.now() + 60_000) });
    return { batchId, message, messages };
  };

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
    "never waits in a cycle: a stale attempt's retry touches nothing while the attempt that replaced it settles",
    async () => {
      // Attempt 1's lease ran out; another worker took the message over (attempt 2) and is storing Twilio's answer: it
      // holds the batch row and then the message (the settlements' order), and commits after the stale attempt's retry
      // has begun: that retry waits for it on the batch row, then finds the row no longer its attempt's, and touches nothing.
      const { batchId, message, messages } = await claimedInBatch('0612340083', 2);
      const other = new pg.Client({ connectionString: t.db.url });
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query(`SELECT "status" FROM "sms_batches" WHERE "id" = $1 FOR UPDATE`, [batchId]);
        await other.query(`UPDATE "sms_messages" SET "status" = 'queued', "provider_sid" = $2 WHERE "id" = $1 AND "attempts" = 2`, [
          message.id,
          `SM${'0'.repeat(31)}1`,
        ]);
        await other.query(`UPDATE "sms_batches" SET "remaining" = "remaining" - 1 WHERE "id" = $1`, [batchId]);
        const stale = Object.assign(new SmsMessage(), { ...message, status: 'sending', attempts: 1 });
        const retrying = t
          .get(SmsOutbox)
          .settle(stale, 1, { kind: 'retry', notBefore: new Date(Date.now() + 1000), errorCode: 'TIMEOUT', errorMessage: 'timed out' });
        await sleep(300);
        await other.query('COMMIT');
        const retry = await Promise.race([retrying, sleep(3_000).then(() => 'blocked' as const)]);
        expect(retry).toEqual({ applied: false });
      } finally {
        await other.end();
      }
      expect(await messages.findOneByOrFail({ id: message.id })).toMatchObject({ status: 'queued', providerSid: `SM${'0'.repeat(31)}1` });
    },
  );

  // The deadlock a cancellation met: its UPDATE of the batch's waiting messages reads them as they were when it began,
  // so a message claimed and then settled while it ran is one it must wait for; a settlement that held that message
  // while waiting for the batch row (which the cancellation holds) closed a cycle. A settlement now takes the batch
  // row first, as the cancellations do: while it waits for it, it holds nothing of the batch's messages.
  it.runIf(kind === 'postgres')('a settlement waiting for its batch row holds no lock on its message', async () => {
    const { batchId, message, messages } = await claimedInBatch('0612340084', 1);

    const cancellation = new pg.Client({ connectionString: t.db.url });
    const observer = new pg.Client({ connectionString: t.db.url });
    await cancellation.connect();
    await observer.connect();
    try {
      // A cancellation under way: it holds the batch row.
      await cancellation.query('BEGIN');
      await cancellation.query(`UPDATE "sms_batches" SET "status" = 'cancelled', "cancelled_at" = now() WHERE "id" = $1`, [batchId]);
      const row = Object.assign(new SmsMessage(), { ...message, status: 'sending', attempts: 1 });
      const settling = t.get(SmsOutbox).settle(row, 1, { kind: 'sent', sid: `SM${'0'.repeat(31)}2`, status: 'queued', from: null });
      await sleep(300);
      // The message is free: the cancellation's UPDATE could take it (before, the settlement held it: a cycle).
      await observer.query('BEGIN');
      const free = await observer.query(`SELECT "id" FROM "sms_messages" WHERE "id" = $1 FOR UPDATE NOWAIT`, [message.id]);
      expect(free.rows).toHaveLength(1);
      await observer.query('ROLLBACK');
      await cancellation.query('COMMIT');
      // Sent while the batch was being cancelled: stored sent (it left), and it ends the batch.
      expect(await settling).toMatchObject({ applied: true, finishedBatchId: batchId });
    } finally {
      await observer.end();
      await cancellation.end();
    }
    expect(await messages.findOneByOrFail({ id: message.id })).toMatchObject({ status: 'queued', providerSid: `SM${'0'.repeat(31)}2` });
  });
});

describeEachDatabase('Claim order', (kind) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await TestApp.start(kind, { SMS_PROVIDER: 'dry-run' });
    // Claimed by hand here, not by the app's own loop (stop() waits for a claim under way: in one CI run on PostgreSQL
    // the boot's claim, still running, took this test's rows before it did).
    await t.app.get<typeof DISPATCH_QUEUE, DispatchQueue>(DISPATCH_QUEUE).stop();
  });
  afterAll(() => t?.close());

  const due = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000);
  const row = (id: string, batchId: string | null, notBefore: Date) =>
    Object.assign(new SmsMessage(), {
      id,
      to: '+33612345678',
      from: null,
      body: 'x',
      kind: batchId ? SmsKind.Bulk : SmsKind.Single,
      provider: 'dry-run',
      status: 'queued',
      segments: 1,
      encoding: 'GSM-7',
      category: 'transactional',
      attempts: 0,
      batchId,
      notBefore,
      createdAt: notBefore,
      updatedAt: notBefore,
    });

  it("hands a claim's messages over singles first, each lane in due order, whatever order the database returns them in", async () => {
    const messages = t.get(DataSource).getRepository(SmsMessage);
    const batchId = '00000000-0000-4000-8000-0000000000b1';
    // Ids sorting against the wanted order: the single's last, the older batch message's after the newer one's.
    await messages.insert([
      row('00000000-0000-4000-8000-000000000001', batchId, due(1)),
      row('00000000-0000-4000-8000-000000000002', batchId, due(3)),
      row('ffffffff-ffff-4fff-bfff-fffffffffff1', null, due(2)),
    ]);
    const claimed = await t.get(SmsOutbox).claimDue(10, 60_000);
    expect(claimed.map((m) => m.id)).toEqual([
      'ffffffff-ffff-4fff-bfff-fffffffffff1',
      '00000000-0000-4000-8000-000000000002',
      '00000000-0000-4000-8000-000000000001',
    ]);
  });

  it('the BullMQ sweep reads abandoned rows, then singles, then batch rows: a backlog of older batch rows does not hold a single back', async () => {
    const messages = t.get(DataSource).getRepository(SmsMessage);
    const batchId = '00000000-0000-4000-8000-0000000000b2';
    const backlog = [5, 4, 3].map((minutes, i) => row(`00000000-0000-4000-8000-00000000010${i}`, batchId, due(minutes)));
    const single = row('00000000-0000-4000-8000-000000000201', null, due(1));
    const abandoned = Object.assign(row('00000000-0000-4000-8000-000000000301', null, due(0.5)), {
      status: 'sending',
      attempts: 1,
      leaseUntil: due(0.1),
    });
    await messages.insert([...backlog, single, abandoned]);
    const swept = await t.get(SmsOutbox).dueIds(3);
    expect(swept).toEqual([
      { id: abandoned.id, notBefore: abandoned.notBefore, bulk: false },
      { id: single.id, notBefore: single.notBefore, bulk: false },
      { id: backlog[0].id, notBefore: backlog[0].notBefore, bulk: true },
    ]);
  });
});
