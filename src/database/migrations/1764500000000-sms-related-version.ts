import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * `sms_messages.related_version`: what a message about a record was written for (an appointment's status, start
 * and number when its event was raised): the dispatcher asks the record's module, before each attempt, whether
 * that is still the record's state (RelatedRecords), and drops the message as OUTDATED when it is not.
 * `appointments.reminder_rearmed_for`: the dropped reminder that last made a new one due (re-armed once per drop).
 */
export class SmsRelatedVersion1764500000000 implements MigrationInterface {
  name = 'SmsRelatedVersion1764500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      'sms_messages',
      new TableColumn({ name: 'related_version', type: 'varchar', length: '200', isNullable: true }),
    );
    await queryRunner.addColumn(
      'appointments',
      new TableColumn({ name: 'reminder_rearmed_for', type: 'varchar', length: '36', isNullable: true }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('appointments', 'reminder_rearmed_for');
    await queryRunner.dropColumn('sms_messages', 'related_version');
  }
}
