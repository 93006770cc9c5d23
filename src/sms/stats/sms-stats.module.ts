import { Module } from '@nestjs/common';
import { SmsStatsController } from './sms-stats.controller.js';
import { SmsStatsService } from './sms-stats.service.js';

/** GET /api/sms/stats: computed by the database. */
@Module({
  controllers: [SmsStatsController],
  providers: [SmsStatsService],
})
export class SmsStatsModule {}
