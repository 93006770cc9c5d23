import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

const LANE = new TableIndex({
  name: 'IDX_sms_messages_outbox_single',
  columnNames: ['not_before'],
  where: `"status" = 'queued' AND "provider_sid" IS NULL AND "batch_id" IS NULL`,
});

/**
 * The waiting messages that are not part of a batch (single sends, notifications, appointment SMS), in due order:
 * the in-process dispatcher claims them before a batch's (SmsOutbox.claimDue), so a confirmation never waits behind
 * a 10,000-recipient batch. Only rows waiting in the queue are in it: a send written already claimed (the usual
 * single send) never enters it.
 */
export class SmsOutboxLanes1764510000000 implements MigrationInterface {
  name = 'SmsOutboxLanes1764510000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createIndex('sms_messages', LANE);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('sms_messages', LANE.name!);
  }
}
