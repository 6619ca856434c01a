"""A client whose secret has the fast hash gridauth now writes authenticates at the token endpoint,
and one with an old PBKDF2 hash still does."""

from __future__ import annotations

from gridauth.hashing import hash_client_secret

from .conftest import SERVICE

SERVICE_PATH = "DIRAC/Security/Authorization/Clients/example-service/client_secret"


def test_fast_and_old_client_secret_hashes_both_authenticate(service):
    assert service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).status == 200  # PBKDF2
    service.edit(lambda cfg: cfg.setOption(SERVICE_PATH, hash_client_secret("a-new-secret")))
    assert service.post("/token", {"grant_type": "client_credentials"},
                        auth=("example-service", "a-new-secret")).status == 200
    refused = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE)  # the old secret
    assert refused.status == 401 and refused.body["error"] == "invalid_client"
