import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config.js';
import { buildDataSourceOptions } from './data-source.js';
import { initializeAndMigrate } from './run-migrations.js';

/** The database the config names; pending migrations run at start (never `synchronize`). */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({ ...buildDataSourceOptions(config.database), retryAttempts: 0 }),
      // Migrations run here rather than through `migrationsRun`: on PostgreSQL they run under an
      // advisory lock, so instances booting together apply each migration once (run-migrations.ts).
      dataSourceFactory: (options) => initializeAndMigrate(options!),
    }),
  ],
})
export class DatabaseModule {}
