import { applyDecorators, CanActivate, ExecutionContext, ForbiddenException, Injectable, Logger, UseGuards } from '@nestjs/common';
import { ApiConsumes, ApiForbiddenResponse, ApiUnsupportedMediaTypeResponse, ApiHeader } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import twilio from 'twilio';
import { clientIp } from '../../common/actor.js';
import { Public } from '../../common/decorators/public.decorator.js';
import { ErrorResponseDto } from '../../common/dto/error-response.dto.js';
import { AcceptsFormBody } from '../../common/http/form-body.decorator.js';
import { AppConfig } from '../../config/app-config.js';
import { WebhookRefusalJournal } from './webhook-refusal-journal.js';
import { WebhookRefusals, type WebhookRefusalReason } from './webhook-refusals.js';

/**
 * Lets a request through only when `X-Twilio-Signature` is Twilio's signature of it, checked with
 * the SDK's own `validateRequest` over the URL as configured (`PUBLIC_BASE_URL` + path + query
 * string: never the Host header, which the caller chooses) and the form parameters, with
 * `TWILIO_AUTH_TOKEN`. A refusal is a 403 before the handler runs (nothing changes), counted (every one), and
 * journaled with its route and reason but without the payload: at most once per client IP, route and reason
 * per minute, the others summed into a later entry (WebhookRefusalJournal).
 */
@Injectable()
export class TwilioSignatureGuard implements CanActivate {
  private readonly logger = new Logger('TwilioWebhooks');

  constructor(
    private readonly config: AppConfig,
    private readonly refusals: WebhookRefusals,
    private readonly journal: WebhookRefusalJournal,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const reason = this.check(request);
    if (!reason) return true;
    const route = request.routeOptions.url ?? request.url.split('?')[0];
    this.refusals.count(route, reason);
    if (reason === 'not_configured')
      this.logger.warn(`Refused a call to ${route}: set PUBLIC_BASE_URL and TWILIO_AUTH_TOKEN to accept Twilio webhooks`);
    await this.journal.refused(route, reason, clientIp(request));
    throw new ForbiddenException(
      reason === 'not_configured' ? 'Twilio webhooks are not configured on this service' : 'Missing or invalid X-Twilio-Signature',
    );
  }

  private check(request: FastifyRequest): WebhookRefusalReason | null {
    const token = this.config.twilio.authToken;
    const base = this.config.publicBaseUrl;
    if (!token || !base) return 'not_configured';
    const signature = request.headers['x-twilio-signature'];
    if (typeof signature !== 'string' || signature === '') return 'missing_signature';
    const params = isForm(request.body) ? request.body : {};
    // request.url is the path and query string exactly as received.
    return twilio.validateRequest(token, signature, base + request.url, params) ? null : 'invalid_signature';
  }
}

function isForm(body: unknown): body is Record<string, string | string[]> {
  return typeof body === 'object' && body !== null && !Array.isArray(body);
}

/** A public route that only Twilio can call: signature checked, form-encoded body. */
export function TwilioWebhook(): MethodDecorator {
  return applyDecorators(
    Public(),
    UseGuards(TwilioSignatureGuard),
    AcceptsFormBody(),
    ApiConsumes('application/x-www-form-urlencoded'),
    // Declared optional so Swagger UI sends the request; without a valid one the answer is 403.
    ApiHeader({ name: 'X-Twilio-Signature', required: false, description: "Twilio's signature of the request: required, checked" }),
    ApiForbiddenResponse({
      type: ErrorResponseDto,
      description: 'Missing or invalid X-Twilio-Signature (counted and journaled, nothing changes)',
    }),
    ApiUnsupportedMediaTypeResponse({ type: ErrorResponseDto, description: "A body that is not Twilio's form (JSON, text)" }),
  );
}
