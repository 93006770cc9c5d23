import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { columnTypes } from './column-types.js';

/** Every SMS attempt, written before the provider is called. */
export class SmsMessages1764100000000 implements MigrationInterface {
  name = 'SmsMessages1764100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    const text = (name: string, length: number, isNullable = true) => ({ name, type: 'varchar', length: String(length), isNullable });
    await queryRunner.createTable(
      new Table({
        name: 'sms_messages',
        columns: [
          t.uuidPrimary(),
          text('to', 20, false),
          text('from', 64),
          { name: 'body', type: 'text' },
          text('kind', 16, false),
          text('template_type', 40),
          text('locale', 8),
          text('batch_id', 36),
          text('related_type', 32),
          text('related_id', 64),
          text('provider', 16, false),
          text('status', 24, false),
          text('provider_sid', 64),
          text('error_code', 32),
          text('error_message', 500),
          { name: 'segments', type: 'integer' },
          text('encoding', 8, false),
          text('actor_id', 36),
          text('actor_email', 254),
          t.timestamp('created_at', { now: true }),
          t.timestamp('updated_at', { now: true }),
        ],
        indices: [
          new TableIndex({ name: 'IDX_sms_messages_created', columnNames: ['created_at'] }),
          new TableIndex({ name: 'IDX_sms_messages_to_created', columnNames: ['to', 'created_at'] }),
          new TableIndex({ name: 'IDX_sms_messages_status_created', columnNames: ['status', 'created_at'] }),
          new TableIndex({ name: 'IDX_sms_messages_type_created', columnNames: ['template_type', 'created_at'] }),
          new TableIndex({ name: 'IDX_sms_messages_batch', columnNames: ['batch_id'] }),
          new TableIndex({ name: 'IDX_sms_messages_related', columnNames: ['related_type', 'related_id'] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('sms_messages');
  }
}
