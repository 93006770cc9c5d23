import {
  applyDecorators,
  Body,
  Controller,
  createParamDecorator,
  ExecutionContext,
  HttpCode,
  HttpException,
  HttpStatus,
  Post,
  Res,
  UseFilters,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiConsumes,
  ApiExtraModels,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorResponseDto } from '../../common/dto/error-response.dto.js';
import { MetricsService } from '../../metrics/metrics.service.js';
import { DeliveryStatusService } from './delivery-status.service.js';
import { InboundSmsService } from './inbound-sms.service.js';
import { TwilioWebhook } from './twilio-signature.guard.js';
import { WebhookErrorsFilter } from './webhook-errors.filter.js';
import { StatusCallbackResultDto, TwimlResponseDto } from './webhook-responses.dto.js';
import { ApiDatabaseErrors } from '../../common/decorators/api-database-errors.decorator.js';

/** Twilio's `I-Twilio-Idempotency-Token` (the same on a retried delivery of one callback), read without an OpenAPI parameter. */
const IdempotencyToken = createParamDecorator((_data: unknown, context: ExecutionContext): string | undefined => {
  const value = context.switchToHttp().getRequest<FastifyRequest>().headers['i-twilio-idempotency-token'];
  return typeof value === 'string' ? value : undefined;
});

/** Twilio's form (application/x-www-form-urlencoded, signed): the fields read here, among the others Twilio sends. */
const twilioForm = (required: string[], properties: Record<string, { example: string; description: string }>) =>
  applyDecorators(
    ApiConsumes('application/x-www-form-urlencoded'),
    ApiBody({
      required: true,
      description: "Twilio's form, signed with X-Twilio-Signature: the fields read here (Twilio sends more, ignored)",
      schema: {
        type: 'object',
        required,
        properties: Object.fromEntries(Object.entries(properties).map(([name, field]) => [name, { type: 'string', ...field }])),
      },
    }),
  );

/**
 * Twilio calls these: set them in the Twilio console (see the README). Public, signature-checked.
 * Every error (refused signature, invalid field, anything thrown) is the app's JSON error body.
 */
@ApiTags('sms')
@ApiDatabaseErrors()
@Controller('sms/webhooks')
@UseFilters(WebhookErrorsFilter)
export class SmsWebhooksController {
  constructor(
    private readonly statuses: DeliveryStatusService,
    private readonly inbound: InboundSmsService,
    private readonly metrics: MetricsService,
  ) {}

  @Post('status')
  @TwilioWebhook()
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: "Twilio's message status callback",
    description:
      'Moves the message with this MessageSid forward (never back), keeps the status in its history, stores the ErrorCode of undelivered / failed. A repeated callback (same I-Twilio-Idempotency-Token, or same SID and status) changes nothing.',
  })
  @ApiHeader({
    name: 'I-Twilio-Idempotency-Token',
    required: false,
    description: 'Sent by Twilio; a callback with a token already seen changes nothing',
  })
  @twilioForm(['MessageSid', 'MessageStatus'], {
    MessageSid: { example: 'SM0123456789abcdef0123456789abcdef', description: "The message's SID" },
    MessageStatus: { example: 'delivered', description: 'queued, sending, sent, delivered, undelivered, failed… (SmsStatus also read)' },
    ErrorCode: { example: '30003', description: 'With undelivered or failed: why' },
  })
  @ApiOkResponse({ type: StatusCallbackResultDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'MessageSid or MessageStatus missing or malformed' })
  async status(@Body() form: Record<string, unknown>, @IdempotencyToken() token?: string) {
    const result = await this.counted('status', () => this.statuses.apply(this.statuses.parse(form, token)));
    this.metrics.webhook('accepted', 'status');
    this.metrics.statusCallback(result.outcome);
    return result;
  }

  @Post('inbound')
  @TwilioWebhook()
  @HttpCode(HttpStatus.OK)
  @ApiExtraModels(TwimlResponseDto)
  @ApiOperation({
    summary: "Twilio's incoming message webhook",
    description:
      'Stores the SMS and emits sms.received; STOP / ARRET… opt the number out, START / OUI… opt it back in, HELP / AIDE answers the help text. Answers TwiML (empty when Twilio Advanced Opt-Out already replied, or when the sender is a short code or an alphanumeric sender ID, which cannot be answered nor opted out). Errors are JSON.',
  })
  @twilioForm(['MessageSid', 'From'], {
    MessageSid: { example: 'SM0123456789abcdef0123456789abcdef', description: "The incoming message's SID" },
    From: { example: '+33612345678', description: 'Who wrote: a phone number, a short code or an alphanumeric sender ID' },
    To: { example: '+33700000000', description: 'Our number it was sent to' },
    Body: { example: 'STOP', description: 'The text' },
    OptOutType: { example: 'STOP', description: 'With Twilio Advanced Opt-Out: STOP, START or HELP (decides over the text)' },
  })
  // Only the answer is TwiML: the errors are the app's JSON error body.
  @ApiOkResponse({ description: 'TwiML (text/xml)', content: { 'text/xml': { schema: { $ref: getSchemaPath(TwimlResponseDto) } } } })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'MessageSid or From missing or malformed (From: not a phone number, a short code nor an alphanumeric sender ID)',
  })
  async inboundMessage(@Body() form: Record<string, unknown>, @Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    const { twiml } = await this.counted('inbound', () => this.inbound.receive(form));
    // TwiML only once there is TwiML to answer, so an error before this is answered as JSON; should anything
    // fail after it, WebhookErrorsFilter drops this type to answer the JSON error.
    void reply.type('text/xml; charset=utf-8');
    this.metrics.webhook('accepted', 'inbound');
    return twiml;
  }

  /**
   * A signed call the handler refused (a bad payload: 4xx) or failed on (5xx) is counted as such in
   * `sms_webhooks_total`; refusals of the signature are counted by the guard, before the handler.
   */
  private async counted<T>(type: 'status' | 'inbound', handle: () => Promise<T>): Promise<T> {
    try {
      return await handle();
    } catch (error) {
      const status = error instanceof HttpException ? error.getStatus() : HttpStatus.INTERNAL_SERVER_ERROR;
      this.metrics.webhook(status < 500 ? 'refused_payload' : 'failed', type);
      throw error;
    }
  }
}
