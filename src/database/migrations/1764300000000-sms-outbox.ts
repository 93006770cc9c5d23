import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';
import { columnTypes } from './column-types.js';

/**
 * sms_messages becomes the outbox: a row is written `queued` (with `not_before`), claimed by a
 * dispatcher as `sending` until `lease_until`, then carries Twilio's answer or `failed`/`cancelled`.
 * `dedupe_key` makes a replayed request or event find its first message instead of making a second.
 */
export class SmsOutbox1764300000000 implements MigrationInterface {
  name = 'SmsOutbox1764300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    await queryRunner.addColumns('sms_messages', [
      new TableColumn(t.timestamp('not_before', { isNullable: true })),
      new TableColumn(t.timestamp('lease_until', { isNullable: true })),
      new TableColumn({ name: 'attempts', type: 'integer', default: 0 }),
      new TableColumn({ name: 'dedupe_key', type: 'varchar', length: '160', isNullable: true }),
    ]);
    await queryRunner.createIndex(
      'sms_messages',
      new TableIndex({ name: 'UQ_sms_messages_dedupe_key', columnNames: ['dedupe_key'], isUnique: true }),
    );
    await queryRunner.createIndex(
      'sms_messages',
      new TableIndex({ name: 'IDX_sms_messages_status_not_before', columnNames: ['status', 'not_before'] }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('sms_messages', 'IDX_sms_messages_status_not_before');
    await queryRunner.dropIndex('sms_messages', 'UQ_sms_messages_dedupe_key');
    for (const column of ['dedupe_key', 'attempts', 'lease_until', 'not_before']) await queryRunner.dropColumn('sms_messages', column);
  }
}
