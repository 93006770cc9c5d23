import { randomUUID } from 'node:crypto';
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  Post,
  UnauthorizedException,
  type INestApplication,
} from '@nestjs/common';
import { APP_GUARD, Reflector } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { createApiDocument } from '../src/app.factory.js';
import { AccessDeniedJournal } from '../src/auth/access-denied-journal.js';
import { RolesGuard } from '../src/auth/roles.guard.js';
import { MISSING_TOKEN } from '../src/auth/token-authenticator.js';
import { IS_PUBLIC_KEY, Public } from '../src/common/decorators/public.decorator.js';
import { Roles } from '../src/common/decorators/roles.decorator.js';
import { Role, ROLES } from '../src/users/role.enum.js';
import { TestApp } from './support/test-app.js';

interface Operation {
  summary?: string;
  description?: string;
  responses: Record<string, { description?: string }>;
}
interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
}
/** What an operation's description states: `public` when it states nothing. */
type Stated = { kind: 'public' } | { kind: 'signed-in' } | { kind: 'roles'; roles: string[] };
/** One call of a route: as one of the roles, or without signing in. */
type Call = (method: string, path: string, role: Role | undefined) => Promise<{ status: number; message?: unknown }>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

function operationsOf(doc: OpenApiDocument): { method: string; path: string; route: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ method, path, route: `${method.toUpperCase()} ${path}`, op })),
  );
}

/** Who the operation says may call it: its description ends with "Roles: a, b." or "Any signed-in user.", or says nothing. */
function stated(op: Operation): Stated {
  const description = op.description ?? '';
  const roles = /(?:^|\n\n)Roles: ([a-z, ]+)\.$/.exec(description);
  if (roles) return { kind: 'roles', roles: roles[1].split(', ') };
  if (/(?:^|\n\n)Any signed-in user\.$/.test(description)) return { kind: 'signed-in' };
  return { kind: 'public' };
}

const guardMessage = (roles: readonly string[]) => `This action requires one of the roles: ${roles.join(', ')}`;

/**
 * Every operation's stated access against what the guards do: a role not listed gets RolesGuard's 403 naming exactly
 * the listed roles, a listed role never gets a 403, a signed-in route refuses no role, and only public routes answer
 * without a token. `ownGuard`: public routes whose own guard asks for a token (they state nothing either).
 */
async function mismatches(doc: OpenApiDocument, call: Call, ownGuard: string[] = []): Promise<string[]> {
  const problems: string[] = [];
  for (const { method, path, route, op } of operationsOf(doc)) {
    const access = stated(op);
    const anonymous = await call(method, path, undefined);
    const signInRequired = anonymous.status === 401 && anonymous.message === MISSING_TOKEN;
    if (access.kind === 'public') {
      if (signInRequired && !ownGuard.includes(route)) problems.push(`${route}: states nothing but asks for a token`);
      continue;
    }
    if (!signInRequired) problems.push(`${route}: states a sign-in, answers ${anonymous.status} without a token`);
    const allowed = access.kind === 'roles' ? access.roles : ROLES;
    for (const role of ROLES) {
      const res = await call(method, path, role);
      if (!allowed.includes(role)) {
        if (res.status !== 403 || res.message !== guardMessage(allowed)) {
          problems.push(`${route}: ${role} is not listed, answered ${res.status} ${JSON.stringify(res.message)}`);
        }
      } else if (res.status === 403) {
        problems.push(`${route}: ${role} is listed, answered 403 ${JSON.stringify(res.message)}`);
      }
    }
    if (access.kind === 'roles') {
      const forbidden = op.responses['403']?.description ?? '';
      if (!forbidden.startsWith(guardMessage(access.roles))) problems.push(`${route}: 403 documented as ${JSON.stringify(forbidden)}`);
    }
  }
  return problems;
}

/** A concrete URL for a documented path: every path parameter filled with a value of its kind. */
const urlFor = (path: string) =>
  path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'phone' ? encodeURIComponent('+33612345678') : randomUUID()));

