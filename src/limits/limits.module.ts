import { Global, Module } from '@nestjs/common';
import { SendQuotaInterceptor } from './send-quota.interceptor.js';
import { SendQuotaService } from './send-quota.service.js';

/** Per-user send limits (`@SendQuota` on the sending routes). Global: the routes of any module may use it. */
@Global()
@Module({
  providers: [SendQuotaService, SendQuotaInterceptor],
  exports: [SendQuotaService, SendQuotaInterceptor],
})
export class LimitsModule {}
