import { Global, Module } from '@nestjs/common';
import { Clock } from './clock.js';
import { ShutdownState } from './http/close-on-shutdown.js';
import { RelatedRecords } from './related-records.js';

@Global()
@Module({ providers: [Clock, ShutdownState, RelatedRecords], exports: [Clock, ShutdownState, RelatedRecords] })
export class CommonModule {}
