import { RouteConfig } from '@nestjs/platform-fastify';
import type { AppConfig } from '../../config/app-config.js';
import { INPUT_LIMITS } from './input-limits.js';

/** A limit (bytes; values for `jsonValues`), or a function of the configuration (read once when the route is registered). */
export type BodyLimit = number | ((config: AppConfig) => number);

export const BODY_LIMIT_KEY = 'bodyLimit';
export const JSON_VALUES_LIMIT_KEY = 'jsonValuesLimit';

/**
 * The largest body this route accepts (413 past it), instead of `BODY_LIMIT_BYTES`, and optionally the most
 * values its JSON may hold (400 past it), instead of INPUT_LIMITS.maxNodes. Fastify reads a route's
 * `bodyLimit` before buffering the body; `installInputGuards` (input-hooks.ts) turns this route config into
 * it, and the JSON parser reads the values limit.
 */
export const BodyLimit = (limit: BodyLimit, options: { jsonValues?: BodyLimit } = {}): MethodDecorator =>
  RouteConfig({ [BODY_LIMIT_KEY]: limit, ...(options.jsonValues !== undefined ? { [JSON_VALUES_LIMIT_KEY]: options.jsonValues } : {}) });

/** The sign-in body: an email and a password fit in far less. */
export const LOGIN_BODY_LIMIT: BodyLimit = (config) => Math.min(4096, config.bodyLimitBytes);

/** A bulk send: up to SMS_BULK_MAX_RECIPIENTS recipients of about 200 bytes each, never below the default. */
export const BULK_BODY_LIMIT: BodyLimit = (config) => Math.max(config.bodyLimitBytes, config.sms.bulkMaxRecipients * 200 + 16_384);

/** A bulk send's JSON: up to 3 values per recipient (the object, phone, name) and the rest of the body, never below the default. */
export const BULK_JSON_VALUES: BodyLimit = (config) => Math.max(INPUT_LIMITS.maxNodes, config.sms.bulkMaxRecipients * 3 + 1_000);
