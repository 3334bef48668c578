# One image, one codebase; the role is the command (api | worker | scheduler | all | migrate).
#   docker build --target cpu -t rasmi:cpu .
#   docker build --target gpu -t rasmi:gpu .   # worker image with onnxruntime's CUDA providers
# `npm ci` runs the postinstall model build (scripts/build-models.ts): converted models are
# checked against the sha256 recorded in models/registry.ts, or the build fails.

FROM node:20-bookworm-slim AS cpu
# jemalloc hands libvips' image buffers back to the system after each photo (measured here: 4
# concurrent 9-MP normalisations end at 256-294 MB RSS with it, 800+ MB with glibc's allocator).
# One jemalloc arena for all of a process's threads (pixel threads, the models thread, onnxruntime's
# and libvips' threads): pages one thread frees are reused by the others, not kept by its own arena
# for the decay time. A worker's busy peak: 631-652 MB against 710-722 MB with an arena per thread,
# no more CPU a headshot (docs/render-performance.md). bench:worker-memory and bench:load run the same.
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/*
ENV LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
ENV MALLOC_CONF=narenas:1
WORKDIR /app
COPY . .
# The roles run the bundle (no TypeScript loader in each process and thread: about 50 MB less RSS
# an API process, measured) with plain node, so SIGTERM reaches the role itself.
RUN npm ci --no-audit --no-fund && npm run build && npm cache clean --force
ENV NODE_ENV=production
USER node
EXPOSE 3000
ENTRYPOINT ["node", "dist/main.mjs"]
CMD ["all"]

# GPU workers: CUDA 12 + cuDNN runtime, Node 20 copied from the official image, and
# onnxruntime-node's CUDA execution provider installed on purpose by running its installer
# explicitly: package.json's allowScripts denies every dependency's install script (npm >= 11.19
# honours it; the .npmrc key covers older npm), so `npm ci` itself never downloads. With ONNX_PROVIDERS=cuda,cpu a
# worker logs "model session ready" with provider "cuda", or "execution provider unavailable,
# falling back" and then provider "cpu" when CUDA cannot load.
FROM node:20-bookworm-slim AS node
FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04 AS gpu
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/*
ENV LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
ENV MALLOC_CONF=narenas:1
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund \
 && ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && npm run build && npm cache clean --force
ENV NODE_ENV=production ONNX_PROVIDERS=cuda,cpu
USER 1000
ENTRYPOINT ["node", "dist/main.mjs"]
CMD ["worker"]
