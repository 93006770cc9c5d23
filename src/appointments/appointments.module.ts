import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SmsMessage } from '../sms/sms-message.entity.js';
import { Appointment } from './appointment.entity.js';
import { AppointmentsController } from './appointments.controller.js';
import { AppointmentsService } from './appointments.service.js';
import { ReminderPolicy } from './reminder-policy.js';
import { ReminderScheduler } from './reminder.scheduler.js';

/**
 * Appointments and their reminders. It emits events (appointment.confirmed, .cancelled,
 * .rescheduled, .reminder_due) and does not import the SMS module: the SMS side listens.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Appointment, SmsMessage])],
  controllers: [AppointmentsController],
  providers: [AppointmentsService, ReminderPolicy, ReminderScheduler],
  exports: [AppointmentsService, ReminderScheduler],
})
export class AppointmentsModule {}
