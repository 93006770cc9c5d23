import { ApiProperty } from '@nestjs/swagger';

export class SmsStatsFiltersDto {
  @ApiProperty({ type: String, nullable: true, enum: ['single', 'notification', 'bulk', null] }) kind: string | null;
  @ApiProperty({ type: String, nullable: true, enum: ['transactional', 'marketing', null] }) category: string | null;
}

export class SmsStatsDayDto {
  @ApiProperty({ example: '2026-03-12', description: "A day in the answer's timeZone (DEFAULT_TIMEZONE)" }) day: string;
  @ApiProperty({ type: 'integer' }) total: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'integer' }, example: { delivered: 40, undelivered: 2 } })
  byStatus: Record<string, number>;
}

export class SmsStatsErrorDto {
  @ApiProperty({ example: '30003' }) code: string;
  @ApiProperty({ type: 'integer' }) count: number;
  @ApiProperty({ type: String, nullable: true, example: 'Téléphone injoignable : éteint, hors réseau ou sans service.' })
  explanation: string | null;
}

export class SmsStatsOptOutsDto {
  @ApiProperty({ type: 'integer' }) total: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'integer' }, example: { keyword: 3, manual: 1 } })
  bySource: Record<string, number>;
}

/** GET /api/sms/stats. */
export class SmsStatsDto {
  @ApiProperty() since: Date;
  @ApiProperty() until: Date;
  @ApiProperty({ type: SmsStatsFiltersDto }) filters: SmsStatsFiltersDto;
  @ApiProperty({ example: 'Europe/Paris', description: 'The zone whose days byDay counts (DEFAULT_TIMEZONE)' }) timeZone: string;
  @ApiProperty({ type: 'integer' }) total: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'integer' }, example: { delivered: 110, undelivered: 6, failed: 4 } })
  byStatus: Record<string, number>;
  @ApiProperty({ type: [SmsStatsDayDto], description: 'Oldest first' }) byDay: SmsStatsDayDto[];
  @ApiProperty({ type: 'integer', description: 'delivered or read' }) delivered: number;
  @ApiProperty({ type: 'integer', description: 'undelivered, failed or canceled' }) notDelivered: number;
  @ApiProperty({ type: Number, nullable: true, example: 0.9167, description: 'delivered / (delivered + notDelivered)' })
  deliveryRate: number | null;
  @ApiProperty({ type: 'integer', description: 'Segments of the messages that left for Twilio' }) segmentsSent: number;
  @ApiProperty({ type: [SmsStatsErrorDto], description: 'The 10 most frequent error codes' }) topErrors: SmsStatsErrorDto[];
  @ApiProperty({ type: SmsStatsOptOutsDto }) optOutsGained: SmsStatsOptOutsDto;
}
