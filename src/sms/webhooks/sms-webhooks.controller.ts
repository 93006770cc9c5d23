import { Body, Controller, Header, Headers, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { DeliveryStatusService } from './delivery-status.service.js';
import { InboundSmsService } from './inbound-sms.service.js';
import { TwilioWebhook } from './twilio-signature.guard.js';

/** Twilio calls these: set them in the Twilio console (see the README). Public, signature-checked. */
@ApiTags('sms webhooks')
@Controller('sms/webhooks')
export class SmsWebhooksController {
  constructor(
    private readonly statuses: DeliveryStatusService,
    private readonly inbound: InboundSmsService,
  ) {}

  @Post('status')
  @TwilioWebhook()
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: "Twilio's message status callback",
    description:
      'Moves the message with this MessageSid forward (never back), keeps the status in its history, stores the ErrorCode of undelivered / failed. A repeated callback (same I-Twilio-Idempotency-Token, or same SID and status) changes nothing.',
  })
  @ApiOkResponse({ schema: { example: { outcome: 'applied', messageId: '3f1c…', status: 'delivered' } } })
  @ApiBadRequestResponse({ description: 'MessageSid or MessageStatus missing or malformed' })
  status(@Body() form: Record<string, unknown>, @Headers('i-twilio-idempotency-token') token?: string) {
    return this.statuses.apply(this.statuses.parse(form, token));
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
  @ApiOkResponse({ description: 'TwiML', schema: { example: '<?xml version="1.0" encoding="UTF-8"?><Response/>' } })
  async inboundMessage(@Body() form: Record<string, unknown>): Promise<string> {
    return (await this.inbound.receive(form)).twiml;
  }
}
