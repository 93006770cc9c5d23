import { Injectable } from '@nestjs/common';
import type twilio from 'twilio';
import { AppConfig } from '../../config/app-config.js';
import { STATUS_CALLBACK_PATH } from '../webhooks/webhook-paths.js';
import type { MetricsService } from '../../metrics/metrics.service.js';
import { createTwilioClient, toTwilioFailure } from '../twilio/twilio-client.factory.js';
import { OutgoingSms, ProviderReceipt, SentMessageQuery, SmsProvider, SmsProviderError } from './sms-provider.js';

/** Clock skew allowed between us and Twilio when looking a message up. */
const LOOKUP_MARGIN_MS = 5 * 60_000;
/** Messages to one number read when looking one up (Twilio's largest page). */
const LOOKUP_LIMIT = 1000;

/**
 * Twilio through its official SDK, the client built once (keep-alive, timeout, base URL from
 * TWILIO_API_BASE_URL, the SDK's own autoRetry off: the dispatcher owns retries). Sends from the
 * Messaging Service when one is set, else from the number.
 */
@Injectable()
export class TwilioSmsProvider implements SmsProvider {
  readonly name = 'twilio';
  readonly sender: string | null;
  private readonly client: twilio.Twilio;
  /** PUBLIC_BASE_URL + the status webhook's path, when PUBLIC_BASE_URL is set. */
  private readonly statusCallback?: string;
  private readonly messagingServiceSid?: string;
  private readonly from?: string;

  constructor(config: AppConfig, metrics?: MetricsService) {
    this.statusCallback = config.publicBaseUrl ? `${config.publicBaseUrl}${STATUS_CALLBACK_PATH}` : undefined;
    const { accountSid, authToken, apiBaseUrl, timeoutMs, messagingServiceSid, phoneNumber } = config.twilio;
    // A look-up and a send never overlap for one message, so the pool needs one connection per call in flight.
    const poolSize = Math.max(20, config.dispatch.maxConcurrency);
    this.client = createTwilioClient({
      accountSid: accountSid!,
      authToken: authToken!,
      baseUrl: apiBaseUrl,
      timeoutMs,
      poolSize,
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
        // Twilio reports each status change there (signed; see src/sms/webhooks).
        ...(this.statusCallback ? { statusCallback: this.statusCallback } : {}),
      });
      return { sid: created.sid, status: created.status, from: created.from ?? this.sender };
    } catch (error) {
      // Never rethrow the raw SDK error: it carries the Basic auth header with the token.
      throw new SmsProviderError(toTwilioFailure(error));
    }
  }

  /**
   * The Messages list filtered by To (newest first, one page of Twilio's largest size), matched on the exact body and
   * on the creation time (from a margin before `since`), oldest first. Not filtered by DateSent: a message Twilio
   * accepted but still holds in its own queue (a long code's rate, a backlog) has no `date_sent` yet, so such a
   * filter would not list it, and the message would be sent a second time.
   */
  async findSent(query: SentMessageQuery): Promise<ProviderReceipt[]> {
    const after = new Date(query.since.getTime() - LOOKUP_MARGIN_MS);
    try {
      const found = await this.client.messages.list({ to: query.to, limit: LOOKUP_LIMIT, pageSize: LOOKUP_LIMIT });
      return found
        .filter((m) => m.body === query.body && (!m.dateCreated || m.dateCreated >= after))
        .sort((a, b) => (a.dateCreated?.getTime() ?? 0) - (b.dateCreated?.getTime() ?? 0))
        .map((m) => ({ sid: m.sid, status: m.status, from: m.from ?? this.sender }));
    } catch (error) {
      throw new SmsProviderError(toTwilioFailure(error));
    }
  }
}
