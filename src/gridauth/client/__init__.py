"""The grid command-line client of gridauth: ``gridauth login``, ``token``, ``whoami``, ``logout``.

It speaks to a gridauth (or any OAuth 2 / OpenID Connect) server with the standard library only:
discovery, the device flow (RFC 8628), the authorization code flow with PKCE and a loopback
redirect (RFC 7636, RFC 8252), refresh and revocation (RFC 7009). The access token is kept where
grid software looks for it (WLCG Bearer Token Discovery).
"""
