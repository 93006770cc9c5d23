import { Injectable } from '@nestjs/common';
import type twilio from 'twilio';
import { AppConfig } from '../../config/app-config.js';
import type { MetricsService } from '../../metrics/metrics.service.js';
import { createTwilioClient, toTwilioFailure } from '../twilio/twilio-client.factory.js';
import { OutgoingSms, ProviderReceipt, SmsProvider, SmsProviderError } from './sms-provider.js';

/**
 * Twilio through its official SDK, the client built once (keep-alive, timeout, base URL from
 * TWILIO_API_BASE_URL). Sends from the Messaging Service when one is set, else from the number.
 */
@Injectable()
export class TwilioSmsProvider implements SmsProvider {
  readonly name = 'twilio';
  readonly sender: string | null;
  private readonly client: twilio.Twilio;
  private readonly messagingServiceSid?: string;
  private readonly from?: string;

  constructor(config: AppConfig, metrics?: MetricsService) {
    const { accountSid, authToken, apiBaseUrl, timeoutMs, messagingServiceSid, phoneNumber } = config.twilio;
    this.client = createTwilioClient({
      accountSid: accountSid!,
      authToken: authToken!,
      baseUrl: apiBaseUrl,
      timeoutMs,
      // Every SDK call's latency and error code (twilio_request_duration_seconds, twilio_errors_total).
      observer: metrics && ((call) => metrics.twilioCall(call.durationMs, call.errorCode, call.operation)),
    });
    this.messagingServiceSid = messagingServiceSid;
    this.from = messagingServiceSid ? undefined : phoneNumber;
    this.sender = messagingServiceSid ?? phoneNumber ?? null;
  }

  async send(message: OutgoingSms): Promise<ProviderReceipt> {
    try {
      const created = await this.client.messages.create({
        to: message.to,
        body: message.body,
        ...(this.messagingServiceSid ? { messagingServiceSid: this.messagingServiceSid } : { from: this.from }),
      });
      return { sid: created.sid, status: created.status, from: created.from ?? this.sender };
    } catch (error) {
      // Never rethrow the raw SDK error: it carries the Basic auth header with the token.
      const failure = toTwilioFailure(error);
      throw new SmsProviderError(failure.kind === 'twilio' ? { ...failure, kind: 'rejected' } : failure);
    }
  }
}
