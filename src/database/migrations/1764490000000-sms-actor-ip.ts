import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * The IP of the request that asked for a send (or a bulk), kept with the message and the batch so that the journal
 * entries written later by the dispatcher (the send's final state, the batch's end) carry it like every other entry.
 */
export class SmsActorIp1764490000000 implements MigrationInterface {
  name = 'SmsActorIp1764490000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['sms_messages', 'sms_batches']) {
      await queryRunner.addColumn(table, new TableColumn({ name: 'actor_ip', type: 'varchar', length: '45', isNullable: true }));
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['sms_batches', 'sms_messages']) await queryRunner.dropColumn(table, 'actor_ip');
  }
}
