import { Body, Controller, createParamDecorator, ExecutionContext, Header, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiHeader, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ErrorResponseDto } from '../../common/dto/error-response.dto.js';
import { MetricsService } from '../../metrics/metrics.service.js';
import { DeliveryStatusService } from './delivery-status.service.js';
import { InboundSmsService } from './inbound-sms.service.js';
import { TwilioWebhook } from './twilio-signature.guard.js';
import { StatusCallbackResultDto, TwimlResponseDto } from './webhook-responses.dto.js';

/** Twilio's `I-Twilio-Idempotency-Token` (the same on a retried delivery of one callback), read without an OpenAPI parameter. */
const IdempotencyToken = createParamDecorator((_data: unknown, context: ExecutionContext): string | undefined => {
  const value = context.switchToHttp().getRequest<FastifyRequest>().headers['i-twilio-idempotency-token'];
  return typeof value === 'string' ? value : undefined;
});

/** Twilio calls these: set them in the Twilio console (see the README). Public, signature-checked. */
@ApiTags('sms')
@Controller('sms/webhooks')
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
  @ApiOkResponse({ type: StatusCallbackResultDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'MessageSid or MessageStatus missing or malformed' })
  async status(@Body() form: Record<string, unknown>, @IdempotencyToken() token?: string) {
    const result = await this.statuses.apply(this.statuses.parse(form, token));
    this.metrics.webhook('accepted', 'status');
    this.metrics.statusCallback(result.outcome);
    return result;
  }

  @Post('inbound')
  @TwilioWebhook()
  @HttpCode(HttpStatus.OK)
  @Header('Content-Type', 'text/xml; charset=utf-8')
  @ApiProduces('text/xml')
  @ApiOperation({
    summary: "Twilio's incoming message webhook",
    description:
      'Stores the SMS and emits sms.received; STOP / ARRET… opt the number out, START / OUI… opt it back in, HELP / AIDE answers the help text. Answers TwiML (empty when Twilio Advanced Opt-Out already replied).',
  })
  @ApiOkResponse({ type: TwimlResponseDto, description: 'TwiML (text/xml)' })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'MessageSid or From missing or malformed' })
  async inboundMessage(@Body() form: Record<string, unknown>): Promise<string> {
    const { twiml } = await this.inbound.receive(form);
    this.metrics.webhook('accepted', 'inbound');
    return twiml;
  }
}
