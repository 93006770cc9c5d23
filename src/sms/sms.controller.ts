import { applyDecorators, Body, Controller, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
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
import { bulkRecipients, SendQuota } from '../limits/send-quota.decorator.js';
import { Roles } from '../common/decorators/roles.decorator.js';
import { BodyLimit, BULK_BODY_LIMIT } from '../common/http/body-limit.decorator.js';
import { ErrorResponseDto, SmsErrorResponseDto } from '../common/dto/error-response.dto.js';
import { STAFF_ROLES } from '../users/role.enum.js';
import { ListMessagesQueryDto, TemplatesQueryDto } from './dto/list-messages-query.dto.js';
import { FormatPhoneDto, SendBulkSmsDto, SendNotificationDto, SendSmsDto } from './dto/send-sms.dto.js';
import {
  BulkResultDto,
  FormatPhoneResultDto,
  SmsMessageDetailDto,
  SmsMessagePageDto,
  SmsSendResultDto,
  TemplateDescriptionDto,
} from './dto/sms-responses.dto.js';
import { PhoneNumberService } from '../phone/phone-number.service.js';
import { languageOf } from './sms-errors.js';
import { AcceptLanguage } from '../common/i18n/accept-language.decorator.js';
import { SmsMessagesService } from './sms-messages.service.js';
import { SmsService } from './sms.service.js';
import { SmsTemplateService } from './templates/sms-template.service.js';

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

/** The ways a send can fail (README, "Twilio errors"): the same for send, notification and bulk. */
function ApiSmsErrors(badRequest: string) {
  const error = { type: SmsErrorResponseDto };
  return applyDecorators(
    ApiBadRequestResponse({ ...error, description: `${badRequest}, or Twilio 21211 / 21617`, example: TWILIO_ERROR_EXAMPLE }),
    ApiForbiddenResponse({
      ...error,
      description: 'Role not allowed, or Twilio 21608 (unverified number on a trial account) / 21408 / 21610 (STOP)',
    }),
    ApiUnprocessableEntityResponse({ ...error, description: 'Twilio 21614 (not a mobile) / 21612 (unreachable) / another Twilio 4xx' }),
    ApiBadGatewayResponse({
      ...error,
      description: 'Twilio refused the credentials (20003), failed (5xx) or could not be reached (NETWORK)',
    }),
    ApiServiceUnavailableResponse({ ...error, description: 'Twilio rate limit (20429 / 429); see Retry-After' }),
    ApiGatewayTimeoutResponse({ ...error, description: 'Twilio did not answer in time (TIMEOUT): check GET /api/sms/messages' }),
  );
}

@ApiTags('sms')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'Missing, invalid or expired token' })
@ApiHeader({
  name: 'Accept-Language',
  required: false,
  description: 'fr (default) or en: the language of error explanations (and of GET /api/sms/templates without ?locale)',
})
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
  @SendQuota()
  @ApiOperation({ summary: 'Send one SMS', description: 'Admin and superadmin. Journaled as send_sms.' })
  @ApiCreatedResponse({ type: SmsSendResultDto, description: 'Accepted by the provider' })
  @ApiSmsErrors('Invalid number or message (missing, empty, over 1,600 characters)')
  send(@Body() dto: SendSmsDto, @CurrentActor() actor: Actor): Promise<SmsSendResultDto> {
    return this.sms.send(dto.to, dto.message, { actor });
  }

  @Post('notification')
  @Roles(...STAFF_ROLES)
  @Idempotent()
  @SendQuota()
  @ApiOperation({
    summary: 'Send a templated notification SMS',
    description: 'Types and fields: GET /api/sms/templates. Journaled as send_notification_sms.',
  })
  @ApiCreatedResponse({ type: SmsSendResultDto, description: 'Accepted by the provider; body is the rendered text' })
  @ApiSmsErrors('Unknown type (the answer lists the types), missing field (named), unsupported locale, invalid number')
  sendNotification(@Body() dto: SendNotificationDto, @CurrentActor() actor: Actor): Promise<SmsSendResultDto> {
    return this.sms.sendNotification(dto.to, dto.type, dto.data, { actor, locale: dto.locale });
  }

  @Post('bulk')
  @BodyLimit(BULK_BODY_LIMIT)
  @Roles(...STAFF_ROLES)
  @Idempotent()
  @SendQuota(bulkRecipients)
  @ApiOperation({
    summary: 'Send one message to many recipients',
    description:
      "{{name}} is replaced by each recipient's name; duplicates (same number once normalised) are sent once; an invalid number or a " +
      'Twilio refusal is reported for its recipient only; refused credentials stop the batch. Journaled once as send_bulk_sms.',
  })
  @ApiCreatedResponse({
    type: BulkResultDto,
    description:
      'Per-recipient results and counts. Twilio fails a recipient the same ways it fails POST /api/sms/send (README, "Twilio errors"): ' +
      'that recipient is `failed` with the code in `error.code` (21211, 21608, 21610, 21614, 20429, TIMEOUT, NETWORK…) and the others go on; ' +
      'refused credentials (20003) fail every remaining recipient without calling Twilio again.',
  })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'No recipients, more than SMS_BULK_MAX_RECIPIENTS, a recipient that is not an object, or an empty message',
  })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Role not allowed' })
  sendBulk(@Body() dto: SendBulkSmsDto, @CurrentActor() actor: Actor): Promise<BulkResultDto> {
    return this.sms.sendBulk(dto.recipients, dto.message, { actor });
  }

  @Post('format-phone')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Format a phone number', description: 'Any signed-in user. 0612345678 → +33612345678.' })
  @ApiOkResponse({ type: FormatPhoneResultDto, description: 'valid: false with a reason when the number cannot be valid' })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'phone missing or not a string, country not two letters' })
  formatPhone(@Body() dto: FormatPhoneDto): FormatPhoneResultDto {
    return this.phones.format(dto.phone, dto.country);
  }

  @Get('templates')
  @Roles(...STAFF_ROLES)
  @ApiOperation({ summary: 'Notification types, their fields and a rendered example' })
  @ApiOkResponse({ type: [TemplateDescriptionDto] })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Unsupported locale' })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Role not allowed' })
  templatesList(@Query() query: TemplatesQueryDto, @AcceptLanguage() acceptLanguage?: string): TemplateDescriptionDto[] {
    return this.templates.list(query.locale ?? languageOf(acceptLanguage));
  }

  @Get('messages')
  @Roles(...STAFF_ROLES)
  @ApiOperation({
    summary: 'Stored SMS, newest first',
    description: 'Filters: phone, status, type (notification type, or single / bulk), since, until.',
  })
  @ApiOkResponse({ type: SmsMessagePageDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid filter or page' })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Role not allowed' })
  listMessages(@Query() query: ListMessagesQueryDto) {
    return this.messages.list(query);
  }

  @Get('messages/:id')
  @Roles(...STAFF_ROLES)
  @ApiOperation({
    summary: 'One stored SMS',
    description: 'With errorExplanation (in the caller’s language) and history: the statuses Twilio reported, in the order they came.',
  })
  @ApiOkResponse({ type: SmsMessageDetailDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'id is not a UUID' })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Role not allowed' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such message' })
  getMessage(@Param('id', new ParseUUIDPipe()) id: string, @AcceptLanguage() acceptLanguage?: string) {
    return this.messages.get(id, languageOf(acceptLanguage));
  }
}