describe('OpenAPI document: every operation states who may call it, as the guards enforce', () => {
  let t: TestApp;
  let doc: OpenApiDocument;
  const tokens = new Map<Role, string>();

  beforeAll(async () => {
    t = await TestApp.start('sqlite');
    doc = (await t.http.get('/api/docs-json').expect(200)).body;
    tokens.set(Role.SuperAdmin, await t.rootToken());
    tokens.set(Role.Admin, (await t.userWithRole(Role.Admin)).token);
    tokens.set(Role.User, (await t.userWithRole(Role.User)).token);
  });
  afterAll(() => t?.close());

  it('states admin, superadmin on POST /api/sms/send, in its description and its 403', () => {
    const send = doc.paths['/api/sms/send'].post;
    expect(send.description).toMatch(/\n\nRoles: admin, superadmin\.$/);
    expect(send.responses['403'].description).toMatch(/^This action requires one of the roles: admin, superadmin; or Twilio 21608/);
    // A controller's @Roles (class level) is stated on each of its routes, and a 403 is documented where none was.
    expect(doc.paths['/api/audit'].get.description).toMatch(/Roles: admin, superadmin\.$/);
    expect(doc.paths['/api/sms/templates'].get.responses['403'].description).toBe(
      'This action requires one of the roles: admin, superadmin',
    );
    expect(doc.paths['/api/auth/me'].get.description).toBe('Any signed-in user.');
    expect(stated(doc.paths['/api/auth/login'].post)).toEqual({ kind: 'public' });
    expect(stated(doc.paths['/api/health'].get)).toEqual({ kind: 'public' });
  });

  it("states a role on every route but the public ones, and no route's 403 is still only 'Role not allowed'", () => {
    const operations = operationsOf(doc);
    expect(operations.length).toBeGreaterThanOrEqual(30);
    expect(
      operations
        .filter(({ op }) => stated(op).kind === 'public')
        .map(({ route }) => route)
        .sort(),
    ).toEqual([
      'GET /api/health',
      'GET /api/health/live',
      'GET /api/health/ready',
      'GET /api/metrics',
      'POST /api/auth/login',
      'POST /api/sms/webhooks/inbound',
      'POST /api/sms/webhooks/status',
    ]);
    expect(
      operations.filter(({ op }) => /^Role not allowed/.test(op.responses['403']?.description ?? '')).map(({ route }) => route),
    ).toEqual([]);
  });

  it('matches the guards on every operation of the served document', async () => {
    const call: Call = async (method, path, role) => {
      let req = (t.http as unknown as Record<string, (url: string) => request.Test>)[method](urlFor(path));
      if (role) req = req.set('Authorization', `Bearer ${tokens.get(role)}`);
      const res = method === 'get' ? await req : await req.send({});
      return { status: res.status, message: (res.body as { message?: unknown }).message };
    };
    // GET /api/metrics is public to the sign-in guard; its own guard takes a superadmin's token or METRICS_TOKEN (its summary says so).
    expect(await mismatches(doc, call, ['GET /api/metrics'])).toEqual([]);
    expect(doc.paths['/api/metrics'].get.summary).toMatch(/superadmin.*METRICS_TOKEN/);
  });
});

/** Signs in as the role named in the X-Role header (the fixtures have no users), unless the route is public. */
@Injectable()
class HeaderRoleGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, [context.getHandler(), context.getClass()])) return true;
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: object }>();
    const role = req.headers['x-role'];
    if (!role) throw new UnauthorizedException(MISSING_TOKEN);
    req.user = { id: 'fixture', email: 'fixture@example.test', role };
    return true;
  }
}

@Roles(Role.SuperAdmin)
@Controller('superadmin-fixture')
class SuperAdminFixtureController {
  @Get('inherited')
  inherited() {
    return {};
  }

  @Roles(Role.User, Role.Admin)
  @Get('overridden')
  overridden() {
    return {};
  }

  @Roles()
  @Get('emptied')
  emptied() {
    return {};
  }

  @Public()
  @Get('open')
  open() {
    return {};
  }
}

@Public()
@Controller('public-fixture')
class PublicFixtureController {
  // Public wins over @Roles, in both guards.
  @Roles(Role.Admin)
  @Get()
  open() {
    return {};
  }
}

@Controller('plain-fixture')
class PlainFixtureController {
  @Get()
  anyone() {
    return {};
  }

  @Roles(Role.Admin)
  @Post()
  admins() {
    return {};
  }
}

describe("createApiDocument: a method's @Roles / @Public overrides its controller's, as in the guards", () => {
  let app: INestApplication;
  let doc: OpenApiDocument;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      controllers: [SuperAdminFixtureController, PublicFixtureController, PlainFixtureController],
      providers: [
        { provide: APP_GUARD, useClass: HeaderRoleGuard },
        { provide: APP_GUARD, useClass: RolesGuard },
        // Refusals are journaled by the app; this fixture has no database: a journal that keeps nothing.
        { provide: AccessDeniedJournal, useValue: { refused: async () => undefined } },
      ],
    }).compile();
    app = moduleRef.createNestApplication(new FastifyAdapter(), { logger: false });
    doc = createApiDocument(app) as unknown as OpenApiDocument;
    await app.init();
    await (app.getHttpAdapter().getInstance() as { ready(): Promise<void> }).ready();
  });
  afterAll(() => app?.close());

  it('states the roles the method overrides its controller with', () => {
    const statedAt = (path: string, method = 'get') => stated(doc.paths[path][method]);
    expect(statedAt('/superadmin-fixture/inherited')).toEqual({ kind: 'roles', roles: ['superadmin'] });
    expect(statedAt('/superadmin-fixture/overridden')).toEqual({ kind: 'roles', roles: ['user', 'admin'] });
    expect(statedAt('/superadmin-fixture/emptied')).toEqual({ kind: 'signed-in' });
    expect(statedAt('/superadmin-fixture/open')).toEqual({ kind: 'public' });
    expect(statedAt('/public-fixture')).toEqual({ kind: 'public' });
    expect(statedAt('/plain-fixture')).toEqual({ kind: 'signed-in' });
    expect(statedAt('/plain-fixture', 'post')).toEqual({ kind: 'roles', roles: ['admin'] });
    expect(doc.paths['/superadmin-fixture/inherited'].get.responses['403'].description).toBe(
      'This action requires one of the roles: superadmin',
    );
  });

  it('matches the guards on every fixture route', async () => {
    const call: Call = async (method, path, role) => {
      let req = (request(app.getHttpServer()) as unknown as Record<string, (url: string) => request.Test>)[method](urlFor(path));
      if (role) req = req.set('X-Role', role);
      const res = await req;
      return { status: res.status, message: (res.body as { message?: unknown }).message };
    };
    expect(await mismatches(doc, call)).toEqual([]);
  });
});
