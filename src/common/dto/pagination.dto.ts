import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { IsIntegerInRange, Optional, ToInteger } from './validators.js';

export const MAX_PAGE_SIZE = 200;
/** Past this page every listing is empty anyway; the bound keeps OFFSET within every database's integers. */
export const MAX_PAGE = 100_000;

export class PaginationQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 1, description: 'Page number, from 1' })
  @Optional()
  @ToInteger()
  @IsIntegerInRange(1, MAX_PAGE)
  page: number = 1;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 50, description: 'Items per page' })
  @Optional()
  @ToInteger()
  @IsIntegerInRange(1, MAX_PAGE_SIZE)
  limit: number = 50;
}

type Constructor = abstract new (...args: never[]) => unknown;

/** The OpenAPI class of one page of `item`s: `{items, total, page, limit}`. */
export function PageOf(item: Constructor, name: string) {
  class PageDto {
    @ApiProperty({ type: item, isArray: true })
    items: unknown[];

    @ApiProperty({ type: 'integer', description: 'Items matching the filters, on every page' })
    total: number;

    @ApiProperty({ type: 'integer', example: 1 })
    page: number;

    @ApiProperty({ type: 'integer', example: 50 })
    limit: number;
  }
  Object.defineProperty(PageDto, 'name', { value: name });
  return PageDto;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  limit: number;
}

export function toPage<T>(items: T[], total: number, query: PaginationQueryDto): Page<T> {
  return { items, total, page: query.page, limit: query.limit };
}

/** One page of a query, ordered by `column` (then id, so equal values keep a stable order). */
export async function paginate<T extends ObjectLiteral>(
  qb: SelectQueryBuilder<T>,
  query: PaginationQueryDto,
  column: string,
  direction: 'ASC' | 'DESC',
): Promise<Page<T>> {
  qb.orderBy(`${qb.alias}.${column}`, direction).addOrderBy(`${qb.alias}.id`, direction);
  qb.skip((query.page - 1) * query.limit).take(query.limit);
  const [items, total] = await qb.getManyAndCount();
  return toPage(items, total, query);
}
