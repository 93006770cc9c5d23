import { BadRequestException } from '@nestjs/common';

/**
 * Limits every request's JSON body and query string must fit before anything else reads them
 * (validation, class-transformer, the database). One linear walk over the parsed value: no request
 * costs more than a few milliseconds of event loop before it is authenticated.
 */
export interface InputLimits {
  maxDepth: number;
  maxKeysPerObject: number;
  maxNodes: number;
}

export const INPUT_LIMITS: InputLimits = {
  /** Deepest nesting of objects and arrays (the deepest DTO needs 3). */
  maxDepth: 32,
  /** Keys of one object (class-transformer's cost grows with the square of it). */
  maxKeysPerObject: 200,
  /** Values in the whole document (a bulk of 10,000 recipients holds about 30,000; its route allows more, see BULK_JSON_VALUES). */
  maxNodes: 100_000,
};

export interface InputProblem {
  field: string;
  problem: string;
}

/** Field path as the validation errors write it: `recipients.3.phone`; `(body)` for the root. */
function join(path: string, key: string | number): string {
  return path ? `${path}.${key}` : String(key);
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** A text the database and the validators can take: well-formed UTF-16 and no NUL character. */
export function textProblem(text: string): string | undefined {
  if (LONE_SURROGATE.test(text)) return 'contains an unpaired surrogate (not valid Unicode)';
  if (text.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  return undefined;
}

/**
 * Walks a parsed JSON value (or a parsed query string) once, without recursion, and returns the
 * first problem found: too deep, too many keys or values, a prototype key, or a string that is not
 * valid Unicode or holds a NUL.
 */
export function findInputProblem(
  root: unknown,
  rootPath = '',
  limits: InputLimits = INPUT_LIMITS,
  /** What the root is called in a problem about it as a whole: `body`, `query string`, `path`. */
  rootName = 'body',
): InputProblem | undefined {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: root, path: rootPath, depth: 0 }];
  let nodes = 0;
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (++nodes > limits.maxNodes) return { field: rootPath || rootName, problem: `holds more than ${limits.maxNodes} values` };
    if (typeof value === 'string') {
      const problem = textProblem(value);
      if (problem) return { field: path || rootName, problem };
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= limits.maxDepth) return { field: path || rootName, problem: `is nested more than ${limits.maxDepth} levels deep` };
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: join(path, i), depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(value);
    if (keys.length > limits.maxKeysPerObject) {
      return {
        field: path || rootName,
        problem: `has more than ${limits.maxKeysPerObject} ${path || rootName === 'body' ? 'keys' : 'parameters'}`,
      };
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const field = join(path, key);
      if (FORBIDDEN_KEYS.has(key)) return { field, problem: 'is not an accepted key' };
      const keyProblem = textProblem(key);
      if (keyProblem) return { field: path || rootName, problem: `has a key that ${keyProblem}` };
      stack.push({ value: (value as Record<string, unknown>)[key], path: field, depth: depth + 1 });
    }
  }
  return undefined;
}

export function inputProblemException(problem: InputProblem): BadRequestException {
  const message = `${problem.field} ${problem.problem}`;
  return new BadRequestException({ message, details: [{ field: problem.field, problems: [message] }] });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a JSON body (an empty one is `{}`) and checks it with {@link findInputProblem}; throws a 400 naming the problem.
 * JSON is UTF-8 (RFC 8259): bytes that are not are a 400, never decoded into `\uFFFD` and sent.
 */
export function parseJsonBody(raw: Buffer | string, limits: InputLimits = INPUT_LIMITS): unknown {
  let text: string;
  try {
    text = typeof raw === 'string' ? raw : UTF8.decode(raw);
  } catch {
    throw new BadRequestException('Body is not valid UTF-8 (JSON is sent in UTF-8)');
  }
  // A POST without a body that still says `Content-Type: application/json` (many clients do): no fields.
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BadRequestException('Body is not valid JSON');
  }
  const problem = findInputProblem(parsed, '', limits);
  if (problem) throw inputProblemException(problem);
  return parsed;
}

/** A JSON body's declared charset, when it is not UTF-8 (`application/json; charset=iso-8859-1`): the 415's message. */
export function jsonCharsetProblem(contentType: string | undefined): string | null {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '')?.[1];
  // US-ASCII is UTF-8's first half: its bytes read the same.
  if (charset === undefined || /^(?:utf-?8|us-ascii|ascii)$/i.test(charset)) return null;
  return `JSON bodies are UTF-8: Content-Type charset=${charset.slice(0, 40)} is not accepted (send charset=utf-8 or none)`;
}
