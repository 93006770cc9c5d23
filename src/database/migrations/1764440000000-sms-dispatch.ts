import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';
import { columnTypes } from './column-types.js';

/**
 * What the dispatcher needs beside the outbox columns: when the latest provider call started
 * (`last_attempt_at`, the start of the window a reconciliation looks Twilio up in), when Twilio took the
 * message (`sent_at`), the sender's role for the journal written when the outcome is known, and
 * an index for the dispatcher's claims, and `sms_batches`: one row per bulk send with its counts, times and the number of messages still to settle.
 */
export class SmsDispatch1764440000000 implements MigrationInterface {
  name = 'SmsDispatch1764440000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    await queryRunner.addColumns('sms_messages', [
      new TableColumn(t.timestamp('last_attempt_at', { isNullable: true })),
      new TableColumn(t.timestamp('sent_at', { isNullable: true })),
      new TableColumn({ name: 'actor_role', type: 'varchar', length: '16', isNullable: true }),
    ]);
    await queryRunner.createIndex(
      'sms_messages',
      new TableIndex({ name: 'IDX_sms_messages_batch_status', columnNames: ['batch_id', 'status'] }),
    );
    // The dispatcher's claim: waiting rows (status queued, no SID yet) in not_before order, without reading
    // the sent ones that carry Twilio's own `queued` status.
    await queryRunner.createIndex(
      'sms_messages',
      new TableIndex({ name: 'IDX_sms_messages_outbox', columnNames: ['status', 'provider_sid', 'not_before'] }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'sms_batches',
        columns: [
          t.uuidPrimary(),
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'message', type: 'text' },
          { name: 'total', type: 'integer' },
          { name: 'queued', type: 'integer' },
          { name: 'invalid', type: 'integer' },
          { name: 'duplicates', type: 'integer' },
          { name: 'remaining', type: 'integer' },
          { name: 'actor_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'actor_email', type: 'varchar', length: '254', isNullable: true },
          { name: 'actor_role', type: 'varchar', length: '16', isNullable: true },
          t.timestamp('not_before', { isNullable: true }),
          t.timestamp('created_at', { now: true }),
          t.timestamp('started_at', { isNullable: true }),
          t.timestamp('finished_at', { isNullable: true }),
          t.timestamp('cancelled_at', { isNullable: true }),
        ],
        indices: [new TableIndex({ name: 'IDX_sms_batches_created', columnNames: ['created_at'] })],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('sms_batches');
    await queryRunner.dropIndex('sms_messages', 'IDX_sms_messages_outbox');
    await queryRunner.dropIndex('sms_messages', 'IDX_sms_messages_batch_status');
    for (const column of ['actor_role', 'sent_at', 'last_attempt_at']) await queryRunner.dropColumn('sms_messages', column);
  }
}
