# The image of one Python service (iam, enablement, istanze, notifier), the same steps for each. Build from
# the repository root, naming the service, its port and its bind variable (<SERVICE>_BIND, read by
# polis.service.gunicorn_settings), e.g.:
#   docker build -f deploy/service.Dockerfile -t polis-iam
#     --build-arg SERVICE=iam --build-arg PORT=8101 --build-arg BIND_VARIABLE=IAM_BIND .
# Web (default):  docker run polis-iam
# Worker:         docker run polis-iam iam-worker
# Migrations:     docker run polis-iam alembic upgrade head
# deploy/compose.yaml passes the three arguments for each service.
FROM python:3.11-slim

ARG SERVICE
ARG PORT
ARG BIND_VARIABLE

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    POLIS_ENV=production \
    ${BIND_VARIABLE}=0.0.0.0:${PORT}

RUN test -n "${SERVICE}" && test -n "${PORT}" && test -n "${BIND_VARIABLE}" \
    || { echo "build with --build-arg SERVICE=... PORT=... BIND_VARIABLE=..." >&2; exit 1; }
RUN groupadd --system polis && useradd --system --gid polis --no-create-home polis

# The shared library first: it changes less often than the service, so its layer is reused.
# Catalogs (the shared layout's, then the service's pages' where it has any) are compiled before installing,
# so the .mo files ship.
COPY libs/polis /src/polis
RUN pip install babel && pybabel compile -d /src/polis/polis/ui/translations \
    && pip install "/src/polis[postgres]" && rm -rf /src/polis

WORKDIR /app
COPY services/${SERVICE}/ /app/
RUN if [ -d "/app/${SERVICE}/translations" ]; then pybabel compile -d "/app/${SERVICE}/translations"; fi \
    && pip install /app && rm -rf /app/build /app/*.egg-info

USER polis
EXPOSE ${PORT}
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
