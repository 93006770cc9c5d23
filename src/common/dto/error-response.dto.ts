import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class FieldProblemDto {
  @ApiProperty({ example: 'message' })
  field: string;

  @ApiProperty({ type: [String], example: ['message is required'] })
  problems: string[];
}

/** The one error body of every route (see AllExceptionsFilter). */
export class ErrorResponseDto {
  @ApiProperty({ type: 'integer', example: 400 })
  statusCode: number;

  @ApiProperty({ example: 'Bad Request' })
  error: string;

  @ApiProperty({ example: 'message is required' })
  message: string;

  @ApiPropertyOptional({ type: [FieldProblemDto], description: 'Invalid input: one entry per field' })
  details?: FieldProblemDto[];

  @ApiPropertyOptional({ type: [String], example: ['fr', 'en'], description: 'A value not among those accepted: the accepted ones' })
  allowed?: string[];

  @ApiPropertyOptional({
    example: 'TOO_SHORT',
    description:
      "A code to act on, when there is one: a refused phone number's problem (NOT_A_NUMBER, INVALID_COUNTRY, TOO_SHORT, TOO_LONG, INVALID_LENGTH, INVALID_NUMBER, NOT_SMS_CAPABLE, COUNTRY_NOT_ALLOWED (SMS_ALLOWED_COUNTRIES), as in a bulk's invalid entries); on the SMS routes also Twilio's error code, TIMEOUT / NETWORK, OPTED_OUT",
  })
  code?: string;

  @ApiPropertyOptional({
    example: 'Le numéro de téléphone fourni est invalide : il est trop court.',
    description: "A refused phone number's problem in plain words, in the caller's language (Accept-Language; French otherwise)",
  })
  explanation?: string;

  @ApiPropertyOptional({
    example: 'Vérifiez le format du numéro (par exemple 06 12 34 56 78 ou +33612345678).',
    description: "What to do, in the caller's language (Accept-Language; French otherwise)",
  })
  hint?: string;
}

/** A Twilio error as the SMS routes answer it. */
export class SmsErrorResponseDto extends ErrorResponseDto {
  @ApiPropertyOptional({
    example: '21211',
    description:
      "Twilio's error code, or TIMEOUT / NETWORK, OPTED_OUT; for a number refused before Twilio, its problem (TOO_SHORT, INVALID_NUMBER…)",
  })
  declare code?: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: 'https://www.twilio.com/docs/errors/21211',
    description: "Twilio's page for its code; null when the failure has none (TIMEOUT, NETWORK)",
  })
  more_info?: string | null;

  @ApiPropertyOptional({ example: "The 'To' number +15005550001 is not a valid phone number." })
  providerMessage?: string;

  @ApiPropertyOptional({ format: 'uuid', description: 'The stored failed attempt' })
  messageId?: string;

  @ApiPropertyOptional({ example: '+15005550001' })
  to?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'code OPTED_OUT: when the number opted out' })
  optedOutAt?: string;

  @ApiPropertyOptional({ enum: ['keyword', 'manual', 'twilio_21610'], description: 'code OPTED_OUT: how it opted out' })
  optOutSource?: string;
}

/** A refused transition: the record's current status comes with it (an appointment's, a message's, a batch's). */
export class ConflictResponseDto extends ErrorResponseDto {
  @ApiProperty({ example: 'confirmed', description: "The record's status now" })
  currentStatus: string;
}

/** A refused cancellation of a message: its status now, and Twilio's SID once Twilio has it. */
export class MessageConflictResponseDto extends ConflictResponseDto {
  @ApiPropertyOptional({ type: String, example: 'SM0123456789abcdef0123456789abcdef', nullable: true })
  sid?: string | null;
}
