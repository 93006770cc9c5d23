import { Global, Module } from '@nestjs/common';
import { Clock } from './clock.js';
import { ShutdownState } from './http/close-on-shutdown.js';

@Global()
@Module({ providers: [Clock, ShutdownState], exports: [Clock, ShutdownState] })
export class CommonModule {}
