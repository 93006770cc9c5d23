import { ApiProperty } from '@nestjs/swagger';

/** What a status callback did. */
export class StatusCallbackResultDto {
  @ApiProperty({
    enum: ['applied', 'stale', 'duplicate', 'unknown_message'],
    description:
      'applied: the message moved; stale: it already had this status or a later one; duplicate: the same callback again; unknown_message: no message has this SID',
  })
  outcome: string;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) messageId: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'delivered', description: "The message's status now" }) status: string | null;
}

/** TwiML (text/xml): `<Response/>`, or `<Response><Message>…</Message></Response>`. */
export class TwimlResponseDto {
  @ApiProperty({ example: '<?xml version="1.0" encoding="UTF-8"?><Response/>' }) Response: string;
}
