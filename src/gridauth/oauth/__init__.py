"""The authorization server: authlib's server and grants with gridauth's rules, the JWT issuer, the key ring."""
