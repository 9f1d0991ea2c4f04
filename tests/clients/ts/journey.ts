// The user journey through openapi-fetch, typed by the `paths` that openapi-typescript generates from the served
// /openapi.json into generated/schema.d.ts (at test time; never committed). tests/test_generated_clients.py checks it
// with `tsc --strict --noEmit`, compiles it and runs it with node, GATEHOUSE_URL, GATEHOUSE_ADMIN_EMAIL and
// GATEHOUSE_ADMIN_PASSWORD set. No type assertions: bodies are narrowed through openapi-fetch's data/error union.
import { randomBytes } from "node:crypto";

import createClient, { type Client } from "openapi-fetch";

import type { components, paths } from "./generated/schema.js";

type Problem = components["schemas"]["Problem"];
type Api = Client<paths>;

const PASSWORD = "correct horse battery staple";

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set`);
  return value;
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`journey failed: ${message}`);
}

function step(message: string): void {
  console.log(`ts journey: ${message}`);
}

/** The body of a success `result` with `status` (openapi-fetch's `data`, typed from the document). */
function expectData<T>(result: { data?: T; error?: unknown; response: Response }, status: number): T {
  const { data, error, response } = result;
  check(response.status === status, `expected ${status}, got ${response.status}: ${JSON.stringify(error)}`);
  check(data !== undefined, `no body with ${status}`);
  return data;
}

/** The RFC 9457 problem document of an error `result` (openapi-fetch's `error`, typed as the document's Problem). */
function expectProblem(result: { error?: Problem; response: Response }, status: number): Problem {
  const { error, response } = result;
  check(response.status === status, `expected ${status}, got ${response.status}`);
  check(error !== undefined, `no problem document with ${status}`);
  const contentType = response.headers.get("content-type") ?? "";
  check(contentType.startsWith("application/problem+json"), `problem served as ${contentType}`);
  check(error.status === status, `problem status ${error.status} on a ${status} response`);
  check(error.type !== "" && error.title !== "" && error.detail !== "", `incomplete problem ${JSON.stringify(error)}`);
  return error;
}

function client(baseUrl: string, token?: string): Api {
  return token === undefined
    ? createClient<paths>({ baseUrl })
    : createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
}

async function main(): Promise<void> {
  const baseUrl = env("GATEHOUSE_URL");
  const anyone = client(baseUrl);
  const email = `ts-${randomBytes(4).toString("hex")}@example.com`;

  const user = expectData(await anyone.POST("/api/v1/auth/register", {
    body: { email, name: "TS Client", password: PASSWORD },
  }), 201);
  check(user.email === email && user.roles.join() === "user", `registered ${JSON.stringify(user)}`);
  step(`register ${email} -> 201, user id ${user.id}, roles ${JSON.stringify(user.roles)}`);

  const invalid = expectProblem(await anyone.POST("/api/v1/auth/register", {
    body: { email: "not-an-email", name: "TS Client", password: PASSWORD },
  }), 400);
  const fields = invalid.errors ?? {};
  check(fields["email"] !== undefined, `the 400 problem's errors name ${Object.keys(fields).join()}, not email`);
  step(`register with a bad email -> 400 problem "${invalid.title}", errors ${JSON.stringify(fields)}`);

  const duplicate = expectProblem(await anyone.POST("/api/v1/auth/register", {
    body: { email: email.toUpperCase(), name: "TS Client", password: PASSWORD },
  }), 409);
  step(`register the same email again -> 409 problem "${duplicate.title}": ${duplicate.detail}`);

  let tokens = expectData(await anyone.POST("/api/v1/auth/login", { body: { email, password: PASSWORD } }), 200);
  check(tokens.token_type.toLowerCase() === "bearer" && tokens.expires_in > 0, `token response ${tokens.token_type}`);
  step(`login -> 200, ${tokens.token_type} token expiring in ${tokens.expires_in} s`);

  const badToken = await client(baseUrl, "not-a-token").GET("/api/v1/users/me");
  const unauthorized = expectProblem(badToken, 401);
  check((badToken.response.headers.get("www-authenticate") ?? "").startsWith("Bearer"), "401 without WWW-Authenticate");
  step(`me with a bad token -> 401 problem "${unauthorized.title}": ${unauthorized.detail}`);

  let session = client(baseUrl, tokens.access_token);
  const meResult = await session.GET("/api/v1/users/me");
  const me = expectData(meResult, 200);
  const etag = meResult.response.headers.get("etag");
  check(me.id === user.id && etag !== null, `me is ${JSON.stringify(me)}, ETag ${etag}`);
  step(`me -> 200, ${me.email} (${me.name}), ETag ${etag}`);

  const renamed = expectData(await session.PATCH("/api/v1/users/me", {
    params: { header: { "If-Match": etag } }, body: { name: "TS Client Renamed" },
  }), 200);
  check(renamed.name === "TS Client Renamed", `renamed to ${renamed.name}`);
  step(`patch me (If-Match) -> 200, name "${renamed.name}"`);

  tokens = expectData(await anyone.POST("/api/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } }), 200);
  session = client(baseUrl, tokens.access_token);
  check(expectData(await session.GET("/api/v1/users/me"), 200).id === user.id, "the refreshed token works");
  step("refresh -> 200, a new pair; the new access token works");

  const adminTokens = expectData(await anyone.POST("/api/v1/auth/login", {
    body: { email: env("GATEHOUSE_ADMIN_EMAIL"), password: env("GATEHOUSE_ADMIN_PASSWORD") },
  }), 200);
  const admin = client(baseUrl, adminTokens.access_token);
  const created = expectData(await admin.POST("/api/v1/users", {
    body: { email: `ts-made-${randomBytes(4).toString("hex")}@example.com`, name: "Made By Admin", password: PASSWORD,
            roles: ["user"] },
  }), 201);
  step(`admin creates ${created.email} -> 201, id ${created.id}, roles ${JSON.stringify(created.roles)}`);
  const promoted = expectData(await admin.PATCH("/api/v1/users/{user_id}", {
    params: { path: { user_id: created.id } }, body: { roles: ["user", "admin"] },
  }), 200);
  check([...promoted.roles].sort().join() === "admin,user", `roles now ${JSON.stringify(promoted.roles)}`);
  step(`admin changes its roles -> 200, roles ${JSON.stringify(promoted.roles)}`);

  const seen: number[] = [];
  let pages = 0;
  let cursor: string | null = null;
  for (;;) {
    const query: { limit: number; cursor?: string } = cursor === null ? { limit: 2 } : { limit: 2, cursor };
    const page = expectData(await session.GET("/api/v1/users", { params: { query } }), 200);
    pages += 1;
    seen.push(...page.items.map((item) => item.id));
    check(pages <= 1000, "the directory never ends");
    if (page.next_cursor === null) break;
    cursor = page.next_cursor;
  }
  check(new Set(seen).size === seen.length && seen.includes(user.id) && seen.includes(created.id),
        `directory ids ${JSON.stringify(seen)}`);
  step(`directory, 2 per page -> ${pages} pages, ${seen.length} users, last page has next_cursor null`);

  const loggedOut = await session.POST("/api/v1/auth/logout");
  check(loggedOut.response.status === 204, `logout answered ${loggedOut.response.status}`);
  const after = expectProblem(await session.GET("/api/v1/users/me"), 401);
  step(`logout -> 204; me with the old token -> 401 problem "${after.title}"`);
  check((await admin.POST("/api/v1/auth/logout")).response.status === 204, "admin logout");
  step("admin logout -> 204; journey done");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
