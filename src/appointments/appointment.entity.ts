import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export enum AppointmentStatus {
  Pending = 'pending',
  Confirmed = 'confirmed',
  Cancelled = 'cancelled',
  Completed = 'completed',
}

@Entity('appointments')
@Index('IDX_appointments_starts_at', ['startsAt'])
@Index('IDX_appointments_status_starts_at', ['status', 'startsAt'])
@Index('IDX_appointments_phone', ['clientPhone'])
// The reminder scan reads only this index: due reminders are the rows with a non-null due time.
@Index('IDX_appointments_reminder_due', ['reminderDueAt'])
export class Appointment {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'client_name', type: 'varchar', length: 120 })
  clientName: string;

  /** E.164, normalised like every number. */
  @Column({ name: 'client_phone', type: 'varchar', length: 20 })
  clientPhone: string;

  @Column({ name: 'client_locale', type: 'varchar', length: 8, default: 'fr' })
  clientLocale: string;

  @Column({ name: 'starts_at', type: Date })
  startsAt: Date;

  @Column({ name: 'duration_minutes', type: 'integer', default: 30 })
  durationMinutes: number;

  @Column({ type: 'varchar', length: 200, nullable: true })
  location: string | null;

  @Column({ type: 'text', nullable: true })
  notes: string | null;

  @Column({ type: 'varchar', length: 16 })
  status: AppointmentStatus;

  @Column({ name: 'cancel_reason', type: 'varchar', length: 500, nullable: true })
  cancelReason: string | null;

  /** When the reminder should go out; null when none is pending (unconfirmed, cancelled, or already claimed). */
  @Column({ name: 'reminder_due_at', type: Date, nullable: true })
  reminderDueAt: Date | null;

  /** When an instance claimed the reminder and sent it (exactly once, see ReminderScheduler). */
  @Column({ name: 'reminder_sent_at', type: Date, nullable: true })
  reminderSentAt: Date | null;

  /**
   * The reminder message whose drop (quiet hours, a new number) last made a reminder due again: the same report
   * delivered twice re-arms once (ReminderDeliveryListener). Internal: not read with the appointment.
   */
  @Column({ name: 'reminder_rearmed_for', type: 'varchar', length: 36, nullable: true, select: false })
  reminderRearmedFor: string | null;

  /**
   * Counts the changes an SMS about the appointment is written for (status, start, client number): part of each SMS's
   * `related_version`, so one written before a move and back (T → T2 → T), or a number changed and changed back,
   * is outdated although status, start and number read the same again. Internal: not read with the appointment.
   */
  @Column({ type: 'integer', default: 0, select: false })
  revision: number;

  @Column({ name: 'created_by_id', type: 'varchar', length: 36, nullable: true })
  createdById: string | null;

  @Column({ name: 'created_by_email', type: 'varchar', length: 254, nullable: true })
  createdByEmail: string | null;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt: Date;
}
