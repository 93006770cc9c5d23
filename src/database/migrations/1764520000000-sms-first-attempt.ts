import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { columnTypes } from './column-types.js';

/**
 * `sms_messages.first_attempt_at`: when the message's first counted provider call started (set by the claim that
 * counts attempt 1, cleared with it when that claim is given back). A message whose attempts are used up while
 * Twilio is down is retried until `SMS_OUTAGE_RETRY_MS` after it (decideRetry). Rows in flight at the migration
 * get it at their next claim.
 *
 * A nullable column without a default: PostgreSQL only changes its catalogue. On SQLite it is a plain
 * `ALTER TABLE … ADD COLUMN` too (TypeORM's addColumn would copy the whole table into a new one, holding its
 * writes for as long on a large table).
 */
export class SmsFirstAttempt1764520000000 implements MigrationInterface {
  name = 'SmsFirstAttempt1764520000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    if (t.postgres) await queryRunner.addColumn('sms_messages', new TableColumn(t.timestamp('first_attempt_at', { isNullable: true })));
    else await queryRunner.query('ALTER TABLE "sms_messages" ADD COLUMN "first_attempt_at" datetime');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    if (columnTypes(queryRunner).postgres) await queryRunner.dropColumn('sms_messages', 'first_attempt_at');
    else await queryRunner.query('ALTER TABLE "sms_messages" DROP COLUMN "first_attempt_at"');
  }
}
