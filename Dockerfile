# postmast: one image for the worker, the scheduler and the CLI.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    POSTMAST_DATA_DIR=/var/lib/postmast

RUN useradd --create-home --uid 10001 postmast \
    && mkdir -p /var/lib/postmast && chown postmast:postmast /var/lib/postmast

WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY postmast ./postmast
COPY scheduler ./scheduler
COPY connectors ./connectors
COPY workers ./workers
RUN pip install .

USER postmast
ENTRYPOINT ["postmast"]
CMD ["run"]
