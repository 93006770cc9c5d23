import { Body, Controller, Get, Headers, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post, Query, UseFilters } from '@nestjs/common';
import {
  ApiBadGatewayResponse,
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiGatewayTimeoutResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnauthorizedResponse,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { CurrentActor, type Actor } from '../common/actor.js';
import { Idempotent } from '../idempotency/idempotent.decorator.js';
import { Roles } from '../common/decorators/roles.decorator.js';
import { STAFF_ROLES } from '../users/role.enum.js';
import { ListMessagesQueryDto } from './dto/list-messages-query.dto.js';
import { FormatPhoneDto, SendBulkSmsDto, SendNotificationDto, SendSmsDto } from './dto/send-sms.dto.js';
import { PhoneNumberService } from './phone/phone-number.service.js';
import { languageOf } from './sms-errors.js';
import { SmsExceptionFilter } from './sms-exception.filter.js';
import { SmsMessagesService } from './sms-messages.service.js';
import { SmsService } from './sms.service.js';
import { SmsTemplateService } from './templates/sms-template.service.js';

const SEND_EXAMPLE = {
  id: '3f1c2a9e-5b7d-4c1e-9a0b-2d4e6f8a1c3e',
  sid: 'SM0123456789abcdef0123456789abcdef',
  status: 'queued',
  to: '+33612345678',
  from: '+33700000000',
  segments: 1,
  encoding: 'GSM-7',
  ucs2Characters: [],
  provider: 'twilio',
  body: 'Votre message SMS ici',
};
const TWILIO_ERROR_EXAMPLE = {
  statusCode: 400,
  error: 'Bad Request',
  message: 'Le numéro du destinataire est invalide.',
  hint: 'Vérifiez le format du numéro (par exemple +33612345678).',
  code: '21211',
  more_info: 'https://www.twilio.com/docs/errors/21211',
  providerMessage: "The 'To' number +15005550001 is not a valid phone number.",
  messageId: '3f1c2a9e-5b7d-4c1e-9a0b-2d4e6f8a1c3e',
  to: '+15005550001',
};

@ApiTags('sms')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'Missing, invalid or expired token' })
@ApiHeader({ name: 'Accept-Language', required: false, description: 'fr (default) or en: the language of error explanations' })
@UseFilters(SmsExceptionFilter)
@Controller('sms')
export class SmsController {
  constructor(
    private readonly sms: SmsService,
    private readonly messages: SmsMessagesService,
    private readonly templates: SmsTemplateService,
    private readonly phones: PhoneNumberService,
  ) {}

  @Post('send')
  @Roles(...STAFF_ROLES)
  @Idempotent()
  @ApiOperation({ summary: 'Send one SMS', description: 'Admin and superadmin. Journaled as send_sms.' })
  @ApiCreatedResponse({ description: 'Accepted by the provider', schema: { example: SEND_EXAMPLE } })
  @ApiBadRequestResponse({ description: 'Invalid number or message, or Twilio 21211', schema: { example: TWILIO_ERROR_EXAMPLE } })
  @ApiForbiddenResponse({ description: 'Role not allowed, or Twilio 21608 / 21408 / 21610' })
  @ApiUnprocessableEntityResponse({ description: 'Twilio 21614 (not a mobile) / 21612 (unreachable)' })
  @ApiBadGatewayResponse({ description: 'Twilio refused the credentials (20003), failed (5xx) or could not be reached' })
  @ApiServiceUnavailableResponse({ description: 'Twilio rate limit (20429 / 429); see Retry-After' })
  @ApiGatewayTimeoutResponse({ description: 'Twilio did not answer in time' })
  send(@Body() dto: SendSmsDto, @CurrentActor() actor: Actor) {
    return this.sms.send(dto.to, dto.message, { actor });
  }

  @Post('notification')
  @Roles(...STAFF_ROLES)
  @Idempotent()
  @ApiOperation({
    summary: 'Send a templated notification SMS',
    description: 'Types and fields: GET /api/sms/templates. Journaled as send_notification_sms.',
  })
  @ApiCreatedResponse({ schema: { example: SEND_EXAMPLE } })
  @ApiBadRequestResponse({ description: 'Unknown type (the answer lists the types), missing field (named), invalid number' })
  sendNotification(@Body() dto: SendNotificationDto, @CurrentActor() actor: Actor) {
    return this.sms.sendNotification(dto.to, dto.type, dto.data, { actor, locale: dto.locale });
  }

  @Post('bulk')
  @Roles(...STAFF_ROLES)
  @Idempotent()
  @ApiOperation({
    summary: 'Send one message to many recipients',
    description:
      '{{name}} is personalised; duplicates (same number once normalised) are sent once; an invalid number is reported for its recipient only. Journaled once as send_bulk_sms.',
  })
  @ApiCreatedResponse({
    schema: {
      example: {
        batchId: 'b7e0c4d2-1f3a-4b5c-8d9e-0a1b2c3d4e5f',
        provider: 'twilio',
        total: 2,
        sent: 2,
        failed: 0,
        invalid: 0,
        duplicates: 0,
        segments: 2,
        results: [
          {
            phone: '+33612345678',
            name: 'Jean Dupont',
            to: '+33612345678',
            status: 'sent',
            id: '…',
            sid: 'SM…',
            providerStatus: 'queued',
            segments: 1,
          },
        ],
      },
    },
  })
  @ApiBadRequestResponse({ description: 'No recipients, more than SMS_BULK_MAX_RECIPIENTS, or an empty message' })
  sendBulk(@Body() dto: SendBulkSmsDto, @CurrentActor() actor: Actor) {
    return this.sms.sendBulk(dto.recipients, dto.message, { actor });
  }

  @Post('format-phone')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Format a phone number', description: 'Any signed-in user. 0612345678 → +33612345678.' })
  @ApiOkResponse({
    schema: {
      example: {
        input: '0612345678',
        e164: '+33612345678',
        valid: true,
        country: 'FR',
        type: 'MOBILE',
        national: '06 12 34 56 78',
        international: '+33 6 12 34 56 78',
      },
    },
  })
  formatPhone(@Body() dto: FormatPhoneDto) {
    return this.phones.format(dto.phone, dto.country);
  }

  @Get('templates')
  @Roles(...STAFF_ROLES)
  @ApiOperation({ summary: 'Notification types, their fields and a rendered example' })
  templatesList(@Query('locale') locale?: string, @Headers('accept-language') acceptLanguage?: string) {
    return this.templates.list(locale ?? (acceptLanguage?.toLowerCase().startsWith('en') ? 'en' : 'fr'));
  }

  @Get('messages')
  @Roles(...STAFF_ROLES)
  @ApiOperation({
    summary: 'Stored SMS, newest first',
    description: 'Filters: phone, status, type (notification type, or single / bulk), since, until.',
  })
  listMessages(@Query() query: ListMessagesQueryDto) {
    return this.messages.list(query);
  }

  @Get('messages/:id')
  @Roles(...STAFF_ROLES)
  @ApiOperation({
    summary: 'One stored SMS',
    description: 'With errorExplanation (in the caller’s language) and history: the statuses Twilio reported, in the order they came.',
  })
  @ApiNotFoundResponse({ description: 'No such message' })
  getMessage(@Param('id', new ParseUUIDPipe()) id: string, @Headers('accept-language') acceptLanguage?: string) {
    return this.messages.get(id, languageOf(acceptLanguage));
  }
}
