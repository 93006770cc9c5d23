import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { OutgoingSms, ProviderReceipt, SmsProvider } from './sms-provider.js';

/** Recognisable fake SIDs: "SMDRYRUN" then hex, never a real Twilio SID. */
export const DRY_RUN_SID_PREFIX = 'SMDRYRUN';
/** The status a dry-run send is stored with. */
export const DRY_RUN_STATUS = 'dry-run';

/**
 * Sends nothing: for a new user's `npm start` without Twilio credentials, and for explicit
 * SMS_PROVIDER=dry-run. Every answer says `"provider": "dry-run"`.
 */
@Injectable()
export class DryRunSmsProvider implements SmsProvider {
  readonly name = 'dry-run';
  readonly sender = 'dry-run';

  async send(_message: OutgoingSms): Promise<ProviderReceipt> {
    return { sid: DRY_RUN_SID_PREFIX + randomBytes(12).toString('hex'), status: DRY_RUN_STATUS, from: this.sender };
  }

  /** Nothing ever leaves, so an unknown outcome is always "not sent". */
  async findSent(): Promise<ProviderReceipt[]> {
    return [];
  }
}
