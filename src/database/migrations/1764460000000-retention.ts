import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';
import { columnTypes } from './column-types.js';

/**
 * Data retention (RETENTION_DAYS): `purged_at` marks a message whose number, text and provider error text were
 * removed (its counts, state and segments stay for statistics), and a partial index lists the messages not yet
 * purged by age, so each purge chunk reads only what it will change, however many purged rows pile up.
 */
export class Retention1764460000000 implements MigrationInterface {
  name = 'Retention1764460000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    await queryRunner.addColumn('sms_messages', new TableColumn(t.timestamp('purged_at', { isNullable: true })));
    await queryRunner.createIndex(
      'sms_messages',
      new TableIndex({ name: 'IDX_sms_messages_unpurged_created', columnNames: ['created_at'], where: '"purged_at" IS NULL' }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('sms_messages', 'IDX_sms_messages_unpurged_created');
    await queryRunner.dropColumn('sms_messages', 'purged_at');
  }
}
