import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { columnTypes } from './column-types.js';

/**
 * The transactional outbox of domain events: a change and the events it raises are committed together,
 * then a relay hands each event to its listeners (at least once) and marks it processed.
 */
export class DomainEvents1764430000000 implements MigrationInterface {
  name = 'DomainEvents1764430000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'domain_events',
        columns: [
          t.uuidPrimary(),
          { name: 'type', type: 'varchar', length: '64' },
          t.json('payload', false),
          t.timestamp('created_at'),
          // When the relay may (re)deliver it: its creation, then after each failure a backoff.
          t.timestamp('next_attempt_at'),
          // While a relay delivers it: no other relay takes it before then.
          t.timestamp('lease_until', { isNullable: true }),
          { name: 'attempts', type: 'integer', default: 0 },
          { name: 'last_error', type: 'varchar', length: '500', isNullable: true },
          t.timestamp('processed_at', { isNullable: true }),
        ],
        indices: [
          // The relay's poll: unprocessed events that are due.
          new TableIndex({ name: 'IDX_domain_events_pending', columnNames: ['processed_at', 'next_attempt_at'] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('domain_events');
  }
}
