import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/** The indexes this migration rebuilds, before (as 1764470000000 left them) and after. */
const BEFORE: TableIndex[] = [
  new TableIndex({ name: 'IDX_sms_messages_created', columnNames: ['created_at'] }),
  new TableIndex({ name: 'UQ_sms_messages_dedupe_key', columnNames: ['dedupe_key'], isUnique: true }),
  new TableIndex({ name: 'IDX_sms_messages_related', columnNames: ['related_type', 'related_id'] }),
  new TableIndex({ name: 'IDX_sms_messages_type_created', columnNames: ['template_type', 'created_at'] }),
  new TableIndex({ name: 'IDX_sms_messages_batch_status', columnNames: ['batch_id', 'status'] }),
  new TableIndex({ name: 'IDX_sms_messages_outbox', columnNames: ['status', 'provider_sid', 'not_before'] }),
  new TableIndex({ name: 'IDX_sms_messages_provider_sid', columnNames: ['provider_sid'] }),
];
const AFTER: TableIndex[] = [
  new TableIndex({ name: 'UQ_sms_messages_dedupe_key', columnNames: ['dedupe_key'], isUnique: true, where: '"dedupe_key" IS NOT NULL' }),
  new TableIndex({ name: 'IDX_sms_messages_related', columnNames: ['related_type', 'related_id'], where: '"related_type" IS NOT NULL' }),
  new TableIndex({
    name: 'IDX_sms_messages_type_created',
    columnNames: ['template_type', 'created_at'],
    where: '"template_type" IS NOT NULL',
  }),
  new TableIndex({ name: 'IDX_sms_messages_batch_status', columnNames: ['batch_id', 'status'], where: '"batch_id" IS NOT NULL' }),
  new TableIndex({ name: 'IDX_sms_messages_outbox', columnNames: ['status', 'not_before'], where: '"provider_sid" IS NULL' }),
  new TableIndex({ name: 'IDX_sms_messages_provider_sid', columnNames: ['provider_sid'], where: '"provider_sid" IS NOT NULL' }),
];

/**
 * Fewer index entries per message (`npm run bench:send` spent about a quarter of the app's CPU in SQLite,
 * most of it writing index pages):
 * - `IDX_sms_messages_created` goes: `IDX_sms_messages_stats` starts with `created_at` and serves the same
 *   ranges and order (and `IDX_sms_messages_unpurged_created` the retention's);
 * - the indexes on a column that most messages leave empty keep only the rows that have it (a single send
 *   has no dedupe key, record, template or batch; a message waiting has no SID): every look-up by such a
 *   column names a value (`=`, `IN`), which implies `IS NOT NULL`, so both databases still use them;
 * - the outbox index keeps only messages without a SID (waiting, or being sent), on (status, not_before):
 *   a sent message leaves it instead of moving inside it, and the claim (`status = 'queued' AND
 *   provider_sid IS NULL AND not_before <= ?`, in not_before order) reads one range of it.
 */
export class PartialSmsIndexes1764480000000 implements MigrationInterface {
  name = 'PartialSmsIndexes1764480000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const index of BEFORE) await queryRunner.dropIndex('sms_messages', index.name!);
    for (const index of AFTER) await queryRunner.createIndex('sms_messages', index);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const index of AFTER) await queryRunner.dropIndex('sms_messages', index.name!);
    for (const index of BEFORE) await queryRunner.createIndex('sms_messages', index);
  }
}
