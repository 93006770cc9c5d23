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

/** Why a provider could not take a message, in terms the service maps to an answer. */
export type ProviderFailure =
  | { kind: 'rejected'; code?: number; status?: number; message: string; moreInfo?: string; retryAfterSeconds?: number }
  | { kind: 'timeout' | 'network'; message: string };

export class SmsProviderError extends Error {
  constructor(readonly failure: ProviderFailure) {
    super(failure.message);
    this.name = 'SmsProviderError';
  }
}

/**
 * One small interface for every SMS vendor: the core never imports a vendor SDK.
 * `send` resolves with the receipt or rejects with SmsProviderError.
 */
export interface SmsProvider {
  readonly name: 'twilio' | 'dry-run' | string;
  /** The sender messages go out from, as stored with each message. */
  readonly sender: string | null;
  send(message: OutgoingSms): Promise<ProviderReceipt>;
}
