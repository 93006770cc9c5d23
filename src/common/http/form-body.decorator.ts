import { RouteConfig } from '@nestjs/platform-fastify';

export const FORM_BODY_KEY = 'formBody';

/** The 415's message, for a form or any other type a JSON route does not take. */
export const UNSUPPORTED_MEDIA_TYPE = 'Unsupported Content-Type: send application/json';

/**
 * This route takes a form-encoded body (`application/x-www-form-urlencoded`: Twilio's webhooks). Every other route
 * takes JSON only: a form sent to it is a 415 (`installInputGuards`, input-hooks.ts), as `text/plain` is.
 */
export const AcceptsFormBody = (): MethodDecorator => RouteConfig({ [FORM_BODY_KEY]: true });
