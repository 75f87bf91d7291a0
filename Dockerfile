# mailgw: one image for `mailgw operator` and `mailgw gateway`.
# Build: docker build -t mailgw/mailgw:0.1.0 .   (built in users' CI; see .github/workflows/)
#
# - multi-stage: TypeScript is compiled to dist/ in the build stage; the
#   final stage has production dependencies only;
# - runs as the numeric non-root user 10001 (matches the StatefulSet's
#   securityContext), writes nothing outside mounted volumes, so a read-only
#   root filesystem works (the pod mounts /tmp and the spool);
# - PID 1 is node itself, which handles SIGTERM/SIGINT (graceful drain of the
#   gateway, lease release of the operator); no shell in between.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY api ./api
COPY cli ./cli
COPY console ./console
COPY gateway ./gateway
COPY operator ./operator
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The console's pages, beside the console's server (console/console-server.ts looks in ./web/dist).
COPY --from=build /src/console/web/dist ./dist/console/web/dist
COPY --chmod=0755 bin/mailgw.js ./bin/mailgw.js
# `kubectl exec POD -- mailgw queue list` works: the command is on PATH.
RUN ln -s /app/bin/mailgw.js /usr/local/bin/mailgw
USER 10001:10001
# 2525 SMTP, 2526 handover and 8081 operations API (gateway pods), 9090 gateway metrics, 8080 operator metrics.
EXPOSE 2525 2526 8080 8081 9090
ENTRYPOINT ["node", "/app/bin/mailgw.js"]
CMD ["gateway", "--config", "/etc/mailgw/config/gateway.json"]
