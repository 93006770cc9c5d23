export const SEND_QUOTA_METADATA = 'limits:send-quota';

/** How many SMS a request asks for, read from its (not yet validated) body. */
export type SendQuotaCount = (body: unknown) => number;
