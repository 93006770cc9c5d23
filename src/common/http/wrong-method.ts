import { HttpStatus, NotFoundException } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { MappedError, type HttpAnswer } from '../errors/mapped-error.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** 405: the path has routes, none for this method; `Allow` lists theirs. */
export class WrongMethodError extends MappedError {
  constructor(
    readonly method: string,
    readonly allowed: readonly string[],
  ) {
    super(`${method} is not allowed on this path: use ${allowed.filter((m) => m !== 'HEAD').join(' or ')}`);
  }

  toHttp(): HttpAnswer {
    return { status: HttpStatus.METHOD_NOT_ALLOWED, body: { allowed: [...this.allowed] }, headers: { Allow: this.allowed.join(', ') } };
  }
}

/**
 * The router's 404 (no route matched: Nest's not-found handler) for a path that has routes for other methods, as a
 * 405 with `Allow` (`DELETE /api/sms/templates` → `Allow: GET, HEAD`): a client that used the wrong method is told so,
 * not that the path does not exist. A 404 a route threw itself (`No SMS with id …`) stays.
 */
export function wrongMethod(exception: unknown, request: FastifyRequest | undefined): WrongMethodError | null {
  if (!(exception instanceof NotFoundException) || !request?.server || request.routeOptions?.url !== undefined) return null;
  const allowed = METHODS.filter((method) => method !== request.method && request.server.findRoute({ method, url: request.url }) !== null);
  return allowed.length ? new WrongMethodError(request.method, allowed) : null;
}
