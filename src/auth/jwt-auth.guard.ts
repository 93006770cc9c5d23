import { ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { IS_PUBLIC_KEY } from '../common/decorators/public.decorator.js';

/** Global: every route needs a valid bearer token unless marked @Public(). */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  canActivate(context: ExecutionContext) {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, [context.getHandler(), context.getClass()]);
    return isPublic ? true : super.canActivate(context);
  }

  handleRequest<TUser>(error: unknown, user: TUser, info: unknown): TUser {
    if (error) throw error instanceof UnauthorizedException ? error : new UnauthorizedException('Invalid token');
    if (!user) {
      const name = (info as { name?: string } | undefined)?.name;
      const message =
        name === 'TokenExpiredError'
          ? 'The token has expired; sign in again'
          : info instanceof Error && /No auth token/i.test(info.message)
            ? 'A bearer token is required (Authorization: Bearer <token>)'
            : 'Invalid token';
      throw new UnauthorizedException(message);
    }
    return user;
  }
}
