# syntax=docker/dockerfile:1
# check=error=true;experimental=all
#
# The kubelab operator image: the operator and its etcd snapshot agent (kubelab-operator snapshot ...).
# Our TypeScript runs as it is on Node 24 (type stripping): there is no build step, only the production
# dependencies are installed. etcdctl and etcdutl come from the upstream etcd image of the cluster's etcd
# release, so snapshots are saved and verified by the same etcd version that wrote them.
#
#   docker build -t kubelab-operator:dev --build-arg VERSION="$(npm pkg get version | tr -d '"')" \
#     --build-arg REVISION="$(git rev-parse HEAD)" .
#
# The image runs as a numeric non-root user and writes nothing outside /tmp and mounted volumes, so it
# runs with readOnlyRootFilesystem (manifests/ mounts an emptyDir on /tmp).

# The base images are pinned by digest (their multi-platform index): a tag can move, a digest cannot. To
# bump one, resolve the tag's current digest (`skopeo inspect --raw docker://IMAGE | sha256sum`, or
# `crane digest IMAGE`) and replace it here; bootstrap's assembly reads these defaults from this file.
# Override any of them with --build-arg (the offline kit's own bases, under their own names, for example).
#
# NODE_BUILD_IMAGE installs the production dependencies (npm lives here, not in the runtime image).
ARG NODE_BUILD_IMAGE=node:24-trixie-slim@sha256:c319bb4fac67c01ced508b67193a0397e02d37555d8f9b72958649efd302b7f8
# RUNTIME_IMAGE runs them: Node 24 on distroless, no shell, no package manager, nonroot (65532).
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot@sha256:924918584d0e6793e578fc0e98b8b8026ae4ac2ccf2fea283bc54a7165441ccd
# ETCD_IMAGE is kubeadm's etcd image for Kubernetes 1.36 (DefaultEtcdVersion 3.6.8-0).
ARG ETCD_IMAGE=registry.k8s.io/etcd:3.6.8-0@sha256:397189418d1a00e500c0605ad18d1baf3b541a1004d768448c367e48071622e5

# etcd provides etcdctl and etcdutl, static binaries.
FROM ${ETCD_IMAGE} AS etcd

# dependencies is `npm ci` of the production dependencies.
FROM ${NODE_BUILD_IMAGE} AS dependencies
WORKDIR /build
COPY package.json package-lock.json ./
# --omit=dev leaves out the test and lint tools and the `node` devDependency (the Node that npm brings
# for development). No production dependency has an install script, so none is run.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
# RUNTIME_IMAGE again, for the base.name label: the base really used (the default, or a build argument).
ARG RUNTIME_IMAGE
LABEL org.opencontainers.image.title="kubelab-operator" \
  org.opencontainers.image.description="Reconciles LabCluster objects: node health, Calico and CoreDNS restoration, verified etcd snapshots." \
  org.opencontainers.image.version="${VERSION}" \
  org.opencontainers.image.revision="${REVISION}" \
  org.opencontainers.image.licenses="Apache-2.0" \
  org.opencontainers.image.vendor="kubelab" \
  org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
WORKDIR /app
COPY --from=etcd /usr/local/bin/etcdctl /usr/local/bin/etcdutl /usr/local/bin/
COPY --from=dependencies /build/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY operator ./operator
ENV NODE_ENV=production
# The distroless nonroot user, by number: Kubernetes can check runAsNonRoot only against a numeric UID.
USER 65532:65532
# 8080 serves /metrics, 8081 /healthz and /readyz.
EXPOSE 8080 8081
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/kubelab-operator.js"]
CMD ["run"]
