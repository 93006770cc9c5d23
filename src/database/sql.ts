/**
 * Raw SQL that runs on SQLite and PostgreSQL: numbered placeholders (`$1`) or positional ones (`?`),
 * and timestamps in the form each stores (PostgreSQL takes a Date; SQLite keeps TypeORM's
 * `YYYY-MM-DD HH:MM:SS.SSS` UTC text, which compares correctly as text).
 */
export class SqlParams {
  readonly values: unknown[] = [];

  constructor(readonly postgres: boolean) {}

  /** Adds a value and returns its placeholder; call in the order the placeholders appear. */
  add(value: unknown): string {
    this.values.push(
      value instanceof Date ? sqlTime(value, this.postgres) : typeof value === 'boolean' && !this.postgres ? Number(value) : value,
    );
    return this.postgres ? `$${this.values.length}` : '?';
  }

  /** A timestamp placeholder (cast on PostgreSQL, where an untyped parameter could be text). */
  time(value: Date): string {
    const slot = this.add(value);
    return this.postgres ? `${slot}::timestamptz` : slot;
  }
}

export function sqlTime(date: Date, postgres: boolean): Date | string {
  return postgres ? date : date.toISOString().replace('T', ' ').replace('Z', '');
}

/** A timestamp as read back from either database (a Date from PostgreSQL, SQLite's UTC text) as that text: comparable. */
export function sqlTimeText(value: Date | string): string {
  return value instanceof Date ? (sqlTime(value, false) as string) : value;
}
