import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC_KEY = 'isPublic';
/** Opens a route to callers without a token (the global JwtAuthGuard lets it through). */
export const Public = () => SetMetadata(IS_PUBLIC_KEY, true);
