import { Module } from '@nestjs/common';
import { RETENTION_STEPS } from './retention-steps.js';
import { PURGE_STEPS, RetentionService } from './retention.service.js';

/** Data retention (RETENTION_DAYS): scheduled, chunked purges of old personal data. */
@Module({
  providers: [RetentionService, { provide: PURGE_STEPS, useValue: RETENTION_STEPS }],
  exports: [RetentionService],
})
export class RetentionModule {}
