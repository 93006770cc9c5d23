import { ApiProperty } from '@nestjs/swagger';

/** How the SMS about one thing went. */
export class DeliveryCountsDto {
  @ApiProperty({ type: 'integer' }) total: number;
  @ApiProperty({ type: 'integer', description: 'delivered (or read)' }) delivered: number;
  @ApiProperty({ type: 'integer' }) undelivered: number;
  @ApiProperty({ type: 'integer', description: 'failed at Twilio or on our side' }) failed: number;
  @ApiProperty({ type: 'integer', description: 'not sent: the number opted out' }) skipped: number;
  @ApiProperty({ type: 'integer' }) cancelled: number;
  @ApiProperty({ type: 'integer', description: 'waiting to leave, sending, or sent without a final answer yet' }) waiting: number;
}
