// The baseline of `make bench` P3: node-oidc-provider (8.x, the newest line supported on Node 20; 9.x asks
// for Node 22) configured like IAM, started and driven by tests/bench/p3_grants.py, which writes the
// settings file this script reads (argv[2]):
//   { "port", "issuer", "jwks": {"keys": [EC P-256 private JWK]}, "resource", "resource_scope",
//     "service_client": {"client_id", "client_secret", "scope"},
//     "rp_client": {"client_id", "client_secret", "redirect_uri", "scope"}, "account": {...claims} }
//
// What is equivalent to IAM: access tokens are JWTs (RFC 9068, "at+jwt") signed ES256 with the bench's key,
// for the audience `resource` ("urn:polis:istanze"), 900 s; client_secret_basic; refresh tokens are rotated
// at every use (a reused one revokes the grant); ID tokens ES256, 300 s; PKCE S256.
// Where tokens are kept: with OIDC_BENCH_PG_URL set (a postgresql:// URL), in that database through
// pg-adapter.js (a pool of OIDC_BENCH_PG_POOL connections, default 8), as IAM keeps its refresh tokens in its
// database; else in the in-memory adapter node-oidc-provider ships for development (a quick-lru of 1,000
// entries, not for production). Either way it stores no JWT access token at all, where IAM stores its users'
// access-token ids. The benchmark measures both configurations on PostgreSQL and says so next to the figures.
//
// Logging in: the relying party is first party (IAM's "trusted": no consent screen), and the one bench user
// is logged in without a form: /interaction/:uid finishes the login and consent prompts at once. The
// benchmark uses it only to obtain its pool of refresh tokens through the real code flow; the measured
// requests are token requests alone.

import { readFileSync } from 'node:fs';

import Provider, { errors } from 'oidc-provider';

import PostgresAdapter, { connect } from './pg-adapter.js';

const settings = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { service_client: service, rp_client: rp, account, resource } = settings;
const databaseUrl = process.env.OIDC_BENCH_PG_URL;
if (databaseUrl) await connect(databaseUrl, Number(process.env.OIDC_BENCH_PG_POOL || 8));

const resourceServer = {
  scope: settings.resource_scope,
  audience: resource,
  accessTokenTTL: 900,
  accessTokenFormat: 'jwt',
  jwt: { sign: { alg: 'ES256' } },
};

const configuration = {
  ...(databaseUrl ? { adapter: PostgresAdapter } : {}),
  clients: [
    {
      client_id: service.client_id,
      client_secret: service.client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: service.scope,
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: rp.client_id,
      client_secret: rp.client_secret,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [rp.redirect_uri],
      scope: rp.scope,
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  jwks: settings.jwks,
  cookies: { keys: [settings.cookie_key] },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'given_name', 'family_name', 'name', 'locale'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'profile', 'email', settings.resource_scope],
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Client credentials without a `resource` parameter get the one API, as IAM gives the client's
      // audiences; the code flow and refreshes keep the resource granted at authorization.
      defaultResource: async (_ctx, _client, oneOf) => oneOf ?? resource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== resource) throw new errors.InvalidTarget();
        return resourceServer;
      },
    },
  },
  pkce: { required: () => true },
  // IAM issues a refresh token to every client allowed the grant (no offline_access scope needed), and
  // rotates it at every use.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    AccessToken: 900,
    ClientCredentials: 900,
    IdToken: 300,
    AuthorizationCode: 120,
    RefreshToken: 8 * 3600,
    Grant: 30 * 24 * 3600,
    Interaction: 600,
    Session: 8 * 3600,
  },
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ ...account, sub }),
  }),
  interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
};

const provider = new Provider(settings.issuer, configuration);

provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([\w-]+)$/.exec(ctx.path);
  if (ctx.method !== 'GET' || !match) {
    await next();
    return;
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const accountId = details.session?.accountId ?? account.sub;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  grant.addResourceScope(resource, settings.resource_scope);
  const result = {
    login: { accountId },
    consent: { grantId: await grant.save() },
  };
  ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }));
});

provider.on('server_error', (_ctx, error) => console.error('server_error', error));

provider.listen(settings.port, '127.0.0.1', () => {
  console.log(`oidc-provider ${settings.issuer} ready, tokens ${databaseUrl ? 'in PostgreSQL' : 'in memory'}`);
});
