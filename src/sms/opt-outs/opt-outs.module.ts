import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { OptOutService } from './opt-out.service.js';
import { OptOutsController } from './opt-outs.controller.js';
import { SmsOptOut } from './sms-opt-out.entity.js';

/** The opt-out list: OptOutService for the send paths and the inbound webhook, and its routes. */
@Module({
  imports: [TypeOrmModule.forFeature([SmsOptOut])],
  controllers: [OptOutsController],
  providers: [OptOutService],
  exports: [OptOutService],
})
export class SmsOptOutsModule {}
