/** Injection token for the active SmsProvider (Twilio or dry-run; tests may stand in their own). */
export const SMS_PROVIDER = Symbol('SMS_PROVIDER');

export interface OutgoingSms {
  /** E.164, already validated. */
  to: string;
  body: string;
}

export interface ProviderReceipt {
  sid: string;
  /** The provider's status for the new message (Twilio: queued, accepted, …). */
  status: string;
  /** The sender the provider used. */
  from: string | null;
}

/**
 * Why a provider call did not give a receipt (the one failure type, Twilio's included):
 * - `rejected`: the provider answered with an error (HTTP status, Twilio code, docs link, Retry-After);
 * - `network`: the request never reached the provider (connection refused, DNS): nothing was sent;
 * - `timeout` / `lost`: no answer in time, or the connection dropped after the request was written:
 *   the message may have gone, so it is looked up before any new attempt.
 */
export type ProviderFailure =
  | { kind: 'rejected'; code?: number; status?: number; message: string; moreInfo?: string; retryAfterSeconds?: number }
  | { kind: 'timeout' | 'network' | 'lost'; message: string };

export class SmsProviderError extends Error {
  constructor(readonly failure: ProviderFailure) {
    super(failure.message);
    this.name = 'SmsProviderError';
  }
}

/** What a look-up searches for: a message to `to` with exactly `body`, created at or after `since`. */
export interface SentMessageQuery {
  to: string;
  body: string;
  since: Date;
}

/**
 * One small interface for every SMS vendor: the core never imports a vendor SDK.
 * `send` resolves with the receipt or rejects with SmsProviderError. `findSent` answers whether a
 * message whose outcome is unknown did go: the matching messages at the provider, oldest first (empty:
 * it did not go); it rejects with SmsProviderError when the provider cannot tell now.
 */
export interface SmsProvider {
  readonly name: 'twilio' | 'dry-run' | string;
  /** The sender messages go out from, as stored with each message. */
  readonly sender: string | null;
  send(message: OutgoingSms): Promise<ProviderReceipt>;
  findSent(query: SentMessageQuery): Promise<ProviderReceipt[]>;
}
