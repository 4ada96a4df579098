"""IAM's migrations build exactly the schema its models describe, on SQLite and PostgreSQL."""

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from iam.models import all_metadata
from polis.db import normalise_url
from polis.migrations import schema_differences, upgrade
from sqlalchemy import create_engine

ALEMBIC_INI = str(Path(__file__).parents[2] / "alembic.ini")


def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    upgrade(ALEMBIC_INI, database_url)

    assert schema_differences(database_url, all_metadata()) == []


def table(table_name: str, **columns: Any) -> Any:
    """A table as revision 0005 had it (only the columns written here), for plain inserts."""
    return sa.table(table_name, *(sa.column(column, kind) for column, kind in columns.items()))


def test_issue_5_the_upgrade_keeps_what_0005_held(database_url: str) -> None:
    """0006 on a database in use: a client referenced by a code (SQLite refuses to rebuild a referenced
    table), a signing key from before (signs_from filled in)."""
    upgrade(ALEMBIC_INI, database_url, "0005")
    engine = create_engine(normalise_url(database_url))
    now, account_id = datetime.now(UTC), uuid.uuid4()
    when = sa.DateTime(timezone=True)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(
                table(
                    "accounts",
                    id=sa.Uuid(),
                    kind=sa.String(),
                    state=sa.String(),
                    roles=sa.JSON(),
                    codice_fiscale=sa.String(),
                    first_name=sa.String(),
                    last_name=sa.String(),
                    language=sa.String(),
                    credentials_version=sa.Integer(),
                    failed_logins=sa.Integer(),
                    created_at=when,
                )
            ).values(
                id=account_id,
                kind="ordinary",
                state="active",
                roles=[],
                codice_fiscale="RSSMRA80A01H501U",
                first_name="Mario",
                last_name="Rossi",
                language="it",
                credentials_version=1,
                failed_logins=0,
                created_at=now,
            )
        )
        connection.execute(
            sa.insert(
                table(
                    "oidc_clients",
                    client_id=sa.String(),
                    name=sa.String(),
                    secret_hash=sa.String(),
                    redirect_uris=sa.JSON(),
                    post_logout_redirect_uris=sa.JSON(),
                    grant_types=sa.JSON(),
                    scopes=sa.JSON(),
                    trusted=sa.Boolean(),
                    created_at=when,
                    updated_at=when,
                )
            ).values(
                client_id="portal",
                name="Istanze OnLine",
                secret_hash="sha256:x",
                redirect_uris=["https://p/cb"],
                post_logout_redirect_uris=[],
                grant_types=["authorization_code"],
                scopes=["openid"],
                trusted=True,
                created_at=now,
                updated_at=now,
            )
        )
        connection.execute(
            sa.insert(
                table(
                    "oidc_authorization_codes",
                    code_hash=sa.String(),
                    client_id=sa.String(),
                    account_id=sa.Uuid(),
                    redirect_uri=sa.Text(),
                    scope=sa.Text(),
                    code_challenge=sa.String(),
                    code_challenge_method=sa.String(),
                    auth_time=sa.Integer(),
                    created_at=when,
                    expires_at=when,
                )
            ).values(
                code_hash="c",
                client_id="portal",
                account_id=account_id,
                redirect_uri="https://p/cb",
                scope="openid",
                code_challenge="x",
                code_challenge_method="S256",
                auth_time=0,
                created_at=now,
                expires_at=now,
            )
        )
        connection.execute(
            sa.insert(
                table(
                    "oidc_signing_keys",
                    kid=sa.String(),
                    alg=sa.String(),
                    private_jwk=sa.Text(),
                    created_at=when,
                )
            ).values(kid="k1", alg="ES256", private_jwk="{}", created_at=now)
        )

    upgrade(ALEMBIC_INI, database_url)

    with engine.begin() as connection:
        client = connection.execute(
            sa.text("SELECT access_token_ttl, id_token_alg FROM oidc_clients WHERE client_id = 'portal'")
        ).one()
        key = connection.execute(sa.text("SELECT signs_from FROM oidc_signing_keys WHERE kid = 'k1'")).one()
        codes = connection.execute(sa.text("SELECT count(*) FROM oidc_authorization_codes")).scalar()
    engine.dispose()
    assert client.access_token_ttl == 900 and client.id_token_alg == "ES256"
    assert key.signs_from is not None and codes == 1
    assert schema_differences(database_url, all_metadata()) == []
