// A real, certified OpenID provider (panva/oidc-provider) on loopback, for gridauth's relying-party tests.
//
//   node provider.js PORT [CONFIG.json]      (or the JSON itself in the environment variable OP_CONFIG)
//
// CONFIG: {
//   "clients":  [{"client_id", "client_secret"?, "redirect_uris": [...], "token_endpoint_auth_method"?}],
//   "accounts": {"<sub>": {<claims: email, eduperson_entitlement, wlcg.groups, ...>}},
//   "jwks":     {"keys": [<private JWK>]}          (optional: a fresh RSA key otherwise)
// }
//
// The issuer is http://127.0.0.1:PORT. Plain http on loopback needs no special setting in oidc-provider 9:
// cookies are only marked Secure when the request itself came over https (ctx.secure), and http redirect
// URIs are accepted for web clients using the code flow. PKCE (S256) is required for every client.
// Logging in uses the provider's own development interactions (devInteractions): a login form that takes
// any login name as the account id (findAccount below only knows the configured accounts; the password is
// ignored), then a consent form. A test drives them with plain HTTP, as a browser would.
// When it listens, it prints one line: "READY <issuer>".
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number.parseInt(process.argv[2] ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node provider.js PORT [CONFIG.json]');
  process.exit(2);
}
const config = JSON.parse(process.argv[3] ? readFileSync(process.argv[3], 'utf8') : (process.env.OP_CONFIG ?? '{}'));
const issuer = `http://127.0.0.1:${port}`;
const accounts = config.accounts ?? {};

function signingKeys() {
  if (config.jwks) return config.jwks;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: `rsa-${port}`, use: 'sig', alg: 'RS256' }] };
}

const provider = new Provider(issuer, {
  clients: (config.clients ?? []).map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: client.client_secret ? 'client_secret_basic' : 'none',
    ...client,
  })),
  jwks: signingKeys(),
  async findAccount(_ctx, id) {
    if (!Object.hasOwn(accounts, id)) return undefined;
    return {
      accountId: id,
      async claims() { return { ...accounts[id], sub: id }; },
    };
  },
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    email: ['email', 'email_verified'],
    eduperson_entitlement: ['eduperson_entitlement'],
    'wlcg.groups': ['wlcg.groups'],
  },
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
  },
  pkce: { required: () => true },
  cookies: { keys: ['gridauth-test-cookie-key'] },
  ttl: {
    AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600,
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
server.on('error', (error) => {
  console.error(`cannot listen on 127.0.0.1:${port}: ${error.message}`);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
