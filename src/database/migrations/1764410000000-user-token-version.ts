import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { columnTypes } from './column-types.js';

/**
 * Exact token revocation: `users.token_version` is signed into every token (`ver`) and bumped when a
 * password changes or a user is disabled; a token whose version is not the user's current one is
 * refused. It replaces `tokens_valid_after`, which compared whole-second issue times and so let a
 * token issued in the same second as the change through.
 */
export class UserTokenVersion1764410000000 implements MigrationInterface {
  name = 'UserTokenVersion1764410000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn('users', new TableColumn({ name: 'token_version', type: 'integer', default: 0 }));
    await queryRunner.dropColumn('users', 'tokens_valid_after');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const t = columnTypes(queryRunner);
    await queryRunner.addColumn('users', new TableColumn(t.timestamp('tokens_valid_after', { isNullable: true })));
    await queryRunner.dropColumn('users', 'token_version');
  }
}
