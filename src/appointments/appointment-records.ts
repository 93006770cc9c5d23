import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { Clock } from '../common/clock.js';
import { RelatedRecords } from '../common/related-records.js';
import { Appointment } from './appointment.entity.js';
import { parseAppointmentSmsVersion } from './appointment.events.js';

/**
 * Whether an SMS about an appointment still makes sense, registered with RelatedRecords for `appointment` (the SMS
 * dispatcher asks it before each attempt): the appointment must still be in the state the SMS was written for
 * (status, start, client number, and the revision counting their changes: appointmentSmsVersion in appointment.events.ts)
 * and not have started.
 */
@Injectable()
export class AppointmentRecords implements OnModuleInit {
  constructor(
    @InjectRepository(Appointment) private readonly appointments: Repository<Appointment>,
    private readonly clock: Clock,
    private readonly records: RelatedRecords,
  ) {}

  onModuleInit(): void {
    this.records.register('appointment', (id, version) => this.whyOutdated(id, version));
  }

  async whyOutdated(id: string, version: string): Promise<string | null> {
    const appointment = await this.appointments.findOne({
      where: { id },
      select: { id: true, status: true, startsAt: true, clientPhone: true, revision: true },
    });
    if (!appointment) return 'Not sent: its appointment no longer exists';
    const { status, startsAt, clientPhone: phone, revision } = parseAppointmentSmsVersion(version);
    if (appointment.status !== status) return `Not sent: its appointment is ${appointment.status} now`;
    if (appointment.startsAt.toISOString() !== startsAt) return 'Not sent: its appointment was moved since this SMS was written';
    if (appointment.clientPhone !== phone) return "Not sent: the appointment's client number changed since this SMS was written";
    // Moved (or given a new number) and back since: the client has been told of the change since this SMS was written.
    if (revision !== null && appointment.revision !== revision)
      return 'Not sent: its appointment was changed (moved or given a new number) and changed back since this SMS was written';
    if (appointment.startsAt <= this.clock.now()) return 'Not sent: its appointment has started';
    return null;
  }
}
