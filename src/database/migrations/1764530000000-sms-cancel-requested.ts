import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { columnTypes } from './column-types.js';

/**
 * `sms_messages.cancel_requested_at`: when someone cancelled a message whose last attempt's outcome is unknown
 * (a timeout, a lost connection, a lease that ran out), alone or with its batch. Such a message may already be at
 * Twilio, so it is not marked cancelled at once: it is never sent again, but looked up once more, then stored as
 * sent (Twilio had it) or cancelled (it had not). Null for every other message.
 *
 * A nullable column without a default: a catalogue change on PostgreSQL, a plain `ALTER TABLE … ADD COLUMN` on
 * SQLite (no copy of the table, as in SmsFirstAttempt1764520000000).
 */
export class SmsCancelRequested1764530000000 implements MigrationInterface {
  name = 'SmsCancelRequested1764530000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    if (t.postgres) await queryRunner.addColumn('sms_messages', new TableColumn(t.timestamp('cancel_requested_at', { isNullable: true })));
    else await queryRunner.query('ALTER TABLE "sms_messages" ADD COLUMN "cancel_requested_at" datetime');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    if (columnTypes(queryRunner).postgres) await queryRunner.dropColumn('sms_messages', 'cancel_requested_at');
    else await queryRunner.query('ALTER TABLE "sms_messages" DROP COLUMN "cancel_requested_at"');
  }
}
