# Parley: the server, the broker and the verifiable static bundle in one image.
# The stages mirror the README's `./dev run`: `npm ci` from the lockfile, pip install of the pinned
# requirements, `python app.py build`, then `python app.py serve`.
#
#   docker build -t parley .
#   docker run --rm -p 8000:8000 -v parley-data:/data parley
#   python app.py verify http://127.0.0.1:8000   # from a checkout: same root hash as a local build

# ---- 1. JavaScript dependencies, exactly as pinned by package-lock.json -------------------------------
FROM node:20-bookworm-slim AS node
WORKDIR /src
COPY package.json package-lock.json ./
# Runtime packages only: the devDependencies `peer` (the stock broker) and `peerjs` (the stock client)
# are interop peers for the tests.
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# ---- 2. The server: Python dependencies, the bundle build, a non-root user ----------------------------
FROM python:3.11-slim-bookworm AS app
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY --from=node /src/node_modules ./node_modules
# The build runs Pyodide under Node once, to compile the page's standard library (server/pycompile.py).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY app.py service_worker.js ./
COPY server ./server
COPY pyfront ./pyfront
COPY static ./static
# The bundle is built into the image (deterministic: the same root hash as any clean build of this
# commit); node_modules, Node and the compile cache are only inputs of the build.
RUN python app.py build && rm -rf node_modules build /usr/local/bin/node

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin parley \
    && mkdir -p /data && chown parley:parley /data
USER parley
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["python", "app.py", "serve", "--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data"]
