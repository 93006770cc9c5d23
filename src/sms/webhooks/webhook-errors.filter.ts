import { ArgumentsHost, Catch } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AllExceptionsFilter } from '../../common/filters/all-exceptions.filter.js';

/**
 * The app's error answer for the Twilio webhooks: the common JSON body, with a JSON content type
 * whatever the route had set before failing. The inbound route answers TwiML (text/xml); an error
 * raised after that type was set would otherwise leave Fastify unable to send the JSON body (its
 * `FST_ERR_REP_INVALID_PAYLOAD_TYPE`) and turn a 400 or 403 into a 500.
 */
@Catch()
export class WebhookErrorsFilter extends AllExceptionsFilter {
  override catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (!reply.sent) void reply.removeHeader('content-type');
    super.catch(exception, host);
  }
}
