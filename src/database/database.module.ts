import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config.js';
import { buildDataSourceOptions } from './data-source.js';

/** The database the config names; pending migrations run at start (never `synchronize`). */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        ...buildDataSourceOptions(config.database),
        migrationsRun: true,
        // One instance at a time applies migrations; the others wait (PostgreSQL advisory lock).
        migrationsTransactionMode: 'each',
        retryAttempts: 0,
      }),
    }),
  ],
})
export class DatabaseModule {}
