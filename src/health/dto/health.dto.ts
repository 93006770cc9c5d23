import { ApiProperty } from '@nestjs/swagger';

export class HealthDto {
  @ApiProperty({ example: 'ok' }) status: string;
  @ApiProperty({ example: 'up' }) database: string;
  @ApiProperty({ example: '0.1.0' }) version: string;
}

export class LivenessDto {
  @ApiProperty({ example: 'ok' }) status: string;
  @ApiProperty({ example: '0.1.0' }) version: string;
  @ApiProperty({ example: 3600, description: 'Seconds since the process started' }) uptimeSeconds: number;
}

export class ReadinessDto {
  @ApiProperty({ example: 'ok' }) status: string;
  @ApiProperty({
    description: 'Each part checked, with `status: "up"` (the database, redis when REDIS_URL is set, the dispatcher, the SMS provider)',
    example: { database: { status: 'up' }, 'sms-provider': { status: 'up', detail: 'twilio' } },
  })
  checks: Record<string, unknown>;
  @ApiProperty({ example: '0.1.0' }) version: string;
}
