/** Appointments for bench/reminders.ts: a realistic 100,000-row mix, the rows due now, and fast multi-row inserts. */
import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { AppointmentStatus } from '../src/appointments/appointment.entity.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The app's default REMINDER_LEAD_HOURS: a reminder is due this long before the appointment. */
const LEAD = 24 * HOUR;

export interface SeedRow {
  id: string;
  clientName: string;
  clientPhone: string;
  clientLocale: string;
  startsAt: Date;
  status: AppointmentStatus;
  cancelReason: string | null;
  reminderDueAt: Date | null;
  reminderSentAt: Date | null;
  createdAt: Date;
}

/** A small deterministic generator (mulberry32), so every run seeds the same mix. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function client(i: number, random: () => number) {
  return {
    id: randomUUID(),
    clientName: `Client ${i}`,
    clientPhone: `+336${String(Math.floor(random() * 1e8)).padStart(8, '0')}`,
    clientLocale: random() < 0.8 ? 'fr' : 'en',
  };
}

/**
 * `count` appointments none of which is due at `now`: 70% confirmed with a reminder due over the next
 * 60 days (at least 1 h ahead), 10% confirmed with the reminder already sent (reminder_due_at null),
 * 10% pending and 10% cancelled (null). Row order interleaves the kinds; due times are random.
 */
export function mixedAppointments(count: number, now: Date, random: () => number): SeedRow[] {
  const t = now.getTime();
  const rows: SeedRow[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 10;
    const base = { ...client(i, random), cancelReason: null, reminderDueAt: null, reminderSentAt: null };
    const createdAt = new Date(t - random() * 90 * DAY);
    if (kind < 7) {
      const due = new Date(t + HOUR + random() * 60 * DAY);
      rows.push({ ...base, status: AppointmentStatus.Confirmed, startsAt: new Date(due.getTime() + LEAD), reminderDueAt: due, createdAt });
    } else if (kind === 7) {
      // Within the lead window: its reminder went out already.
      const startsAt = new Date(t - HOUR + random() * (LEAD + HOUR));
      rows.push({ ...base, status: AppointmentStatus.Confirmed, startsAt, reminderSentAt: new Date(startsAt.getTime() - LEAD), createdAt });
    } else if (kind === 8) {
      rows.push({ ...base, status: AppointmentStatus.Pending, startsAt: new Date(t + random() * 60 * DAY), createdAt });
    } else {
      rows.push({
        ...base,
        status: AppointmentStatus.Cancelled,
        startsAt: new Date(t - 30 * DAY + random() * 90 * DAY),
        cancelReason: 'Annulé par le client',
        createdAt,
      });
    }
  }
  return rows;
}

/** `count` confirmed appointments whose reminder fell due in the last 30 minutes; all still ahead (claimable). */
export function dueAppointments(count: number, now: Date, random: () => number): SeedRow[] {
  const t = now.getTime();
  return Array.from({ length: count }, (_, i) => {
    const due = new Date(t - 1000 - Math.floor(random() * 30 * 60_000));
    return {
      ...client(1_000_000 + i, random),
      status: AppointmentStatus.Confirmed,
      startsAt: new Date(due.getTime() + LEAD),
      cancelReason: null,
      reminderDueAt: due,
      reminderSentAt: null,
      createdAt: new Date(t - 7 * DAY),
    };
  });
}

/** UTC 'YYYY-MM-DD HH:MM:SS.SSS', the form TypeORM stores on SQLite and a UTC `timestamp` literal on PostgreSQL. */
const sqlTime = (date: Date | null): string | null => (date ? date.toISOString().replace('T', ' ').slice(0, 23) : null);

const COLUMNS = [
  'id',
  'client_name',
  'client_phone',
  'client_locale',
  'starts_at',
  'duration_minutes',
  'location',
  'status',
  'cancel_reason',
  'reminder_due_at',
  'reminder_sent_at',
  'created_by_email',
  'created_at',
  'updated_at',
];

function values(row: SeedRow): unknown[] {
  return [
    row.id,
    row.clientName,
    row.clientPhone,
    row.clientLocale,
    sqlTime(row.startsAt),
    30,
    'Cabinet du Dr Martin, 12 rue de la Paix, Paris',
    row.status,
    row.cancelReason,
    sqlTime(row.reminderDueAt),
    sqlTime(row.reminderSentAt),
    'secretariat@example.test',
    sqlTime(row.createdAt),
    sqlTime(row.createdAt),
  ];
}

/**
 * Multi-row INSERTs (`batch` rows each: 14 parameters a row stays under SQLite's 32,766 and
 * PostgreSQL's 65,535), all in one transaction.
 */
export async function insertAppointments(dataSource: DataSource, rows: SeedRow[], batch = 1000): Promise<void> {
  const postgres = dataSource.options.type === 'postgres';
  const insert = async (manager: EntityManager, chunk: SeedRow[]) => {
    let n = 0;
    const tuples = chunk.map(() => `(${COLUMNS.map(() => (postgres ? `$${++n}` : '?')).join(', ')})`);
    await manager.query(
      `INSERT INTO "appointments" (${COLUMNS.map((c) => `"${c}"`).join(', ')}) VALUES ${tuples.join(', ')}`,
      chunk.flatMap(values),
    );
  };
  await dataSource.transaction(async (manager) => {
    for (let i = 0; i < rows.length; i += batch) await insert(manager, rows.slice(i, i + batch));
  });
}

export async function deleteAppointments(dataSource: DataSource, rows: SeedRow[]): Promise<void> {
  const postgres = dataSource.options.type === 'postgres';
  const marks = rows.map((_, i) => (postgres ? `$${i + 1}` : '?')).join(', ');
  await dataSource.query(
    `DELETE FROM "appointments" WHERE "id" IN (${marks})`,
    rows.map((r) => r.id),
  );
}
