import { RouteConfig } from '@nestjs/platform-fastify';

export const FORM_BODY_KEY = 'formBody';

/** The 415's message, for a form or any other type a JSON route does not take. */
export const UNSUPPORTED_MEDIA_TYPE = 'Unsupported Content-Type: send application/json';

/** The 415's message, for JSON sent to a form route (Twilio sends forms only). */
export const FORM_ONLY = "Unsupported Content-Type: send application/x-www-form-urlencoded (Twilio's form)";

/**
 * This route takes a form-encoded body (`application/x-www-form-urlencoded`: Twilio's webhooks), and only that: JSON
 * sent to it is a 415. Every other route takes JSON only: a form sent to it is a 415 (`installInputGuards`,
 * input-hooks.ts), as `text/plain` is.
 */
export const AcceptsFormBody = (): MethodDecorator => RouteConfig({ [FORM_BODY_KEY]: true });
