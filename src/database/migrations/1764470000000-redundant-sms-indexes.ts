import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/**
 * Two indexes of `sms_messages` that others already cover, each costing every insert (a 10,000-recipient
 * bulk writes 10,000 entries into each): `IDX_sms_messages_batch` (batch_id) is the prefix of
 * `IDX_sms_messages_batch_status` (batch_id, status), and `IDX_sms_messages_status_not_before`
 * (status, not_before) is served by `IDX_sms_messages_outbox` (status, provider_sid, not_before), which the
 * dispatcher's claim reads, and by `IDX_sms_messages_status_created` for status alone.
 */
export class RedundantSmsIndexes1764470000000 implements MigrationInterface {
  name = 'RedundantSmsIndexes1764470000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('sms_messages', 'IDX_sms_messages_batch');
    await queryRunner.dropIndex('sms_messages', 'IDX_sms_messages_status_not_before');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createIndex('sms_messages', new TableIndex({ name: 'IDX_sms_messages_batch', columnNames: ['batch_id'] }));
    await queryRunner.createIndex(
      'sms_messages',
      new TableIndex({ name: 'IDX_sms_messages_status_not_before', columnNames: ['status', 'not_before'] }),
    );
  }
}
