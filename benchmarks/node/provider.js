// node oidc-provider 9 configured as gridauth's benchmark comparison point (benchmarks/run.py runs it).
//
//   node provider.js PORT CLIENT_ID CLIENT_SECRET
//
// One confidential client that may use the client-credentials grant (HTTP Basic). Its access tokens are
// RFC 9068 JWTs signed with RS256 (a fresh 2048-bit key), for one resource server that is the default
// resource, so a plain `grant_type=client_credentials` request gets a JWT, like gridauth's. The provider
// keeps its state in its default in-memory adapter; JWT access tokens are not stored.
// When it listens, it prints one line: "READY <issuer>".
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const [portText, clientId, clientSecret] = process.argv.slice(2);
const port = Number.parseInt(portText ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535 || !clientId || !clientSecret) {
  console.error('usage: node provider.js PORT CLIENT_ID CLIENT_SECRET');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const resource = 'urn:gridauth-bench:api';
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', use: 'sig', alg: 'RS256' }] },
  scopes: ['api'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: resource,
        accessTokenTTL: 1200,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  cookies: { keys: ['gridauth-bench-cookie-key'] },
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
