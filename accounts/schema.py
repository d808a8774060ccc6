"""How the OpenAPI schema describes our authentication (imported by AccountsConfig.ready)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerSessionScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "accounts.authentication.BearerSessionAuthentication"
    name = "bearerSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The `token` returned by POST /api/v1/auth/login: the session key itself.",
        }
