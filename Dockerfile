# mesha collector: build with dev dependencies, run on Node 24 LTS slim with production dependencies only.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY k8s/reporter/asconfig.json ./k8s/reporter/asconfig.json
COPY k8s/reporter/assembly ./k8s/reporter/assembly
# dist/ holds the compiled service and the report JSON Schema (imported, so tsc copies it);
# k8s/reporter/build/filter.wasm is the reporter plugin mesha serves (FILTER_ROUTE).
RUN npm run build \
 && npm run build:wasm \
 && test -f dist/main.js -a -f dist/reports/report-v1.schema.json -a -f k8s/reporter/build/filter.wasm \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=7171
WORKDIR /app
# Owned by root and read-only for the service user: the process cannot rewrite its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/k8s/reporter/build/filter.wasm ./k8s/reporter/build/filter.wasm
USER node
EXPOSE 7171
# slim has no curl: Node's fetch probes the liveness endpoint.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||7171)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node as PID 1 receives SIGTERM directly and drains (see src/health/graceful-shutdown.ts).
CMD ["node", "dist/main.js"]
