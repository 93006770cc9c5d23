import { applyDecorators, Body, Controller, Get, HttpCode, HttpStatus, Post, Query, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadGatewayResponse,
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
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
import type { FastifyReply } from 'fastify';
import { CurrentActor, type Actor } from '../common/actor.js';
import { IdempotentSendKey } from '../idempotency/idempotent-send-key.decorator.js';
import { Idempotent, KEY_REUSED } from '../idempotency/idempotent.decorator.js';
import { bulkRecipients, SendQuota } from '../limits/send-quota.decorator.js';
import { Roles } from '../common/decorators/roles.decorator.js';
import { UuidParam } from '../common/decorators/uuid-param.decorator.js';
import { BodyLimit, BULK_BODY_LIMIT, BULK_JSON_VALUES } from '../common/http/body-limit.decorator.js';
import {
  ConflictResponseDto,
  ErrorResponseDto,
  MessageConflictResponseDto,
  SmsErrorResponseDto,
} from '../common/dto/error-response.dto.js';
import { STAFF_ROLES } from '../users/role.enum.js';
import { ListMessagesQueryDto, TemplatesQueryDto } from './dto/list-messages-query.dto.js';
import { BatchMessagesQueryDto, FormatPhoneDto, SendBulkSmsDto, SendNotificationDto, SendSmsDto } from './dto/send-sms.dto.js';
import {
  BatchViewDto,
  BulkAcceptedDto,
  FormatPhoneResultDto,
  SmsMessageDetailDto,
  SmsMessageDto,
  SmsMessagePageDto,
  SmsSendResultDto,
  TemplateDescriptionDto,
} from './dto/sms-responses.dto.js';
import { PhoneNumberService } from '../phone/phone-number.service.js';
import { explainErrorCode, languageOf } from './failure-explanations.js';
import { SmsBatchesService } from './sms-batches.service.js';
import { AcceptLanguage } from '../common/i18n/accept-language.decorator.js';
import { SmsMessagesService } from './sms-messages.service.js';
import { SmsService } from './sms.service.js';
import type { SmsSendResult } from './sms.types.js';
import { SmsTemplateService } from './templates/sms-template.service.js';
import { SMS_CANCELLED } from './sms-message.entity.js';
import { ApiDatabaseErrors, DATABASE_NO_ANSWER_504, DATABASE_UNAVAILABLE_503 } from '../common/decorators/api-database-errors.decorator.js';

const QUEUED_DESCRIPTION =
  'Accepted, not sent yet (state: queued, sid: null): sendAt in the future, or Twilio did not take it within SMS_SEND_WAIT_MS ' +
  '(retries, a slow answer; lastError says why). Poll GET /api/sms/messages/{id}; cancel with POST /api/sms/messages/{id}/cancel';

/**
 * "Try it out" bodies: sends now (Swagger UI would otherwise fill sendAt with the current time, already
 * past when it arrives). Send later by adding sendAt.
 */
const NOW = 'Sends now; add "sendAt": "<ISO 8601 with offset>" to send later';
const SEND_BODY = { now: { summary: NOW, value: { to: '+33612345678', message: 'Votre message SMS ici' } } };
const NOTIFICATION_BODY = {
  now: {
    summary: NOW,
    value: {
      to: '+33612345678',
      type: 'appointment_confirmed',
      data: { name: 'Jean Dupont', date: 'lundi 15 janvier 2024', time: '14:30' },
    },
  },
};
const BULK_BODY = {
  now: {
    summary: NOW,
    value: {
      recipients: [
        { phone: '+33612345678', name: 'Jean Dupont' },
        { phone: '+33687654321', name: 'Marie Martin' },
      ],
      message: 'Bonjour {{name}}, votre dossier est à jour.',
    },
  },
};

/** The 409 of a single or notification send (besides an Idempotency-Key still running). */
const OPTED_OUT_CONFLICT = {
  type: SmsErrorResponseDto,
  description:
    'The number is on the opt-out list (code OPTED_OUT, with optedOutAt and optOutSource): nothing is sent; the attempt is stored as skipped under messageId',
};

const ANSWER_STATUS = { sent: HttpStatus.CREATED, queued: HttpStatus.ACCEPTED, cancelled: HttpStatus.OK } as const;
const CANCELLED_DESCRIPTION =
  'Cancelled before it left (state: cancelled, status: cancelled, sid: null): POST /api/sms/messages/{id}/cancel while the ' +
  'request waited for a retry. Nothing was sent. (An Idempotency-Key replay answers the first answer again, as stored)';

/**
 * 201 once the provider took it, 202 while it is still waiting in the outbox, 200 if it was cancelled meanwhile; a
 * waiting message's last error explained in the caller's language (Twilio failing: 20500).
 */
function answer(reply: FastifyReply, result: SmsSendResult, acceptLanguage: string | undefined): SmsSendResultDto {
  void reply.status(ANSWER_STATUS[result.state]);
  if (!result.lastError) return result as SmsSendResultDto;
  const explanation = explainErrorCode(result.lastError.code, languageOf(acceptLanguage));
  return { ...result, lastError: { ...result.lastError, explanation } } as SmsSendResultDto;
}

const TWILIO_ERROR_EXAMPLE = {
  statusCode: 400,
  error: 'Bad Request',
  message: 'Le numéro de téléphone fourni est invalide.',
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
    ApiUnprocessableEntityResponse({
      ...error,
      description: `Twilio 21614 (not a mobile) / 21612 (unreachable) / another Twilio 4xx; or: ${KEY_REUSED}`,
    }),
    ApiBadGatewayResponse({
      ...error,
      description: 'Twilio refused the credentials (20003), failed (5xx) or could not be reached (NETWORK)',
    }),
    ApiServiceUnavailableResponse({
      ...error,
      description: `Twilio rate limit (20429 / 429); see Retry-After. Or, without a code: ${DATABASE_UNAVAILABLE_503}`,
    }),
    ApiGatewayTimeoutResponse({
      ...error,
      description: `Twilio did not answer in time (TIMEOUT): check GET /api/sms/messages. Or, without a code: ${DATABASE_NO_ANSWER_504}`,
    }),
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
@ApiDatabaseErrors()
@Controller('sms')
export class SmsController {
  constructor(
    private readonly sms: SmsService,
    private readonly messages: SmsMessagesService,
    private readonly batches: SmsBatchesService,
    private readonly templates: SmsTemplateService,
    private readonly phones: PhoneNumberService,
  ) {}

  @Post('send')
  @Roles(...STAFF_ROLES)
  @Idempotent(OPTED_OUT_CONFLICT, { ownUnprocessable: true })
  @SendQuota()
  @ApiOperation({
    summary: 'Send one SMS',
    description: 'Waits up to SMS_SEND_WAIT_MS for Twilio; retries what can be retried. Journaled as send_sms.',
  })
  @ApiBody({ type: SendSmsDto, examples: SEND_BODY })
  @ApiCreatedResponse({ type: SmsSendResultDto, description: 'Taken by the provider (state: sent)' })
  @ApiAcceptedResponse({ type: SmsSendResultDto, description: QUEUED_DESCRIPTION })
  @ApiOkResponse({ type: SmsSendResultDto, description: CANCELLED_DESCRIPTION })
  @ApiSmsErrors('Invalid number, message or sendAt (missing, empty, over 1,600 characters; sendAt past, without offset, over 35 days)')
  async send(
    @Body() dto: SendSmsDto,
    @CurrentActor() actor: Actor,
    @Res({ passthrough: true }) reply: FastifyReply,
    @AcceptLanguage() acceptLanguage?: string,
    @IdempotentSendKey() dedupeKey?: string,
  ): Promise<SmsSendResultDto> {
    return answer(reply, await this.sms.send(dto.to, dto.message, { actor, sendAt: dto.sendAt, dedupeKey }), acceptLanguage);
  }

  @Post('notification')
  @Roles(...STAFF_ROLES)
  @Idempotent(OPTED_OUT_CONFLICT, { ownUnprocessable: true })
  @SendQuota()
  @ApiOperation({
    summary: 'Send a templated notification SMS',
    description: 'Types and fields: GET /api/sms/templates. Journaled as send_notification_sms.',
  })
  @ApiBody({ type: SendNotificationDto, examples: NOTIFICATION_BODY })
  @ApiCreatedResponse({ type: SmsSendResultDto, description: 'Taken by the provider (state: sent); body is the rendered text' })
  @ApiAcceptedResponse({ type: SmsSendResultDto, description: QUEUED_DESCRIPTION })
  @ApiOkResponse({ type: SmsSendResultDto, description: CANCELLED_DESCRIPTION })
  @ApiSmsErrors(
    'Unknown type (the answer lists the types), missing field or one the type does not declare (named), unsupported locale, invalid number or sendAt',
  )
  async sendNotification(
    @Body() dto: SendNotificationDto,
    @CurrentActor() actor: Actor,
    @Res({ passthrough: true }) reply: FastifyReply,
    @AcceptLanguage() acceptLanguage?: string,
    @IdempotentSendKey() dedupeKey?: string,
  ): Promise<SmsSendResultDto> {
    this.templates.refuseUndeclaredFields(dto.type, dto.data);
    const context = { actor, locale: dto.locale, sendAt: dto.sendAt, dedupeKey };
    const result = await this.sms.sendNotification(dto.to, dto.type, dto.data, context);
    return answer(reply, result, acceptLanguage);
  }

  @Post('bulk')
  @BodyLimit(BULK_BODY_LIMIT, { jsonValues: BULK_JSON_VALUES })
  @Roles(...STAFF_ROLES)
  @Idempotent()
  @SendQuota(bulkRecipients)
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Send one message to many recipients (accepted at once, sent in the background)',
    description:
      "{{name}} is replaced by each recipient's name; duplicates (same number once normalised) are sent once; an invalid number is " +
      'reported by its index. The batch and every message are written in one transaction, then sent within SMS_MAX_CONCURRENCY and ' +
      'SMS_MAX_PER_SECOND, each retried like a single send. Follow it with GET /api/sms/bulk/{batchId}. ' +
      'Journaled as send_bulk_sms at acceptance, for each message once it ends, and at its end.',
  })
  @ApiBody({ type: SendBulkSmsDto, examples: BULK_BODY })
  @ApiAcceptedResponse({
    type: BulkAcceptedDto,
    description:
      'Written; nothing sent yet. Each message is then sent and retried like POST /api/sms/send; a Twilio refusal fails that message only, ' +
      'with its code (21211, 21608, 21610, 21614, TIMEOUT, NETWORK…) in GET /api/sms/bulk/{batchId}/messages?state=failed; ' +
      'refused credentials (20003) are not retried.',
  })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'No recipients, more than SMS_BULK_MAX_RECIPIENTS, a recipient that is not an object, an empty message, or a bad sendAt',
  })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Role not allowed' })
  sendBulk(@Body() dto: SendBulkSmsDto, @CurrentActor() actor: Actor, @IdempotentSendKey() dedupeKey?: string): Promise<BulkAcceptedDto> {
    return this.sms.sendBulk(dto.recipients, dto.message, { actor, sendAt: dto.sendAt, category: dto.category, dedupeKey });
  }

  @Get('bulk/:batchId')
  @Roles(...STAFF_ROLES)
  @ApiOperation({ summary: 'A bulk batch: counts per state, progress, times, status (running, completed, cancelled)' })
  @ApiOkResponse({ type: BatchViewDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'batchId is not a UUID' })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Role not allowed' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such batch' })
  getBatch(@UuidParam('batchId') batchId: string): Promise<BatchViewDto> {
    return this.batches.view(batchId);
  }

  @Get('bulk/:batchId/messages')
  @Roles(...STAFF_ROLES)
  @ApiOperation({ summary: "A bulk batch's messages, in recipient order, paged, optionally in one state" })
  @ApiOkResponse({ type: SmsMessagePageDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'batchId is not a UUID, unknown state, or invalid page' })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Role not allowed' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such batch' })
  getBatchMessages(@UuidParam('batchId') batchId: string, @Query() query: BatchMessagesQueryDto) {
    return this.batches.listMessages(batchId, query);
  }

  @Post('bulk/:batchId/cancel')
  @Roles(...STAFF_ROLES)
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Cancel what has not left of a batch (marked cancelled); messages in flight finish' })
  @ApiOkResponse({ type: BatchViewDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'batchId is not a UUID' })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Role not allowed' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such batch' })
  @ApiConflictResponse({ type: ConflictResponseDto, description: 'The batch already completed or was cancelled: currentStatus says which' })
  cancelBatch(@UuidParam('batchId') batchId: string, @CurrentActor() actor: Actor): Promise<BatchViewDto> {
    return this.sms.cancelBatch(batchId, actor);
  }

  @Post('format-phone')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Format a phone number', description: '0612345678 → +33612345678.' })
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
    description:
      "Filters: phone, status (Twilio's, or ours before Twilio has it), state (ours, as in a batch's counts: queued and sending are still here, sent is taken by Twilio), type (notification type, or single / bulk / notification), category (transactional, marketing), since, until.",
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
  getMessage(@UuidParam('id') id: string, @AcceptLanguage() acceptLanguage?: string) {
    return this.messages.get(id, languageOf(acceptLanguage));
  }

  @Post('messages/:id/cancel')
  @Roles(...STAFF_ROLES)
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Cancel a message that has not left (send later, waiting for a retry)' })
  @ApiOkResponse({ type: SmsMessageDto, description: 'Cancelled: status cancelled' })
  @ApiAcceptedResponse({
    type: SmsMessageDto,
    description:
      'Its last attempt’s outcome is unknown (errorCode TIMEOUT, CONNECTION_LOST, LEASE_EXPIRED, or a gateway’s bare 500, 502, 504): it may be at Twilio. ' +
      'Still queued, with cancelRequestedAt: never sent again, looked up at Twilio once more, then sent (Twilio had it) or cancelled',
  })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'id is not a UUID' })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Role not allowed' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such message' })
  @ApiConflictResponse({
    type: MessageConflictResponseDto,
    description: 'It already left (or failed, or was cancelled): currentStatus says which, sid is set once Twilio has it',
  })
  async cancelMessage(@UuidParam('id') id: string, @CurrentActor() actor: Actor, @Res({ passthrough: true }) reply: FastifyReply) {
    const message = await this.sms.cancel(id, actor);
    if (message.status !== SMS_CANCELLED) reply.status(HttpStatus.ACCEPTED);
    return message;
  }
}
