import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { columnTypes } from './column-types.js';

/** Idempotency-Key claims and the answers they replay (src/idempotency). */
export class IdempotencyKeys1764420000001 implements MigrationInterface {
  name = 'IdempotencyKeys1764420000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'idempotency_keys',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'user_id', type: 'varchar', length: '36' },
          { name: 'idempotency_key', type: 'varchar', length: '255' },
          { name: 'request_hash', type: 'varchar', length: '64' },
          { name: 'state', type: 'varchar', length: '16' },
          t.timestamp('locked_until', { isNullable: true }),
          { name: 'response_status', type: 'integer', isNullable: true },
          { name: 'response_body', type: 'text', isNullable: true },
          t.timestamp('created_at', { now: true }),
          t.timestamp('expires_at'),
        ],
        indices: [
          new TableIndex({ name: 'UQ_idempotency_keys_user_key', columnNames: ['user_id', 'idempotency_key'], isUnique: true }),
          new TableIndex({ name: 'IDX_idempotency_keys_expires', columnNames: ['expires_at'] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('idempotency_keys');
  }
}
