# One image for every kioskpulse process (docs/deploy.md):
#   docker build -t kioskpulse:0.1.0 .
#   docker run kioskpulse:0.1.0 api --host 0.0.0.0        (the default command)
#   docker run kioskpulse:0.1.0 worker                     (faust: vision + store aggregator)
#   docker run kioskpulse:0.1.0 exporter --host 0.0.0.0
#   docker run kioskpulse:0.1.0 devices --devices-file /data/devices.yaml add-store s1
#
# Both stages use the same Python image, so the virtual environment built in the first one
# runs unchanged in the second. Every dependency ships as a manylinux wheel whose native
# libraries are bundled or part of the slim image (libstdc++, libgcc, zlib):
# opencv-python-headless needs no libGL, onnxruntime no OpenMP, rocksdict (faust's RocksDB
# store) no librocksdb. So no compiler in the builder and no apt package in the runtime.
#
# No HEALTHCHECK: the processes answer on different ports and paths (the API /healthz on
# 8000, the exporter /healthz on 9108, the worker only /readyz and /metrics on 6066), so
# no single check is right for the image. deploy/compose.yaml and deploy/k8s/ probe each
# process on what it serves.

ARG PYTHON_IMAGE=python:3.11-slim

# --------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# The dependencies first, read from pyproject.toml: this layer is rebuilt only when
# pyproject.toml changes, not on every source change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --upgrade pip \
    && pip install -r /tmp/requirements.txt

# Then kioskpulse itself, as a wheel. The expression model ships in it: pyproject.toml's
# package-data has vision/models/*.onnx.
COPY README.md ./
COPY kioskpulse ./kioskpulse
COPY kiosk_api ./kiosk_api
COPY vision ./vision
COPY stream_processors ./stream_processors
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip install --no-deps /wheels/kioskpulse-*.whl
# The build fails here if the installed package lacks the model (run outside /src, so that
# the installed package is imported, not the sources).
RUN cd / && python -c "from vision.models import MODEL_PATH; assert MODEL_PATH.is_file(), MODEL_PATH; print(MODEL_PATH)" \
    && kioskpulse --version

# --------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="kioskpulse" \
      org.opencontainers.image.description="Real-time customer feedback: the device API, the faust workers and the exporter"

# A fixed numeric user, so that Kubernetes can check runAsNonRoot and volumes can be
# owned by it (fsGroup 10001).
RUN groupadd --system --gid 10001 kioskpulse \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/kioskpulse \
        --no-create-home --shell /usr/sbin/nologin kioskpulse \
    && mkdir -p /var/lib/kioskpulse /etc/kioskpulse \
    && chown 10001:10001 /var/lib/kioskpulse /etc/kioskpulse

COPY --from=builder /opt/venv /opt/venv

# Settings the processes read (docs/operations.md, Settings); everything else is a
# KIOSKPULSE_* variable given at run time. /var/lib/kioskpulse is the worker's RocksDB
# state (a volume); /etc/kioskpulse holds the device registry (a volume or a Secret,
# read-only for the API and the exporter; owned by the user so that `kioskpulse devices`
# can write a fresh volume).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KIOSKPULSE_DEVICES_FILE=/etc/kioskpulse/devices.yaml \
    KIOSKPULSE_FAUST_DATADIR=/var/lib/kioskpulse/worker

USER 10001:10001
WORKDIR /var/lib/kioskpulse
# api, worker (faust web: /readyz, /metrics), exporter
EXPOSE 8000 6066 9108

ENTRYPOINT ["kioskpulse"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
