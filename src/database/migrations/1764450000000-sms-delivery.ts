import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';
import { columnTypes } from './column-types.js';

/**
 * After the send: Twilio's status callbacks kept as a history (one row per SID and status, so a
 * repeated callback is a no-op), inbound SMS, the opt-out list, and what the statistics group by.
 */
export class SmsDelivery1764450000000 implements MigrationInterface {
  name = 'SmsDelivery1764450000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    const text = (name: string, length: number, isNullable = true) => ({ name, type: 'varchar', length: String(length), isNullable });
    await queryRunner.createTable(
      new Table({
        name: 'sms_status_events',
        columns: [
          t.uuidPrimary(),
          t.uuid('message_id', true),
          text('provider_sid', 64, false),
          text('status', 24, false),
          text('error_code', 32),
          text('idempotency_token', 128),
          { name: 'applied', type: 'boolean', default: false },
          t.timestamp('received_at'),
        ],
        indices: [
          new TableIndex({ name: 'UQ_sms_status_events_sid_status', columnNames: ['provider_sid', 'status'], isUnique: true }),
          new TableIndex({ name: 'UQ_sms_status_events_token', columnNames: ['idempotency_token'], isUnique: true }),
          new TableIndex({ name: 'IDX_sms_status_events_message', columnNames: ['message_id', 'received_at'] }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'sms_inbound_messages',
        columns: [
          t.uuidPrimary(),
          text('provider_sid', 64, false),
          text('from', 20, false),
          text('to', 64),
          { name: 'body', type: 'text' },
          text('keyword', 16),
          text('opt_out_type', 16),
          t.timestamp('received_at'),
        ],
        indices: [
          new TableIndex({ name: 'UQ_sms_inbound_messages_sid', columnNames: ['provider_sid'], isUnique: true }),
          new TableIndex({ name: 'IDX_sms_inbound_messages_from', columnNames: ['from', 'received_at'] }),
          new TableIndex({ name: 'IDX_sms_inbound_messages_received', columnNames: ['received_at'] }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'sms_opt_outs',
        columns: [
          t.uuidPrimary(),
          text('phone', 20, false),
          t.timestamp('opted_out_at'),
          text('source', 24, false),
          text('reason', 500),
          text('actor_id', 36),
          text('actor_email', 254),
        ],
        indices: [
          new TableIndex({ name: 'UQ_sms_opt_outs_phone', columnNames: ['phone'], isUnique: true }),
          new TableIndex({ name: 'IDX_sms_opt_outs_opted_out_at', columnNames: ['opted_out_at'] }),
        ],
      }),
    );
    await queryRunner.addColumn(
      'sms_messages',
      new TableColumn({ name: 'category', type: 'varchar', length: '16', default: "'transactional'" }),
    );
    // Status callbacks find their message by Twilio's SID.
    await queryRunner.createIndex('sms_messages', new TableIndex({ name: 'IDX_sms_messages_provider_sid', columnNames: ['provider_sid'] }));
    // The statistics read only these columns over a range of created_at: an index-only scan.
    await queryRunner.createIndex(
      'sms_messages',
      new TableIndex({
        name: 'IDX_sms_messages_stats',
        columnNames: ['created_at', 'kind', 'category', 'status', 'segments', 'error_code'],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('sms_messages', 'IDX_sms_messages_stats');
    await queryRunner.dropIndex('sms_messages', 'IDX_sms_messages_provider_sid');
    await queryRunner.dropColumn('sms_messages', 'category');
    await queryRunner.dropTable('sms_opt_outs');
    await queryRunner.dropTable('sms_inbound_messages');
    await queryRunner.dropTable('sms_status_events');
  }
}
