import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { columnTypes } from './column-types.js';

/**
 * `appointments.revision`: incremented by every change of an appointment's status, start or client number, and part
 * of the `related_version` of the SMS written about it, so an SMS written before a move and back (T → T2 → T) is
 * outdated although status, start and number read the same again. Existing rows start at 0 (their SMS were written
 * with versions without a revision, which are not compared on it).
 *
 * A NOT NULL column with a constant default: a catalogue change on PostgreSQL (11 and later), a plain
 * `ALTER TABLE … ADD COLUMN` on SQLite (no copy of the table, as in SmsCancelRequested1764530000000).
 */
export class AppointmentRevision1764540000000 implements MigrationInterface {
  name = 'AppointmentRevision1764540000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    if (columnTypes(queryRunner).postgres)
      await queryRunner.addColumn('appointments', new TableColumn({ name: 'revision', type: 'integer', isNullable: false, default: 0 }));
    else await queryRunner.query('ALTER TABLE "appointments" ADD COLUMN "revision" integer NOT NULL DEFAULT (0)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    if (columnTypes(queryRunner).postgres) await queryRunner.dropColumn('appointments', 'revision');
    else await queryRunner.query('ALTER TABLE "appointments" DROP COLUMN "revision"');
  }
}
