import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppointmentRecords } from './appointment-records.js';
import { Appointment } from './appointment.entity.js';
import { AppointmentsController } from './appointments.controller.js';
import { AppointmentsService } from './appointments.service.js';
import { ReminderDeliveryListener } from './reminder-delivery.listener.js';
import { ReminderPolicy } from './reminder-policy.js';
import { ReminderScheduler } from './reminder.scheduler.js';

/**
 * Appointments and their reminders. It does not import the SMS module: it writes outbox events
 * (appointment.confirmed, .cancelled, .rescheduled, .reminder_due) with its changes and the SMS side
 * listens; it reads the SMS about an appointment through the global RelatedMessages port, and hears
 * back about reminders through `sms.message.updated`; it tells the SMS dispatcher whether an SMS about an
 * appointment still fits it by registering AppointmentRecords with the global RelatedRecords.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Appointment])],
  controllers: [AppointmentsController],
  providers: [AppointmentsService, ReminderPolicy, ReminderScheduler, ReminderDeliveryListener, AppointmentRecords],
  exports: [AppointmentsService, ReminderScheduler],
})
export class AppointmentsModule {}
