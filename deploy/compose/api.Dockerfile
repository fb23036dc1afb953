# The MedForge API image: one static binary and nothing else. The build
# context is a folder holding the statically linked binary as ./medforge;
# ops/host/build-api-image.sh (or the deploy tests) prepares it:
#
#   CGO_ENABLED=1 go build -trimpath -tags osusergo,netgo \
#     -ldflags '-s -w -linkmode external -extldflags=-static' -o ctx/medforge ./cmd/medforge
#   docker build -f deploy/compose/api.Dockerfile -t medforge/api:<version> ctx
#
# The same image runs `serve` (medforge-api) and `worker`
# (medforge-api-worker). It runs as an unprivileged user unless Compose
# says otherwise (the API needs the Docker socket and chowns workspaces).
FROM scratch
COPY medforge /medforge
USER 65532:65532
EXPOSE 8000
ENV MEDFORGE_LISTEN=0.0.0.0:8000 \
    MEDFORGE_RUN_DIR=/var/lib/medforge
ENTRYPOINT ["/medforge"]
CMD ["serve"]
