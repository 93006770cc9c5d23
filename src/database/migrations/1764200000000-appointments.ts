import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { columnTypes } from './column-types.js';

/** Appointments, with the reminder bookkeeping the scheduler claims atomically. */
export class Appointments1764200000000 implements MigrationInterface {
  name = 'Appointments1764200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'appointments',
        columns: [
          t.uuidPrimary(),
          { name: 'client_name', type: 'varchar', length: '120' },
          { name: 'client_phone', type: 'varchar', length: '20' },
          { name: 'client_locale', type: 'varchar', length: '8', default: "'fr'" },
          t.timestamp('starts_at'),
          { name: 'duration_minutes', type: 'integer', default: 30 },
          { name: 'location', type: 'varchar', length: '200', isNullable: true },
          { name: 'notes', type: 'text', isNullable: true },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'cancel_reason', type: 'varchar', length: '500', isNullable: true },
          t.timestamp('reminder_due_at', { isNullable: true }),
          t.timestamp('reminder_sent_at', { isNullable: true }),
          { name: 'created_by_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'created_by_email', type: 'varchar', length: '254', isNullable: true },
          t.timestamp('created_at', { now: true }),
          t.timestamp('updated_at', { now: true }),
        ],
        indices: [
          new TableIndex({ name: 'IDX_appointments_starts_at', columnNames: ['starts_at'] }),
          new TableIndex({ name: 'IDX_appointments_status_starts_at', columnNames: ['status', 'starts_at'] }),
          new TableIndex({ name: 'IDX_appointments_phone', columnNames: ['client_phone'] }),
          new TableIndex({ name: 'IDX_appointments_reminder_due', columnNames: ['reminder_due_at'] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('appointments');
  }
}
