import { Global, Injectable, Module } from '@nestjs/common';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { Clock } from '../common/clock.js';
import { RelatedRecords } from '../common/related-records.js';
import { Appointment } from './appointment.entity.js';
import { parseAppointmentSmsVersion } from './appointment.events.js';

/**
 * Whether an SMS about an appointment still makes sense (RelatedRecords): the appointment must still be in the
 * state the SMS was written for (status, start, client number: appointmentSmsVersion in appointment.events.ts)
 * and not have started.
 */
@Injectable()
export class AppointmentRecords extends RelatedRecords {
  constructor(
    @InjectRepository(Appointment) private readonly appointments: Repository<Appointment>,
    private readonly clock: Clock,
  ) {
    super();
  }

  async whyOutdated(type: string, id: string, version: string): Promise<string | null> {
    if (type !== 'appointment') return null;
    const appointment = await this.appointments.findOne({
      where: { id },
      select: { id: true, status: true, startsAt: true, clientPhone: true },
    });
    if (!appointment) return 'Not sent: its appointment no longer exists';
    const { status, startsAt, clientPhone: phone } = parseAppointmentSmsVersion(version);
    if (appointment.status !== status) return `Not sent: its appointment is ${appointment.status} now`;
    if (appointment.startsAt.toISOString() !== startsAt) return 'Not sent: its appointment was moved since this SMS was written';
    if (appointment.clientPhone !== phone) return "Not sent: the appointment's client number changed since this SMS was written";
    if (appointment.startsAt <= this.clock.now()) return 'Not sent: its appointment has started';
    return null;
  }
}

/** Provides RelatedRecords for appointments to the SMS module, which does not import AppointmentsModule. */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([Appointment])],
  providers: [{ provide: RelatedRecords, useClass: AppointmentRecords }],
  exports: [RelatedRecords],
})
export class AppointmentPortsModule {}
