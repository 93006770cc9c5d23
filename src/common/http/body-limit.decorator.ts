import { RouteConfig } from '@nestjs/platform-fastify';
import type { AppConfig } from '../../config/app-config.js';

/** Bytes, or a function of the configuration (read once when the route is registered). */
export type BodyLimit = number | ((config: AppConfig) => number);

export const BODY_LIMIT_KEY = 'bodyLimit';

/**
 * The largest body this route accepts (413 past it), instead of `BODY_LIMIT_BYTES`. Fastify reads a
 * route's `bodyLimit` before buffering the body; `registerBodyLimits` turns this route config into it.
 */
export const BodyLimit = (limit: BodyLimit): MethodDecorator => RouteConfig({ [BODY_LIMIT_KEY]: limit });

/** The sign-in body: an email and a password fit in far less. */
export const LOGIN_BODY_LIMIT: BodyLimit = (config) => Math.min(4096, config.bodyLimitBytes);

/** A bulk send: up to SMS_BULK_MAX_RECIPIENTS recipients of about 200 bytes each, never below the default. */
export const BULK_BODY_LIMIT: BodyLimit = (config) => Math.max(config.bodyLimitBytes, config.sms.bulkMaxRecipients * 200 + 16_384);
