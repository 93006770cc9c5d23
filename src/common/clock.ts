import { Injectable } from '@nestjs/common';

/**
 * The time, injectable so tests control it (reminders, token expiry checks) instead of waiting.
 */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}
