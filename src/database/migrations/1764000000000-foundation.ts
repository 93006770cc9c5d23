import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { columnTypes } from './column-types.js';

/** Users and the audit journal. Written with the QueryRunner API so it runs on SQLite and PostgreSQL. */
export class Foundation1764000000000 implements MigrationInterface {
  name = 'Foundation1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'users',
        columns: [
          t.uuidPrimary(),
          { name: 'email', type: 'varchar', length: '254' },
          { name: 'password_hash', type: 'varchar', length: '255' },
          { name: 'role', type: 'varchar', length: '16' },
          { name: 'name', type: 'varchar', length: '120', isNullable: true },
          { name: 'phone', type: 'varchar', length: '20', isNullable: true },
          { name: 'disabled', type: 'boolean', default: false },
          t.timestamp('tokens_valid_after', { isNullable: true }),
          t.timestamp('created_at', { now: true }),
          t.timestamp('updated_at', { now: true }),
        ],
        indices: [new TableIndex({ name: 'UQ_users_email', columnNames: ['email'], isUnique: true })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'audit_logs',
        columns: [
          t.uuidPrimary(),
          { name: 'action', type: 'varchar', length: '64' },
          { name: 'actor_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'actor_email', type: 'varchar', length: '254', isNullable: true },
          { name: 'actor_role', type: 'varchar', length: '16', isNullable: true },
          { name: 'target_type', type: 'varchar', length: '64', isNullable: true },
          { name: 'target_id', type: 'varchar', length: '64', isNullable: true },
          t.json('metadata'),
          { name: 'ip', type: 'varchar', length: '64', isNullable: true },
          t.timestamp('created_at', { now: true }),
        ],
        indices: [
          new TableIndex({ name: 'IDX_audit_logs_action_created', columnNames: ['action', 'created_at'] }),
          new TableIndex({ name: 'IDX_audit_logs_created', columnNames: ['created_at'] }),
          new TableIndex({ name: 'IDX_audit_logs_actor_created', columnNames: ['actor_id', 'created_at'] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('audit_logs');
    await queryRunner.dropTable('users');
  }
}
