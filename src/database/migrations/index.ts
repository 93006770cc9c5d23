import { Foundation1764000000000 } from './1764000000000-foundation.js';

/** Every migration in order; TypeORM's glob loading breaks under Vitest, so they are listed here. */
export const MIGRATIONS = [Foundation1764000000000];
