/**
 * A module resolve hook for bench/reminders.ts, registered before it imports the scheduler.
 *
 * ts-node's ESM loader resolves with a vendored copy of an old Node resolver, which matches a package's
 * `"./*"` export pattern before `"./*.js"`: `@nestjs/common/utils/extend-metadata.util.js` (imported by
 * @nestjs/event-emitter) becomes `…util.js.js` and is not found. Retrying such a deep `.js` specifier
 * without its extension lets `"./*"` add it back once. Nothing else changes.
 */
import type { ResolveHook } from 'node:module';

const DEEP_JS = /^(@[^/]+\/)?[^./@][^/]*\/.+\.js$/;

export const resolve: ResolveHook = async (specifier, context, next) => {
  try {
    return await next(specifier, context);
  } catch (error) {
    // ts-node's resolver errors carry no `code`: retry any deep .js specifier, and report the first error if that fails too.
    if (!DEEP_JS.test(specifier)) throw error;
    try {
      return await next(specifier.slice(0, -'.js'.length), context);
    } catch {
      throw error;
    }
  }
};
